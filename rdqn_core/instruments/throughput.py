"""Where the time of a training run goes, and what parallel acting can buy (Chapter 7).

* :func:`vector_env_throughput` - env steps per second of a gymnasium vector env (sync or async)
  under random actions, the simulator alone;
* :func:`acting_and_update_times` - seconds per env step of acting (simulator + the Q-network's
  batched forward pass with one memory per env) and seconds per gradient update, measured
  interleaved in blocks so that both see the same machine load;
* :func:`amdahl_speedup` - the speed-up of an actor-learner run over one process at a fixed replay
  ratio that these two numbers predict;
* :func:`scaling_run` - one training run, single process or actor-learner, reduced to its rates,
  replay ratio, weight lag and idle shares (a row of the chapter's scaling tables).

The model behind :func:`amdahl_speedup`: one process spends ``t_act + ratio * t_update`` seconds per
env step. With ``actors`` actor processes on their own cores, acting and learning overlap, and the run
goes as fast as its slower side: the actors at ``actors / t_act`` env steps per second, the learner at
``1 / (ratio * t_update)``. Hence

    speed-up = (t_act + ratio * t_update) / max(t_act / actors, ratio * t_update),

which can never exceed ``1 / (1 - p)`` with ``p = t_act / (t_act + ratio * t_update)``, the share of
the single process's time spent acting (Amdahl's law, with the updates as the serial part). It assumes
a core per process; with fewer cores the processes share them and the measured speed-up falls short.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import numpy as np
import torch

from ..config import TrainConfig
from ..envs import check_spaces, make_vector_env
from ..parallel import train_actor_learner
from ..rollout import Rollout
from ..trainer import build_agent, build_replay, train

__all__ = ["vector_env_throughput", "acting_and_update_times", "amdahl_speedup", "scaling_run"]


def vector_env_throughput(env_id: str, num_envs: int, asynchronous: bool, steps: int = 2_000,
                          env_kwargs: dict | None = None, seed: int = 0) -> float:
    """Env steps per second (all envs together) of ``steps`` env steps with random actions."""
    envs = make_vector_env(env_id, num_envs, asynchronous=asynchronous, env_kwargs=env_kwargs)
    try:
        envs.reset(seed=seed)
        envs.action_space.seed(seed)
        actions = [envs.action_space.sample() for _ in range(8)]
        envs.step(actions[0])  # warm-up (an async env's first step pays for the pipes)
        n = max(1, steps // num_envs)
        t0 = time.perf_counter()
        for i in range(n):
            envs.step(actions[i % 8])
        return n * num_envs / (time.perf_counter() - t0)
    finally:
        envs.close()


def acting_and_update_times(config: TrainConfig, blocks: int = 5, act_steps: int = 400, updates: int = 20,
                            fill_steps: int = 2_000) -> dict[str, Any]:
    """Median seconds per env step of acting and per gradient update for ``config``, timed in alternating blocks.

    Acting runs :class:`~rdqn_core.rollout.Rollout` on ``config.num_envs`` envs of ``config.vector_env`` with
    epsilon 0.5 (the forward pass always runs); updates sample from a replay filled by ``fill_steps`` of that
    acting. Returns ``t_act``, ``t_update`` (medians), their per-block values, and ``acting_share`` ``p`` at
    ``config.updates_per_step``.
    """
    torch.set_num_threads(config.torch_threads or 1)
    device = torch.device("cpu")
    envs = make_vector_env(config.env_id, config.num_envs, asynchronous=config.vector_env == "async",
                           env_kwargs=config.env_kwargs, action_bins=config.action_bins)
    try:
        obs_dim, n_actions = check_spaces(envs.single_observation_space, envs.single_action_space)
        agent = build_agent(config, obs_dim, n_actions, device)
        replay = build_replay(config, obs_dim, agent)
        rollout = Rollout(envs, agent.online, seed=config.seed)
        rng = np.random.default_rng(config.seed)

        def act(n: int) -> float:
            t0 = time.perf_counter()
            for _ in range(max(1, n // config.num_envs)):
                step = rollout.step(0.5, rng)
                replay.add(step.obs, step.actions, step.rewards, step.terminated, step.truncated, step.next_obs,
                           step.prev_actions, step.state)
            return (time.perf_counter() - t0) / (max(1, n // config.num_envs) * config.num_envs)

        act(fill_steps)
        act_times, update_times = [], []
        for _ in range(blocks):
            act_times.append(act(act_steps))
            t0 = time.perf_counter()
            for _ in range(updates):
                agent.update(replay.sample(config.batch_size, rng, device))
            update_times.append((time.perf_counter() - t0) / updates)
    finally:
        envs.close()
    t_act, t_update = float(np.median(act_times)), float(np.median(update_times))
    share = t_act / (t_act + config.updates_per_step * t_update)
    return {"t_act": t_act, "t_update": t_update, "t_act_blocks": act_times, "t_update_blocks": update_times,
            "acting_share": share, "updates_per_step": config.updates_per_step}


def amdahl_speedup(t_act: float, t_update: float, ratio: float, actors: int | np.ndarray) -> float | np.ndarray:
    """Predicted speed-up of ``actors`` actors + one learner over one process at ``ratio`` updates per env step."""
    if t_act <= 0 or t_update <= 0 or ratio <= 0:
        raise ValueError(f"t_act, t_update and ratio must be positive, got {t_act}, {t_update}, {ratio}")
    actors = np.asarray(actors, dtype=float)
    if np.any(actors < 1):
        raise ValueError(f"actors must be >= 1, got {actors}")
    single = t_act + ratio * t_update
    out = single / np.maximum(t_act / actors, ratio * t_update)
    return float(out) if out.ndim == 0 else out


SCALING_KEYS = ("env_steps_per_s", "updates_per_s", "updates_per_step_measured", "weight_lag_mean", "weight_lag_max",
                "actor_idle_frac", "learner_idle_frac")


def scaling_run(config: TrainConfig, actors: int, free_running: bool = False) -> dict[str, Any]:
    """Train ``config`` once and return a row of Chapter 7's scaling tables.

    ``actors = 0`` is the single-process trainer (lag and idle shares 0, rates over the whole wall time);
    otherwise :func:`~rdqn_core.parallel.train_actor_learner` with ``actors`` actors, ``free_running`` or
    holding ``config.updates_per_step``. The row holds ``SCALING_KEYS``, ``actors``, ``free_running``,
    ``env_steps`` and ``load`` (the 1-minute load average before the run).
    """
    if actors < 0:
        raise ValueError(f"actors must be >= 0 (0: the single process), got {actors}")
    before = round(os.getloadavg()[0], 2)
    if actors == 0:
        t0 = time.perf_counter()
        s = train(config).summary
        wall = time.perf_counter() - t0
        row = {"env_steps_per_s": round(s["env_steps"] / wall, 1), "updates_per_s": round(s["updates"] / wall, 1),
               "updates_per_step_measured": round(s["updates"] / max(1, s["env_steps"] - config.learning_starts),
                                                  4),
               "weight_lag_mean": 0.0, "weight_lag_max": 0, "actor_idle_frac": 0.0, "learner_idle_frac": 0.0}
    else:
        s = train_actor_learner(dataclasses.replace(config, actors=actors, free_running=free_running)).summary
        row = {k: s[k] for k in SCALING_KEYS}
    return {**row, "actors": actors, "free_running": free_running, "load": before, "env_steps": s["env_steps"]}
