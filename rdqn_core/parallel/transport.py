"""What actors and the learner exchange, and how the bytes travel (Chapter 7).

The algorithm (what an actor does with a network, what the learner does with a chunk) lives in
:mod:`~rdqn_core.parallel.actor` and :mod:`~rdqn_core.parallel.learner`; an engine only moves
data. The interface is small, Acme/Reverb-shaped:

* ``put_chunk(chunk, timeout)`` - an actor hands over a :class:`Chunk` of experience;
* ``get_chunk(timeout)`` - the learner takes one (or None);
* ``publish(network, version, env_steps)`` - the learner publishes weights *and* the normalizer's
  statistics (buffers of the network) under a version number (its update count);
* ``fetch(network, have)`` - an actor copies them if the version is newer than ``have``;
* ``ack(actor)`` - the learner says that one more chunk of ``actor`` is in the replay;
  ``await_ack(actor, timeout)`` - the actor waits for that before it acts its next chunk, so that it
  never acts ahead of the learner with weights that will be a chunk older by the time they count
  (the weight lag stays within one sync period and one chunk of updates per actor);
* ``env_steps()`` / ``set_env_steps(n)`` - the global env-step count the learner has inserted (the actors'
  epsilon schedule);
* ``stop()`` / ``stopped()`` - shutdown.

:class:`MultiprocessingTransport` implements it on one machine with ``torch.multiprocessing``
(spawn): a bounded queue for chunks and one network in shared memory for weights.
"""
from __future__ import annotations

import copy
import queue
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import nn

from ..rollout import Transition

__all__ = ["Chunk", "Transport", "MultiprocessingTransport", "spawn_context"]


@dataclass
class Chunk:
    """``T`` consecutive vector steps of one actor's ``B`` envs, time-major numpy arrays.

    ``obs``/``next_obs`` (T, B, obs_dim), ``actions``/``prev_actions``/``rewards``/``terminated``/
    ``truncated``/``episode_starts`` (T, B), ``state_h``/``state_c`` (T, B, hidden) or None: the
    memory each action was chosen with, after that env's reset (what the replay stores for
    R2D2's stored-state start). ``version``: the weight version that acted (lag = learner's
    updates at insert - version).
    """

    actor: int
    version: int
    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    next_obs: np.ndarray
    prev_actions: np.ndarray
    episode_starts: np.ndarray
    state_h: np.ndarray | None
    state_c: np.ndarray | None
    finished: list[tuple[int, float, int]] = field(default_factory=list)
    """(env, return, length) of the episodes that ended inside the chunk."""
    busy_seconds: float = 0.0  # acting time of this chunk
    idle_seconds: float = 0.0  # time the actor waited to hand over its previous chunk

    @property
    def steps(self) -> int:
        """Environment steps in the chunk (T * B)."""
        return int(self.actions.size)

    @classmethod
    def from_transitions(cls, actor: int, version: int, steps: list[Transition]) -> "Chunk":
        def stack(name: str) -> np.ndarray:
            return np.stack([np.asarray(getattr(s, name)) for s in steps])

        state = steps[0].state
        h = c = None
        if state is not None:
            h = np.stack([s.state.h[0].detach().cpu().numpy() for s in steps])  # (T, B, hidden)
            if state.c is not None:
                c = np.stack([s.state.c[0].detach().cpu().numpy() for s in steps])
        finished = [f for s in steps for f in s.finished]
        return cls(actor=actor, version=version, obs=stack("obs"), actions=stack("actions"), rewards=stack("rewards"),
                   terminated=stack("terminated"), truncated=stack("truncated"), next_obs=stack("next_obs"),
                   prev_actions=stack("prev_actions"), episode_starts=stack("episode_starts"), state_h=h, state_c=c,
                   finished=finished)


class Transport(Protocol):
    """The bytes-moving side of an engine (see the module docstring)."""

    def put_chunk(self, chunk: Chunk, timeout: float) -> bool: ...
    def get_chunk(self, timeout: float) -> Chunk | None: ...
    def publish(self, network: nn.Module, version: int, env_steps: int) -> None: ...
    def fetch(self, network: nn.Module, have: int) -> int: ...
    def ack(self, actor: int) -> None: ...
    def await_ack(self, actor: int, timeout: float) -> bool: ...
    def env_steps(self) -> int: ...
    def set_env_steps(self, env_steps: int) -> None: ...
    def stop(self) -> None: ...
    def stopped(self) -> bool: ...


def spawn_context():
    """The ``torch.multiprocessing`` spawn context (fork is unsafe with torch threads and CUDA)."""
    return torch.multiprocessing.get_context("spawn")


class MultiprocessingTransport:
    """Chunks through a bounded queue, weights through one network in shared memory.

    Args:
        network: a network of the learner's architecture; a CPU copy of it is put in shared memory.
        queue_size: chunks that may wait for the learner; a full queue blocks the actors (back-pressure).
        actors: how many actors will acknowledge chunks (one semaphore each).

    Picklable into spawned actor processes (queue, lock, values and shared tensors travel by handle).
    """

    def __init__(self, network: nn.Module, queue_size: int = 2, actors: int = 1):
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if actors < 1:
            raise ValueError(f"actors must be >= 1, got {actors}")
        ctx = spawn_context()
        self.shared = copy.deepcopy(network).cpu().requires_grad_(False).share_memory()
        self.queue = ctx.Queue(maxsize=queue_size)
        self.lock = ctx.Lock()
        self.version = ctx.Value("q", -1, lock=False)  # read without the lock: a stale read only delays a fetch
        self.inserted = ctx.Value("q", 0, lock=False)
        self._stop = ctx.Event()
        self.acks = [ctx.Semaphore(0) for _ in range(actors)]  # one release per chunk inserted

    def put_chunk(self, chunk: Chunk, timeout: float) -> bool:
        try:
            self.queue.put(chunk, timeout=timeout)
            return True
        except queue.Full:
            return False

    def get_chunk(self, timeout: float) -> Chunk | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    @torch.no_grad()
    def publish(self, network: nn.Module, version: int, env_steps: int) -> None:
        with self.lock:
            for dst, src in zip(self.shared.state_dict().values(), network.state_dict().values()):
                if torch.is_tensor(dst):  # weights and the normalizer's statistics (buffers) alike; not the
                    dst.copy_(src)  # conv network's extra state (its board size, fixed at construction)
            self.version.value = int(version)
        self.inserted.value = int(env_steps)

    @torch.no_grad()
    def fetch(self, network: nn.Module, have: int) -> int:
        if self.version.value == have:
            return have
        with self.lock:
            network.load_state_dict(self.shared.state_dict())
            return int(self.version.value)

    def ack(self, actor: int) -> None:
        self.acks[actor].release()

    def await_ack(self, actor: int, timeout: float) -> bool:
        return self.acks[actor].acquire(timeout=timeout)

    def env_steps(self) -> int:
        return int(self.inserted.value)

    def set_env_steps(self, env_steps: int) -> None:
        self.inserted.value = int(env_steps)

    def stop(self) -> None:
        self._stop.set()

    def stopped(self) -> bool:
        return self._stop.is_set()

    def drain(self) -> int:
        """Empty the queue (so that no actor blocks in ``put`` at shutdown); returns how many chunks were dropped."""
        dropped = 0
        while True:
            try:
                self.queue.get_nowait()
                dropped += 1
            except (queue.Empty, OSError, ValueError):
                return dropped

    def close(self) -> None:
        self.queue.close()
        self.queue.cancel_join_thread()

