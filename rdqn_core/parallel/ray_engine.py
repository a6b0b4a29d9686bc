"""Actors through Ray core, on one machine or a cluster (Chapter 7). Optional: ``pip install -r requirements-ray.txt``.

The algorithm is the same as with processes: each Ray task runs
:func:`~rdqn_core.parallel.actor_loop`, and the learner loop of
:func:`~rdqn_core.parallel.train_actor_learner` is unchanged. Only the transport differs:
a small threaded Ray actor, the *hub*, holds a bounded queue of chunks, the published weights and
their version, and the global env-step count; :class:`RayTransport` is the client both sides use.
(Ray calls its stateful workers "actors" too; here the RL actors are Ray *tasks*, the hub a Ray actor.)

    python -m rdqn_core train --actors 2 --engine ray                       # a local Ray
    ray start --head                                                         # or: a cluster
    python -m rdqn_core train --actors 64 --engine ray --ray-address auto    # on its head node

``ray`` is imported only here, only when ``engine="ray"`` is asked for.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import torch
from torch import nn

from ..config import TrainConfig
from .actor import actor_loop
from .transport import Chunk

__all__ = ["RayTransport", "RayEngine"]


def _ray():
    try:
        import ray
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("engine 'ray' needs Ray: pip install -r requirements-ray.txt (or pip install "
                          "'rdqn-core[ray]'); engine 'mp' needs nothing extra") from err
    return ray


class _Hub:
    """The hub's state and methods (run as a threaded Ray actor: blocking calls wait on a condition)."""

    def __init__(self, queue_size: int):
        self.cond = threading.Condition()
        self.chunks: deque = deque()
        self.queue_size = queue_size
        self.weights: dict[str, torch.Tensor] | None = None
        self.version, self.env_steps, self.stopped = -1, 0, False
        self.acks: dict[int, int] = {}  # chunks inserted, per actor, not yet awaited

    def put(self, chunk: Chunk, timeout: float) -> bool:
        with self.cond:
            if not self.cond.wait_for(lambda: self.stopped or len(self.chunks) < self.queue_size, timeout):
                return False
            if self.stopped:
                return False
            self.chunks.append(chunk)
            self.cond.notify_all()
            return True

    def get(self, timeout: float) -> Chunk | None:
        with self.cond:
            self.cond.wait_for(lambda: self.stopped or self.chunks, timeout)
            if not self.chunks:
                return None
            chunk = self.chunks.popleft()
            self.cond.notify_all()
            return chunk

    def publish(self, weights: dict[str, torch.Tensor], version: int, env_steps: int) -> None:
        with self.cond:
            self.weights, self.version, self.env_steps = weights, version, env_steps

    def fetch(self, have: int) -> tuple[int, int, bool, dict[str, torch.Tensor] | None]:
        with self.cond:
            return self.version, self.env_steps, self.stopped, (None if self.version == have else self.weights)

    def set_env_steps(self, env_steps: int) -> None:
        self.env_steps = env_steps

    def ack(self, actor: int) -> None:
        with self.cond:
            self.acks[actor] = self.acks.get(actor, 0) + 1
            self.cond.notify_all()

    def await_ack(self, actor: int, timeout: float) -> bool:
        with self.cond:
            if not self.cond.wait_for(lambda: self.stopped or self.acks.get(actor, 0) > 0, timeout):
                return False
            if self.acks.get(actor, 0) == 0:  # stopped
                return False
            self.acks[actor] -= 1
            return True

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.chunks.clear()
            self.cond.notify_all()

    def is_stopped(self) -> bool:
        return self.stopped

    def drain(self) -> int:
        with self.cond:
            n = len(self.chunks)
            self.chunks.clear()
            self.cond.notify_all()
            return n


class RayTransport:
    """The :class:`~rdqn_core.parallel.Transport` over a hub actor (picklable: it holds a handle).

    ``env_steps()`` answers from the count the last ``fetch`` or ``put_chunk`` brought back, so that an
    actor does not make a remote call per env step.
    """

    def __init__(self, hub: Any):
        self.hub = hub
        self._env_steps = 0
        self._stopped = False
        self._last_env_steps_sent = -1

    def put_chunk(self, chunk: Chunk, timeout: float) -> bool:
        ok = _ray().get(self.hub.put.remote(chunk, timeout))
        if not ok:  # full, or stopped: the actor's loop asks stopped() next
            self._stopped = _ray().get(self.hub.is_stopped.remote())
        return ok

    def get_chunk(self, timeout: float) -> Chunk | None:
        return _ray().get(self.hub.get.remote(timeout))

    @torch.no_grad()
    def publish(self, network: nn.Module, version: int, env_steps: int) -> None:
        weights = {k: v.detach().cpu().clone() if torch.is_tensor(v) else v  # the conv net's extra state: a dict
                   for k, v in network.state_dict().items()}
        _ray().get(self.hub.publish.remote(weights, int(version), int(env_steps)))

    @torch.no_grad()
    def fetch(self, network: nn.Module, have: int) -> int:
        version, self._env_steps, self._stopped, weights = _ray().get(self.hub.fetch.remote(have))
        if weights is not None:
            network.load_state_dict(weights)
        return version

    def ack(self, actor: int) -> None:
        self.hub.ack.remote(int(actor))  # fire and forget: the actor's await_ack is what waits

    def await_ack(self, actor: int, timeout: float) -> bool:
        ok = _ray().get(self.hub.await_ack.remote(int(actor), timeout))
        if not ok:
            self._stopped = _ray().get(self.hub.is_stopped.remote())
        return ok

    def env_steps(self) -> int:
        return self._env_steps

    def set_env_steps(self, env_steps: int) -> None:
        if env_steps - self._last_env_steps_sent >= 64 or env_steps < self._last_env_steps_sent:
            self.hub.set_env_steps.remote(int(env_steps))  # fire and forget: only the epsilon schedule reads it
            self._last_env_steps_sent = env_steps

    def stop(self) -> None:
        self._stopped = True
        _ray().get(self.hub.stop.remote())

    def stopped(self) -> bool:
        return self._stopped

    def drain(self) -> int:
        return _ray().get(self.hub.drain.remote())


def _run_actor(actor: int, config: TrainConfig, transport: RayTransport) -> int:
    return actor_loop(actor, config, transport)


class RayEngine:
    """Actors as Ray tasks (``engine="ray"``): joins ``config.ray_address`` or starts a local Ray, and shuts
    down what it started."""

    def __init__(self, config: TrainConfig, network: nn.Module):
        ray = _ray()
        self.config = config
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            if config.ray_address:
                ray.init(address=config.ray_address, include_dashboard=False, log_to_driver=False)
            else:  # a local Ray sized to the actors (each needs a CPU), without dashboard
                ray.init(num_cpus=max(1, config.actors), include_dashboard=False, log_to_driver=False)
        hub_cls = ray.remote(num_cpus=0, max_concurrency=4 + 2 * config.actors)(_Hub)
        self.hub = hub_cls.remote(1)
        self.transport = RayTransport(self.hub)
        self.refs: list = []

    def start(self) -> None:
        ray = _ray()
        task = ray.remote(num_cpus=1, max_retries=0)(_run_actor)
        self.refs = [task.remote(i, self.config, self.transport) for i in range(self.config.actors)]

    def dead(self) -> list[str]:
        ray = _ray()
        ready, _ = ray.wait(self.refs, num_returns=len(self.refs), timeout=0)
        out = []
        for ref in ready:
            try:
                ray.get(ref)
                out.append(f"ray task {ref.hex()[:8]} (returned)")
            except Exception as err:  # the task's error, surfaced to the learner
                out.append(f"ray task {ref.hex()[:8]} ({type(err).__name__}: {err})")
        return out

    def shutdown(self, timeout: float) -> None:
        ray = _ray()
        try:
            self.transport.stop()
            deadline = time.perf_counter() + timeout
            pending = list(self.refs)
            while pending and time.perf_counter() < deadline:
                _, pending = ray.wait(pending, num_returns=len(pending), timeout=0.2)
            for ref in pending:  # pragma: no cover - a hung actor
                ray.cancel(ref, force=True)
            ray.kill(self.hub)
        finally:
            if self.started_ray:
                ray.shutdown()
