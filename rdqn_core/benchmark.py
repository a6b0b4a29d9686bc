"""Throughput and memory of one configuration on this machine: ``python -m rdqn_core benchmark``.

Where does a training run spend its time? This module measures the three costs of
:func:`~rdqn_core.trainer.train` separately, for any configuration and environment:

* **environment** steps per second with random actions (the simulator alone), per number
  of vector environments;
* **acting** steps per second (simulator + one batched forward pass of the Q-network with a
  carried hidden state per environment), per number of vector environments;
* **update** time per gradient step on sequence batches from a replay filled by random play,
  timed interleaved with a **minimal update** of the same shape (a bare fused LSTM: no-grad
  burn-in, online forward and backward over the trained steps, no-grad look-ahead and target
  pass, Adam step, on random tensors) so that the ratio of the two says what rdqn's
  bookkeeping costs, whatever the machine's speed is at the moment.

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

from torch import nn
from torch.nn import functional as F

from .config import TrainConfig
from .envs import check_spaces, make_vector_env
from .rollout import Rollout
from .trainer import build_agent, build_replay
from .utils import get_device, seed_everything

__all__ = ["benchmark", "format_benchmark", "MinimalUpdate"]

BLOCKS = 5  # timed blocks per acting row


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # CUDA kernels run asynchronously: time them, not their launch


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def _steps_per_second(config: TrainConfig, num_envs: int, steps: int, agent=None) -> float:
    """Env steps per second over ``steps`` vector steps, random actions or the agent's greedy ones.

    The steps are timed in five blocks and the median block's rate is returned, so that a pause caused by
    another job on a shared machine does not decide the figure.
    """
    envs = make_vector_env(config.env_id, num_envs, env_kwargs=config.env_kwargs, action_bins=config.action_bins)
    try:
        rng = np.random.default_rng(config.seed)
        if agent is None:
            envs.reset(seed=config.seed)
        else:
            rollout = Rollout(envs, agent.online, seed=config.seed)
        device = agent.device if agent is not None else torch.device("cpu")
        warmup = min(10, steps)  # untimed: the first forward passes pay for one-off kernel setup
        block_ends = {warmup + round(steps * (k + 1) / BLOCKS) for k in range(BLOCKS)}
        marks = []  # (step index, time) at the start of each block and at the end
        for i in range(warmup + steps + 1):
            if i == warmup or i in block_ends:
                _sync(device)
                marks.append((i, time.perf_counter()))
            if i == warmup + steps:
                break
            if agent is None:
                envs.step(envs.action_space.sample())
            else:
                rollout.step(0.0, rng)
        rates = [(i1 - i0) * num_envs / (t1 - t0) for (i0, t0), (i1, t1) in zip(marks, marks[1:]) if i1 > i0]
        return float(np.median(rates))
    finally:
        envs.close()


class MinimalUpdate:
    """The least a DRQN update of this shape must do, on random tensors: the yardstick for rdqn's update.

    A bare encoder -> fused LSTM -> head, the same sizes as the configured network; per call: a
    no-grad burn-in, forward and backward over the trained steps, a no-grad look-ahead and target
    pass, a one-step max target, a Huber loss, global-norm clipping, a fused Adam step and the
    configured target sync. No normalizer, one-hot, replay bookkeeping, n-step return or metrics.
    """

    def __init__(self, config: TrainConfig, obs_dim: int, n_actions: int, device: torch.device):
        c = config
        in_dim = obs_dim + (n_actions if c.prev_action_input else 0)
        sizes = [in_dim, *c.encoder_sizes]

        def net() -> nn.ModuleDict:
            encoder: list[nn.Module] = []
            for n_in, n_out in zip(sizes[:-1], sizes[1:]):
                encoder += [nn.Linear(n_in, n_out), nn.ReLU()]
            return nn.ModuleDict(dict(
                enc=nn.Sequential(*encoder), rnn=nn.LSTM(sizes[-1], c.hidden_size),
                head=nn.Sequential(nn.Linear(c.hidden_size, c.hidden_size), nn.ReLU(),
                                   nn.Linear(c.hidden_size, n_actions)))).to(device)

        self.online, self.target = net(), net()
        self.target.load_state_dict(self.online.state_dict())
        self.target.requires_grad_(False)
        try:
            self.optimizer = torch.optim.Adam(self.online.parameters(), lr=c.learning_rate, fused=True)
        except (RuntimeError, TypeError):  # pragma: no cover - older torch
            self.optimizer = torch.optim.Adam(self.online.parameters(), lr=c.learning_rate)
        self.config, self.device, self.n_actions, self.in_dim = c, device, n_actions, in_dim
        self.updates = 0

    def batch(self, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        c = self.config
        W = c.burn_in + c.seq_len + c.n_steps
        B, H = c.batch_size, c.hidden_size
        x = torch.randn(W + 1, B, self.in_dim, generator=generator).to(self.device)
        actions = torch.randint(self.n_actions, (c.seq_len, B), generator=generator).to(self.device)
        rewards = torch.rand(c.seq_len, B, generator=generator).to(self.device)
        h0 = torch.randn(1, B, H, generator=generator).to(self.device)
        return x, actions, rewards, h0, h0.clone()

    def _q(self, net: nn.ModuleDict, x: torch.Tensor, state):
        out, state = net["rnn"](net["enc"](x), state)
        return net["head"](out), state

    def __call__(self, x, actions, rewards, h0, c0) -> torch.Tensor:
        cfg = self.config
        burn, seq = cfg.burn_in, cfg.seq_len
        with torch.no_grad():
            state = (h0, c0)
            if burn:
                _, state = self._q(self.online, x[:burn], state)
        q, state = self._q(self.online, x[burn:burn + seq], state)
        with torch.no_grad():
            self._q(self.online, x[burn + seq:], tuple(s.detach() for s in state))
            target_state = (h0, c0)
            if burn:
                _, target_state = self._q(self.target, x[:burn], target_state)
            q_target, _ = self._q(self.target, x[burn:], target_state)
            y = rewards + cfg.gamma * q_target[1:seq + 1].max(-1).values
        loss = F.smooth_l1_loss(q.gather(-1, actions.unsqueeze(-1)).squeeze(-1), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.online.parameters(), cfg.max_grad_norm or float("inf"), foreach=True)
        self.optimizer.step()
        self.updates += 1
        if self.updates % cfg.target_update_period == 0:  # the configured sync, as the agent does it
            with torch.no_grad():
                torch._foreach_lerp_(list(self.target.parameters()), list(self.online.parameters()), cfg.target_tau)
        return loss.detach()


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
        ``{"device", "config", "rows", "update_ms", "update_ms_quartiles", "minimal_update_ms",
        "update_to_minimal_ratio", "updates_per_s", "peak_rss_mb", "cuda_peak_mb"}``; each row is ``{"num_envs", "env_steps_per_s", "act_steps_per_s"}``.
        ``update_ms`` is the median time of one gradient step (each timed on its own), with its quartiles;
        ``cuda_peak_mb`` is ``None`` on a CPU; the minimal-update entries are ``None`` for an MLP.

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

    probe = make_vector_env(config.env_id, 1, env_kwargs=config.env_kwargs, action_bins=config.action_bins)
    obs_dim, n_actions = check_spaces(probe.single_observation_space, probe.single_action_space)
    probe.close()
    agent = build_agent(config, obs_dim, n_actions, device, obs_shape=probe.single_observation_space.shape)

    rows = [{"num_envs": n,
             "env_steps_per_s": _steps_per_second(config, n, act_steps),
             "act_steps_per_s": _steps_per_second(config, n, act_steps, agent)} for n in sizes]

    # fill a replay by random play through the network (stored states stay consistent), then time updates
    replay = build_replay(config, obs_dim, agent)
    envs = make_vector_env(config.env_id, config.num_envs, env_kwargs=config.env_kwargs, action_bins=config.action_bins)
    try:
        rollout = Rollout(envs, agent.online, seed=config.seed)
        for _ in range(-(-fill_steps // config.num_envs)):
            step = rollout.step(1.0, rng)
            replay.add(step.obs, step.actions, step.rewards, step.terminated, step.truncated, step.next_obs,
                       step.prev_actions, step.state)
    finally:
        envs.close()
    agent.fit_value_range(*replay.reward_range())  # a histogram head's range from the task, as in training
    minimal = MinimalUpdate(config, obs_dim, n_actions, device) if agent.is_recurrent else None
    generator = torch.Generator().manual_seed(config.seed)
    for _ in range(warmup_updates):
        agent.update(replay.sample(config.batch_size, rng, device))
        if minimal is not None:
            minimal(*minimal.batch(generator))
    batches = [replay.sample(config.batch_size, rng, device) for _ in range(updates)]  # sampling is not timed
    minimal_batches = [minimal.batch(generator) for _ in range(updates)] if minimal is not None else []
    update_ms, minimal_ms = [], []  # each update timed on its own: the median resists a shared machine's other jobs
    for k, batch in enumerate(batches):  # interleaved, so that both see the same machine
        _sync(device)
        t0 = time.perf_counter()
        agent.update(batch)
        _sync(device)
        update_ms.append((time.perf_counter() - t0) * 1e3)
        if minimal is not None:
            t0 = time.perf_counter()
            minimal(*minimal_batches[k])
            _sync(device)
            minimal_ms.append((time.perf_counter() - t0) * 1e3)
    q25, median, q75 = np.percentile(update_ms, [25, 50, 75])
    minimal_median = float(np.median(minimal_ms)) if minimal_ms else None
    return {
        "device": str(device),
        "config": {k: v for k, v in dataclasses.asdict(config).items()
                   if k in ("env_id", "cell", "hidden_size", "batch_size", "seq_len", "burn_in", "n_steps")},
        "rows": rows,
        "update_ms": float(median),
        "update_ms_quartiles": [float(q25), float(q75)],
        "minimal_update_ms": minimal_median,
        "update_to_minimal_ratio": float(median) / minimal_median if minimal_median else None,
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
    if result.get("minimal_update_ms") is not None:
        lines.append(f"minimal update (bare fused LSTM, same shape, interleaved): {result['minimal_update_ms']:.2f} ms")
        lines.append(f"update / minimal ratio: {result['update_to_minimal_ratio']:.2f}")
    memory = f"peak RSS {result['peak_rss_mb']:.0f} MB"
    if result["cuda_peak_mb"] is not None:
        memory += f", CUDA peak allocated {result['cuda_peak_mb']:.0f} MB"
    lines.append(memory)
    return "\n".join(lines)
