"""Throughput and memory of one configuration on this machine: ``python -m rdqn_core benchmark``.

Where does a training run spend its time? This module measures the three costs of
:func:`~rdqn_core.trainer.train` separately, for any configuration and environment:

* **environment** steps per second with random actions (the simulator alone), per number
  of vector environments;
* **acting** steps per second (simulator + one batched forward pass of the Q-network with a
  carried hidden state per environment), per number of vector environments;
* **update** time per gradient step on sequence batches from a replay filled by random play.

It also reports the peak resident memory of the process and, on CUDA, the peak memory torch
allocated. Speed targets belong in benchmarks like this one, never in timed unit tests.
"""
from __future__ import annotations

import dataclasses
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .config import TrainConfig
from .diagnostics import collect_experience
from .envs import check_spaces, make_vector_env
from .trainer import build_agent, build_replay
from .utils import get_device, seed_everything

__all__ = ["benchmark", "format_benchmark"]

BLOCKS = 5  # timed blocks per acting row


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # CUDA kernels run asynchronously: time them, not their launch


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def _steps_per_second(config: TrainConfig, num_envs: int, steps: int, agent=None, device=None) -> float:
    """Env steps per second over ``steps`` vector steps, random actions or the agent's greedy ones.

    The steps are timed in five blocks and the median block's rate is returned, so that a pause caused by
    another job on a shared machine does not decide the figure.
    """
    envs = make_vector_env(config.env_id, num_envs)
    try:
        obs, _ = envs.reset(seed=config.seed)
        obs = obs.reshape(num_envs, -1)
        rng = np.random.default_rng(config.seed)
        state = agent.initial_state(num_envs) if agent is not None else None
        starts, prev = np.ones(num_envs, np.float32), np.full(num_envs, -1)
        warmup = min(10, steps)  # untimed: the first forward passes pay for one-off kernel setup
        block_ends = {warmup + round(steps * (k + 1) / BLOCKS) for k in range(BLOCKS)}
        marks = []  # (step index, time) at the start of each block and at the end
        for i in range(warmup + steps + 1):
            if i == warmup or i in block_ends:
                _sync(device or torch.device("cpu"))
                marks.append((i, time.perf_counter()))
            if i == warmup + steps:
                break
            if agent is None:
                actions = envs.action_space.sample()
            else:
                if state is not None:
                    state = state.masked(torch.as_tensor(1.0 - starts, device=device))
                actions, state, _ = agent.act(obs, state, starts, prev, 0.0, rng)
            obs, _, terminated, truncated, _ = envs.step(actions)
            obs = obs.reshape(num_envs, -1)
            done = terminated | truncated
            starts, prev = done.astype(np.float32), np.where(done, -1, actions)
        rates = [(i1 - i0) * num_envs / (t1 - t0) for (i0, t0), (i1, t1) in zip(marks, marks[1:]) if i1 > i0]
        return float(np.median(rates))
    finally:
        envs.close()


def benchmark(config: TrainConfig, num_envs: Sequence[int] = (1, 4, 16), act_steps: int = 200,
              updates: int = 50, fill_steps: int = 2_000, warmup_updates: int = 5) -> dict[str, Any]:
    """Measure environment, acting and update throughput of ``config`` on this machine.

    Args:
        config: the run to measure (environment, network, batch, sequence lengths, device).
        num_envs: vector-environment sizes for the environment and acting rows.
        act_steps: vector steps timed per row (each row does ``act_steps * n`` env steps).
        updates: gradient steps timed, after ``warmup_updates`` untimed ones.
        fill_steps: env steps of random play that fill the replay before the updates.

    Returns:
        ``{"device", "config", "rows", "update_ms", "update_ms_quartiles", "updates_per_s", "peak_rss_mb",
        "cuda_peak_mb"}``; each row is ``{"num_envs", "env_steps_per_s", "act_steps_per_s"}``.
        ``update_ms`` is the median time of one gradient step (each timed on its own), with its quartiles;
        ``cuda_peak_mb`` is ``None`` on a CPU.

    Raises:
        ValueError: for an empty or non-positive ``num_envs``, or non-positive counts.
    """
    sizes = [int(n) for n in num_envs]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"num_envs must be a non-empty list of positive integers, got {list(num_envs)}")
    for name, value in (("act_steps", act_steps), ("updates", updates), ("fill_steps", fill_steps)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if warmup_updates < 0:
        raise ValueError(f"warmup_updates must be >= 0, got {warmup_updates}")
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    rng = seed_everything(config.seed)
    device = get_device(config.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    probe = make_vector_env(config.env_id, 1)
    obs_dim, n_actions = check_spaces(probe.single_observation_space, probe.single_action_space)
    probe.close()
    agent = build_agent(config, obs_dim, n_actions, device)

    rows = [{"num_envs": n,
             "env_steps_per_s": _steps_per_second(config, n, act_steps),
             "act_steps_per_s": _steps_per_second(config, n, act_steps, agent, device)} for n in sizes]

    # fill a replay by random play through the network (stored states stay consistent), then time updates
    replay = build_replay(config, obs_dim, agent)
    collect_experience(agent.online, config.env_id, replay, fill_steps, epsilon=1.0, seed=config.seed)
    for _ in range(warmup_updates):
        agent.update(replay.sample(config.batch_size, rng, device))
    batches = [replay.sample(config.batch_size, rng, device) for _ in range(updates)]  # sampling is not timed
    update_ms = []  # each update timed on its own: the median resists the other jobs of a shared machine
    for batch in batches:
        _sync(device)
        t0 = time.perf_counter()
        agent.update(batch)
        _sync(device)
        update_ms.append((time.perf_counter() - t0) * 1e3)
    q25, median, q75 = np.percentile(update_ms, [25, 50, 75])
    return {
        "device": str(device),
        "config": {k: v for k, v in dataclasses.asdict(config).items()
                   if k in ("env_id", "cell", "hidden_size", "batch_size", "seq_len", "burn_in", "n_steps")},
        "rows": rows,
        "update_ms": float(median),
        "update_ms_quartiles": [float(q25), float(q75)],
        "updates_per_s": 1e3 / float(median),
        "peak_rss_mb": _peak_rss_mb(),
        "cuda_peak_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
    }


def format_benchmark(result: dict[str, Any]) -> str:
    """The result of :func:`benchmark` as a plain-text table."""
    cfg = result["config"]
    lines = [f"device {result['device']} | env {cfg['env_id']} | cell {cfg['cell']}, hidden {cfg['hidden_size']} | "
             f"batch {cfg['batch_size']} windows of {cfg['burn_in']} burn-in + {cfg['seq_len']} + {cfg['n_steps']} steps",
             f"{'num_envs':>8}  {'env steps/s (random)':>20}  {'env steps/s (acting)':>20}"]
    for row in result["rows"]:
        lines.append(f"{row['num_envs']:>8}  {row['env_steps_per_s']:>20,.0f}  {row['act_steps_per_s']:>20,.0f}")
    q25, q75 = result["update_ms_quartiles"]
    lines.append(f"update: {result['update_ms']:.2f} ms per gradient step, median (quartiles {q25:.2f}-{q75:.2f} ms; "
                 f"{result['updates_per_s']:.0f} per s)")
    memory = f"peak RSS {result['peak_rss_mb']:.0f} MB"
    if result["cuda_peak_mb"] is not None:
        memory += f", CUDA peak allocated {result['cuda_peak_mb']:.0f} MB"
    lines.append(memory)
    return "\n".join(lines)
