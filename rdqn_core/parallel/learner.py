"""The learner of the actor-learner trainer, and the trainer itself (Chapter 7).

``train_actor_learner(config)`` starts ``config.actors`` actor processes
(:func:`~rdqn_core.parallel.actor_process`, spawn) and learns in this process:

* an **inserter thread** takes chunks from the transport, waits on the
  :class:`~rdqn_core.parallel.RateLimiter` until they fit, writes them into the
  replay and updates the normalizer's statistics (the learner owns both);
* the **update loop** (this thread) waits on the limiter for permission to sample, makes one
  update of the same :class:`~rdqn_core.agent.QAgent` the single process uses, and every
  ``config.sync_every`` updates publishes weights and normalizer statistics with the update
  count as their version. It also runs the greedy evaluations.

The limiter holds ``config.updates_per_step`` (after ``learning_starts`` env steps), unless
``config.free_running``: then both sides run as fast as they can and the summary reports the
ratio they got. Weight lag is measured per chunk: the learner's update count when the chunk
is inserted minus the version that acted.

The replay is one :class:`~rdqn_core.replay.SequenceReplay` per actor (a :class:`ShardedReplay`):
each actor's envs are a separate set of streams, so no episode is ever cut by another actor's
chunk. An update samples its whole batch from one shard drawn with probability proportional
to the shard's size, i.e. every stored window is equally likely, as in one replay.
"""
from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from typing import Any, Callable

import numpy as np
import torch

from ..agent import QAgent, learning_rate_at
from ..checkpoint import build_agent
from ..config import TrainConfig
from ..envs import check_spaces, make_env
from ..replay import SequenceReplay
from ..trainer import TrainResult, build_replay, evaluate
from ..types import RecurrentState, SequenceBatch
from ..utils import get_device, seed_everything
from .actor import actor_process
from .limiter import LimiterClosed, RateLimiter
from .transport import Chunk, MultiprocessingTransport, spawn_context

__all__ = ["ShardedReplay", "train_actor_learner", "default_tolerance", "insert_chunk", "ProcessEngine",
           "make_engine"]


class ShardedReplay:
    """One replay per actor, sampled as one (see the module docstring)."""

    def __init__(self, shards: list[SequenceReplay]):
        if not shards:
            raise ValueError("a ShardedReplay needs at least one shard")
        self.shards = shards
        self._last = 0

    def __len__(self) -> int:
        return sum(len(s) for s in self.shards)

    def can_sample(self) -> bool:
        return any(s.can_sample() for s in self.shards)

    def sample(self, batch_size: int, rng: np.random.Generator, device: torch.device | str = "cpu") -> SequenceBatch:
        sizes = np.array([len(s) if s.can_sample() else 0 for s in self.shards], np.float64)
        if sizes.sum() == 0:
            raise ValueError("no shard holds a complete transition yet; insert chunks before sampling")
        self._last = int(rng.choice(len(self.shards), p=sizes / sizes.sum())) if len(self.shards) > 1 else 0
        return self.shards[self._last].sample(batch_size, rng, device)

    def reward_range(self) -> tuple[float, float]:
        """``(min, max)`` of the rewards held over all shards (:meth:`~rdqn_core.replay.SequenceReplay.reward_range`)."""
        held = [s.reward_range() for s in self.shards if len(s)]
        return (min(lo for lo, _ in held), max(hi for _, hi in held)) if held else (0.0, 0.0)

    def update_priorities(self, keys: Any, priorities: torch.Tensor) -> None:
        self.shards[self._last].update_priorities(keys, priorities)


def insert_chunk(replay: SequenceReplay, chunk: Chunk, device: torch.device) -> None:
    """Write a chunk's T vector steps into ``replay`` (the actor's shard), stored states included."""
    for t in range(chunk.actions.shape[0]):
        state = None
        if chunk.state_h is not None:
            h = torch.tensor(chunk.state_h[t]).unsqueeze(0)  # (1, B, hidden); a copy: Ray's arrays are read-only
            c = None if chunk.state_c is None else torch.tensor(chunk.state_c[t]).unsqueeze(0)
            state = RecurrentState(h, c)
        replay.add(chunk.obs[t], chunk.actions[t], chunk.rewards[t], chunk.terminated[t], chunk.truncated[t],
                   chunk.next_obs[t], chunk.prev_actions[t], state)


def default_tolerance(config: TrainConfig) -> float:
    """The limiter's band, ``tolerance = (c + 1) / 2`` for a chunk worth ``c`` updates (at least 1).

    The narrowest band without a dead zone: an insert fits while ``diff <= offset + tolerance - c`` and an
    update while ``diff - 1 >= offset - tolerance``, and one of the two always holds iff
    ``2 * tolerance >= c + 1``. Between two inserts the learner then makes at most ``c + 1`` updates, so
    an actor that waits for its chunk's insert before it fetches weights and acts again sees a weight lag
    of at most ``sync_every - 1 + actors * (c + 1)`` updates.
    """
    return max(1.0, (config.chunk_len * config.num_envs * config.updates_per_step + 1) / 2)


class _Inserter(threading.Thread):
    """Take chunks, wait for the limiter, write them; record lag, episodes and actor timing."""

    def __init__(self, transport, limiter: RateLimiter, replay: ShardedReplay, agent: QAgent, config: TrainConfig,
                 lock: threading.Lock, updates: Callable[[], int]):
        super().__init__(daemon=True, name="rdqn-inserter")
        self.transport, self.limiter, self.replay, self.agent = transport, limiter, replay, agent
        self.config, self.lock, self.updates = config, lock, updates
        self.lags: list[int] = []
        self.episodes: list[tuple[int, float, int]] = []
        self.actor_busy = defaultdict(float)
        self.actor_idle = defaultdict(float)
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.chunk_steps = config.chunk_len * config.num_envs
        self.first_insert: float | None = None

    def run(self) -> None:
        cfg = self.config
        try:
            while self.limiter.inserts < cfg.total_steps and not self.transport.stopped():
                # wait for room first, then take the chunk: a chunk that waited here would only grow stale
                if not self.limiter.await_room(self.chunk_steps, timeout=0.2):
                    continue
                chunk = self.transport.get_chunk(timeout=0.1)
                if chunk is None:
                    continue
                if self.first_insert is None:
                    self.first_insert = time.perf_counter()
                with self.lock:
                    # counted and written under the update lock, so that no update admitted by this insert runs
                    # before the chunk is in the replay and its lag is taken; immediate: the room is there (only
                    # this thread inserts, and updates only make room)
                    self.limiter.await_insert(chunk.steps)
                    insert_chunk(self.replay.shards[chunk.actor], chunk, self.agent.device)
                    normalizer = self.agent.normalizer
                    before = self.limiter.inserts - chunk.steps
                    if normalizer is not None and (cfg.obs_norm_steps is None or before < cfg.obs_norm_steps):
                        # a copy (torch.tensor): the arrays Ray hands over are read-only
                        obs = torch.tensor(chunk.obs, dtype=torch.float32, device=self.agent.device)
                        normalizer.update(obs)
                    self.lags.append(self.updates() - chunk.version)
                self.transport.ack(chunk.actor)  # the actor may fetch weights and act its next chunk
                for _, episode_return, length in chunk.finished:
                    self.episodes.append((before + chunk.steps, episode_return, length))
                self.actor_busy[chunk.actor] += chunk.busy_seconds
                self.actor_idle[chunk.actor] += chunk.idle_seconds
        except LimiterClosed:
            pass
        except BaseException as err:  # surfaced by the update loop
            self.error = err
        finally:
            self.done.set()


class ProcessEngine:
    """Actors as spawned ``torch.multiprocessing`` processes on this machine (``engine="mp"``)."""

    def __init__(self, config: TrainConfig, network: torch.nn.Module):
        self.config = config
        self.transport = MultiprocessingTransport(network, queue_size=1, actors=config.actors)
        self.procs = []

    def start(self) -> None:
        ctx = spawn_context()
        # not daemonic: a daemonic process may not start children, and an actor with an async vector env does
        # (shutdown() joins or terminates them instead)
        self.procs = [ctx.Process(target=actor_process, args=(i, self.config, self.transport), daemon=False,
                                  name=f"rdqn-actor-{i}") for i in range(self.config.actors)]
        for p in self.procs:
            p.start()

    def dead(self) -> list[str]:
        return [f"{p.name} (exit code {p.exitcode})" for p in self.procs if not p.is_alive()]

    def shutdown(self, timeout: float) -> None:
        self.transport.stop()
        deadline = time.perf_counter() + timeout
        for p in self.procs:
            while p.is_alive() and time.perf_counter() < deadline:
                self.transport.drain()  # an actor blocked in put() must see its chunk taken to exit
                p.join(timeout=0.05)
        for p in self.procs:
            if p.is_alive():  # pragma: no cover - a hung actor: do not hang the learner too
                p.terminate()
                p.join(timeout=timeout)
        self.transport.drain()
        self.transport.close()


def make_engine(config: TrainConfig, network: torch.nn.Module):
    """The engine ``config.engine`` names: ``"mp"`` (:class:`ProcessEngine`) or ``"ray"`` (imported lazily)."""
    if config.engine == "ray":
        from .ray_engine import RayEngine  # optional dependency: pip install -r requirements-ray.txt

        return RayEngine(config, network)
    return ProcessEngine(config, network)


def train_actor_learner(config: TrainConfig, callback: Callable[[int, dict[str, list[float]]], None] | None = None,
                        join_timeout: float = 10.0, return_replay: bool = False) -> TrainResult:
    """Train with ``config.actors`` actor processes and one learner (this process); see the module docstring.

    Returns a :class:`~rdqn_core.trainer.TrainResult` like :func:`~rdqn_core.trainer.train`; its summary adds
    ``env_steps_per_s``, ``updates_per_s``, ``updates_per_step_measured``, ``weight_lag_mean``,
    ``weight_lag_max``, ``actor_idle_frac``, ``learner_idle_frac``, ``actors``, ``engine`` and ``world_size`` (1).
    """
    cfg = config
    if cfg.actors < 1:
        raise ValueError(f"train_actor_learner needs config.actors >= 1, got {cfg.actors} (0 is the single-process "
                         "trainer: rdqn_core.train)")
    # the actors take the other cores: a learner with several threads here fights them (4-9x slower per update
    # on 2 cores), so it runs on one thread unless torch_threads says otherwise
    torch.set_num_threads(cfg.torch_threads or 1)
    rng = seed_everything(cfg.seed)
    device = get_device(cfg.device)
    probe = make_env(cfg.env_id, action_bins=cfg.action_bins, **cfg.env_kwargs)
    obs_dim, n_actions = check_spaces(probe.observation_space, probe.action_space)
    obs_shape = probe.observation_space.shape  # the conv network (Chapter 8) reads its board size from it
    probe.close()
    agent = build_agent(cfg, obs_dim, n_actions, device, obs_shape=obs_shape)
    replay = ShardedReplay([build_replay(cfg, obs_dim, agent) for _ in range(cfg.actors)])
    # the band must hold one chunk; learning_starts 0 still needs one insert before the first sample
    limiter = RateLimiter(cfg.updates_per_step, max(1, cfg.learning_starts), default_tolerance(cfg), cfg.free_running)
    engine = make_engine(cfg, agent.online)
    transport = engine.transport
    transport.publish(agent.online, 0, 0)
    lock = threading.Lock()
    inserter = _Inserter(transport, limiter, replay, agent, cfg, lock, lambda: agent.updates)
    history: dict[str, list[float]] = defaultdict(list)
    summary: dict[str, Any] = dict(solved=False, steps_to_solve=None, wall_seconds_to_solve=None,
                                   best_eval_return=None, final_eval_return=None)
    start = time.perf_counter()
    eval_index, eval_seconds, last_published, update_seconds = 0, 0.0, 0, 0.0
    try:
        engine.start()
        inserter.start()
        while True:
            if inserter.error is not None:
                raise RuntimeError(f"the inserter thread failed: {inserter.error!r}") from inserter.error
            dead = engine.dead()
            if dead and not transport.stopped() and limiter.inserts < cfg.total_steps:
                raise RuntimeError(f"actor(s) {', '.join(dead)} exited early; see their stderr")
            finished_inserting = inserter.done.is_set()
            if finished_inserting:
                # the last chunk is in: make the updates still due, as the single process does, then stop
                due = 0 if cfg.free_running else math.floor(
                    max(0, limiter.inserts - limiter.min_size) * cfg.updates_per_step)
                if agent.updates >= due:
                    break
                got = limiter.count_sample()  # past the band: nothing will be inserted any more
            else:
                got = limiter.await_sample(1, timeout=0.2)
            if got:
                t_update = time.perf_counter()
                with lock:
                    if cfg.lr_end is not None:
                        agent.set_learning_rate(learning_rate_at(limiter.inserts, cfg))
                    if agent.value_range_pending:  # a histogram head's range, from the actors' random play
                        agent.fit_value_range(*replay.reward_range())
                    batch = replay.sample(cfg.batch_size, rng, device)
                    metrics = agent.update(batch)
                    if batch.keys is not None:
                        replay.update_priorities(batch.keys, agent.priorities)
                for key, value in metrics.items():
                    history[key].append(float(value))
                update_seconds += time.perf_counter() - t_update
                if agent.updates - last_published >= cfg.sync_every:
                    with lock:
                        transport.publish(agent.online, agent.updates, limiter.inserts)
                    last_published = agent.updates
                else:
                    transport.set_env_steps(limiter.inserts)
            else:
                transport.set_env_steps(limiter.inserts)
            if cfg.eval_every and limiter.inserts // cfg.eval_every > eval_index:
                eval_index = limiter.inserts // cfg.eval_every
                t0 = time.perf_counter()
                train_seconds = t0 - start - eval_seconds  # wall time so far, evaluations excluded
                with lock:
                    returns = evaluate(agent, cfg.env_id, cfg.eval_episodes,
                                       seed=10_000 * (cfg.seed + 1) + 100 * eval_index, env_kwargs=cfg.env_kwargs)
                eval_seconds += time.perf_counter() - t0
                mean = float(returns.mean())
                history["eval/step"].append(eval_index * cfg.eval_every)
                history["eval/mean_return"].append(mean)
                history["eval/std_return"].append(float(returns.std()))
                history["eval/train_seconds"].append(round(train_seconds, 3))
                if summary["best_eval_return"] is None or mean > summary["best_eval_return"]:
                    summary["best_eval_return"] = mean
                summary["final_eval_return"] = mean
                if callback is not None:
                    callback(limiter.inserts, history)
                if cfg.solve_threshold is not None and mean >= cfg.solve_threshold:
                    summary.update(solved=True, steps_to_solve=eval_index * cfg.eval_every,
                                   wall_seconds_to_solve=round(time.perf_counter() - start, 2))
                    break
    finally:
        wall = time.perf_counter() - start
        transport.stop()
        limiter.close()
        inserter.join(timeout=join_timeout)
        engine.shutdown(join_timeout)
    for step, episode_return, length in inserter.episodes:
        history["charts/episode_end_step"].append(step)
        history["charts/episodic_return"].append(episode_return)
        history["charts/episodic_length"].append(length)
    stats = limiter.stats()
    # rates from the first chunk on: the processes' start-up (about 1.5 s each here) is not throughput
    running = max(wall - eval_seconds - ((inserter.first_insert or start) - start), 1e-9)
    busy = sum(inserter.actor_busy.values())
    idle = sum(inserter.actor_idle.values())
    lags = np.asarray(inserter.lags or [0])
    summary.update(
        wall_seconds=round(wall, 2), eval_seconds=round(eval_seconds, 2), env_steps=int(stats["inserts"]),
        updates=agent.updates, actors=cfg.actors, engine=cfg.engine, world_size=1, free_running=cfg.free_running,
        env_steps_per_s=round(stats["inserts"] / running, 1), updates_per_s=round(agent.updates / running, 1),
        updates_per_step_measured=round(agent.updates / max(1, stats["inserts"] - limiter.min_size), 4),
        weight_lag_mean=round(float(lags.mean()), 2), weight_lag_max=int(lags.max()),
        actor_idle_frac=round(idle / max(busy + idle, 1e-9), 3),
        learner_idle_frac=round(max(0.0, 1.0 - update_seconds / running), 3),
        chunks=len(inserter.lags))
    if agent.value_range is not None:  # the histogram's range: the config's, or the one taken from the shards
        summary["value_range"] = list(agent.value_range)
    if agent.value_sigma is not None:  # the target Gaussian's width, from the rewards' scale (value_sigma)
        summary["value_sigma"] = agent.value_sigma
    return TrainResult(agent=agent, history=dict(history), summary=summary, replay=replay if return_replay else None)
