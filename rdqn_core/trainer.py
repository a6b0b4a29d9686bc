"""Training loop and greedy evaluation (Chapter 4; parallel variants in Chapter 7).

``train(config)`` runs ``config.num_envs`` environments in one gymnasium vector env
through a :class:`~rdqn_core.rollout.Rollout` (one memory per environment, reset only
for the envs whose episode started), fills a :class:`~rdqn_core.replay.SequenceReplay`,
updates the agent and evaluates it greedily from a fresh memory. It returns plain data
(:class:`TrainResult`). With an output folder it writes ``progress.csv`` as it goes,
``checkpoint.pt`` and ``best.pt`` for evaluation, and ``resume.pt`` + ``envs.pkl`` so that
``train(..., resume=True)`` (``python -m rdqn_core train --resume DIR``) continues the run.
"""
from __future__ import annotations

import csv
import dataclasses
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from .agent import QAgent, epsilon_at, learning_rate_at
from .checkpoint import (build_agent, load_checkpoint, load_envs, load_training_config, load_training_state,
                         save_checkpoint, save_envs, save_training_state)
from .config import TrainConfig
from .envs import check_spaces, make_vector_env
from .replay import SequenceReplay
from .rollout import Rollout
from .types import RecurrentState
from .utils import get_device, seed_everything

__all__ = ["TrainResult", "train", "evaluate", "evaluate_policy", "build_replay", "RESUMABLE_FIELDS"]

RESUMABLE_FIELDS = ("total_steps", "eval_every", "eval_episodes", "solve_threshold", "checkpoint_every", "device",
                    "torch_threads", "progress")
"""Config fields a resumed run may change; every other field must match the stored run."""

PROGRESS_COLUMNS = ("env_steps", "updates", "eval/mean_return", "eval/std_return", "eval/epsilon",
                    "eval/train_seconds", "charts/episodic_return", "losses/td_loss", "losses/grad_norm",
                    "losses/q_mean")
FLUSH_EVERY = 100  # updates between reads of the metric tensors (one device sync per flush, not per update)


@dataclass
class TrainResult:
    """What a run produced: the agent, a metrics history (lists keyed by metric name) and a summary.

    ``replay`` is the run's replay memory when ``train(..., return_replay=True)``, else ``None``.
    """

    agent: QAgent
    history: dict[str, list[float]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    replay: SequenceReplay | None = None


def build_replay(config: TrainConfig, obs_dim: int, agent: QAgent) -> SequenceReplay:
    """The replay ``config`` describes, storing states of ``agent``'s size if it is recurrent."""
    recurrent = agent.is_recurrent
    return SequenceReplay(
        config.buffer_size, config.num_envs, obs_dim, seq_len=config.seq_len, burn_in=config.burn_in,
        n_steps=config.n_steps, hidden_size=config.hidden_size if recurrent else 0,
        lstm=config.cell == "lstm", initial_state=config.initial_state, gamma=config.gamma,
        priority_exponent=config.priority_exponent, importance_exponent=config.importance_exponent,
    )


def evaluate(agent: QAgent, env_id: Any, episodes: int, seed: int, max_steps: int = 100_000,
             env_kwargs: dict | None = None) -> np.ndarray:
    """Greedy returns of ``episodes`` episodes, run side by side, each from a fresh (zero) memory.

    Environment ``i`` is reset with seed ``seed + i``; each plays exactly one episode. The agent's
    ``greedy_network`` plays: the online net, or its weight average when ``average_tau > 0``.
    """
    return evaluate_policy(agent.greedy_network, env_id, episodes, seed, max_steps, env_kwargs,
                           action_bins=agent.config.action_bins)


def evaluate_policy(policy: Any, env_id: Any, episodes: int, seed: int, max_steps: int = 100_000,
                    env_kwargs: dict | None = None, action_bins: int | None = None) -> np.ndarray:
    """:func:`evaluate` for a Q-network or any actor :class:`~rdqn_core.rollout.Rollout` accepts (greedy: epsilon 0)."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    envs = make_vector_env(env_id, episodes, env_kwargs=env_kwargs, action_bins=action_bins)
    try:
        rollout = Rollout(envs, policy, seed=[seed + i for i in range(episodes)])  # fresh memory
        returns = np.zeros(episodes)
        running = np.ones(episodes, bool)
        rng = np.random.default_rng(0)  # unused at epsilon 0, but act() takes one
        for _ in range(max_steps):
            step = rollout.step(0.0, rng)
            for env, episode_return, _ in step.finished:
                if running[env]:
                    returns[env], running[env] = episode_return, False
            if not running.any():
                break
        else:
            for env in np.flatnonzero(running):  # cut off by max_steps: count what was collected
                returns[env] = rollout.episode_returns[env]
        return returns
    finally:
        envs.close()


class _MetricLog:
    """Per-update metrics kept as device tensors and read in blocks (one sync per block)."""

    def __init__(self, history: dict[str, list[float]]):
        self.history, self.pending = history, []

    def add(self, metrics: dict[str, torch.Tensor]) -> None:
        self.pending.append(metrics)

    def flush(self, first_update: int) -> None:
        if not self.pending:
            return
        keys = list(self.pending[0])
        values = torch.stack([torch.stack([m[k].float() for k in keys]) for m in self.pending]).cpu().numpy()
        self.pending = []
        bad = np.flatnonzero(~np.isfinite(values[:, keys.index("losses/td_loss")]))
        if bad.size:
            raise FloatingPointError(
                f"TD loss became {values[bad[0], keys.index('losses/td_loss')]} at update {first_update + bad[0]}; "
                "usual causes: learning_rate too high, max_grad_norm=0 (no clipping), or NaN/inf in observations "
                "or rewards")
        for j, key in enumerate(keys):
            self.history[key].extend(values[:, j].tolist())


def _check_resumable(stored: TrainConfig, given: TrainConfig) -> TrainConfig:
    changed = [f.name for f in dataclasses.fields(TrainConfig)
               if getattr(stored, f.name) != getattr(given, f.name) and f.name not in RESUMABLE_FIELDS]
    if changed:
        raise ValueError(f"cannot resume with different {', '.join(changed)}; a resumed run may change only "
                         f"{', '.join(RESUMABLE_FIELDS)}")
    return given


def _mean_since(history: dict[str, list[float]], key: str, start: int) -> float | str:
    values = history.get(key, [])[start:]
    return round(float(np.mean(values)), 6) if values else ""


def train(config: TrainConfig, out_dir: str | os.PathLike | None = None,
          callback: Callable[[int, dict[str, list[float]]], None] | None = None,
          resume: bool = False, return_replay: bool = False,
          agent_builder: Callable[..., QAgent] | None = None) -> TrainResult:
    """Train an agent as ``config`` says.

    Args:
        config: the run. On resume, only the fields in :data:`RESUMABLE_FIELDS` may differ from
            the stored run's (typically a larger ``total_steps``).
        out_dir: folder for ``progress.csv`` (one row per evaluation, written as it goes),
            ``checkpoint.pt`` (last), ``best.pt`` (best evaluation), ``resume.pt`` and ``envs.pkl``.
        callback: ``callback(env_steps, history)`` after every evaluation (for live plots).
        resume: continue the run stored in ``out_dir`` (``resume.pt``) instead of starting afresh.
        return_replay: put the replay memory into the result (for instruments that inspect it).
        agent_builder: builds the agent instead of :func:`~rdqn_core.checkpoint.build_agent`, called the same
            way, ``obs_shape`` included (Chapter 7's data-parallel learners pass one).
    """
    cfg = config
    out = Path(out_dir) if out_dir is not None else None
    if resume:
        if out is None or not (out / "resume.pt").is_file():
            raise FileNotFoundError(f"nothing to resume: no resume.pt in {out}")
        cfg = _check_resumable(load_training_config(out / "resume.pt"), cfg)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    rng = seed_everything(cfg.seed)
    device = get_device(cfg.device)
    envs = make_vector_env(cfg.env_id, cfg.num_envs, asynchronous=cfg.vector_env == "async",
                           env_kwargs=cfg.env_kwargs, action_bins=cfg.action_bins)
    obs_dim, n_actions = check_spaces(envs.single_observation_space, envs.single_action_space)
    # the conv network reads its board size from the unflattened shape
    agent = (agent_builder or build_agent)(cfg, obs_dim, n_actions, device,
                                           obs_shape=envs.single_observation_space.shape)
    replay = build_replay(cfg, obs_dim, agent)
    rollout = Rollout(envs, agent.online, seed=cfg.seed)
    history: dict[str, list[float]] = defaultdict(list)
    summary: dict[str, Any] = dict(solved=False, steps_to_solve=None, wall_seconds_to_solve=None,
                                   train_seconds_to_solve=None, best_eval_return=None, final_eval_return=None)
    env_steps, eval_index, eval_seconds, elapsed_before = 0, 0, 0.0, 0.0
    if resume:
        counters = load_training_state(out / "resume.pt", agent, replay, rng)
        env_steps, eval_index = int(counters["env_steps"]), int(counters["eval_index"])
        eval_seconds, elapsed_before = float(counters["eval_seconds"]), float(counters["elapsed"])
        summary.update(counters["summary"])
        history.update({k: list(v) for k, v in counters["history"].items()})
        rollout.obs = counters["obs"].numpy()
        rollout.episode_starts = counters["episode_starts"].numpy()
        rollout.prev_actions = counters["prev_actions"].numpy()
        rollout.episode_returns = counters["episode_returns"].numpy()
        rollout.episode_lengths = counters["episode_lengths"].numpy()
        if counters["state_h"] is not None:
            rollout.state = RecurrentState(counters["state_h"].to(device),
                                           None if counters["state_c"] is None else counters["state_c"].to(device))
        if not load_envs(out / "envs.pkl", envs):
            print(f"note: no envs.pkl in {out}; the resumed run starts new episodes")
    metric_log = _MetricLog(history)
    progress_file = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        new_file = not resume or not (out / "progress.csv").is_file()
        progress_file = open(out / "progress.csv", "w" if new_file else "a", newline="")
        progress_writer = csv.DictWriter(progress_file, PROGRESS_COLUMNS)
        if new_file:
            progress_writer.writeheader()
    last_row = {key: len(history.get(key, [])) for key in PROGRESS_COLUMNS}

    def save_resumable() -> None:
        metric_log.flush(agent.updates - len(metric_log.pending))
        state = rollout.state
        counters = dict(env_steps=env_steps, eval_index=eval_index, eval_seconds=eval_seconds,
                        elapsed=time.perf_counter() - start_time, summary=summary,
                        history=dict(history), obs=rollout.obs, episode_starts=rollout.episode_starts,
                        prev_actions=rollout.prev_actions, episode_returns=rollout.episode_returns,
                        episode_lengths=rollout.episode_lengths,
                        state_h=None if state is None else state.h.detach().cpu(),
                        state_c=None if state is None or state.c is None else state.c.detach().cpu())
        save_training_state(out / "resume.pt", agent, cfg, replay, counters, rng)
        save_envs(out / "envs.pkl", envs)
        save_checkpoint(out / "checkpoint.pt", agent, cfg, {"env_steps": env_steps})

    start_time = time.perf_counter() - elapsed_before
    bar = tqdm(total=cfg.total_steps, initial=env_steps, disable=not cfg.progress, desc=f"{cfg.cell} {cfg.env_id}",
               unit="step")
    last_checkpoint = env_steps
    try:
        while env_steps < cfg.total_steps:
            # uniform random play before learning starts, but through the network so the memory stays in step
            epsilon = 1.0 if env_steps < cfg.learning_starts else epsilon_at(
                env_steps, cfg.eps_start, cfg.eps_end, cfg.eps_decay_steps)
            if cfg.lr_end is not None:
                agent.set_learning_rate(learning_rate_at(env_steps, cfg))
            step = rollout.step(epsilon, rng)
            if agent.normalizer is not None and (cfg.obs_norm_steps is None or env_steps < cfg.obs_norm_steps):
                agent.normalizer.update(torch.as_tensor(step.obs, dtype=torch.float32, device=device))
            replay.add(step.obs, step.actions, step.rewards, step.terminated, step.truncated, step.next_obs,
                       step.prev_actions, step.state)
            for _, episode_return, length in step.finished:
                history["charts/episodic_return"].append(episode_return)
                history["charts/episodic_length"].append(length)
                history["charts/episode_end_step"].append(env_steps + cfg.num_envs)
            env_steps += cfg.num_envs
            bar.update(cfg.num_envs)

            if env_steps > cfg.learning_starts:
                # The updates due so far, from the env steps after learning_starts (not a running sum of
                # fractions, which drifts), so that a full run makes exactly config.expected_updates(); a step
                # where the replay cannot sample yet leaves its updates to the next one.
                due = math.floor((env_steps - cfg.learning_starts) * cfg.updates_per_step)
                if agent.value_range_pending:  # a histogram head's range, from the rewards of the random play
                    agent.fit_value_range(*replay.reward_range())
                while agent.updates < due and replay.can_sample():
                    batch = replay.sample(cfg.batch_size, rng, device)
                    metric_log.add(agent.update(batch))
                    if batch.keys is not None:
                        replay.update_priorities(batch.keys, agent.priorities)
                    if len(metric_log.pending) >= FLUSH_EVERY:
                        metric_log.flush(agent.updates - FLUSH_EVERY)

            if cfg.eval_every and env_steps // cfg.eval_every > eval_index:
                eval_index = env_steps // cfg.eval_every
                metric_log.flush(agent.updates - len(metric_log.pending))
                t0 = time.perf_counter()
                train_seconds = t0 - start_time - eval_seconds  # wall time so far, evaluations excluded
                returns = evaluate(agent, cfg.env_id, cfg.eval_episodes, seed=10_000 * (cfg.seed + 1) + 100 * eval_index,
                                   env_kwargs=cfg.env_kwargs)
                eval_seconds += time.perf_counter() - t0
                mean = float(returns.mean())
                history["eval/step"].append(env_steps)
                history["eval/mean_return"].append(mean)
                history["eval/std_return"].append(float(returns.std()))
                history["eval/epsilon"].append(epsilon)
                history["eval/train_seconds"].append(round(train_seconds, 3))
                bar.set_postfix(eval=f"{mean:.1f}", eps=f"{epsilon:.2f}")
                if progress_file is not None:
                    row = {"env_steps": env_steps, "updates": agent.updates}
                    for key in PROGRESS_COLUMNS[2:]:
                        row[key] = _mean_since(history, key, last_row[key])
                        last_row[key] = len(history.get(key, []))
                    progress_writer.writerow(row)
                    progress_file.flush()  # so that `tail -f progress.csv` shows it now
                if summary["best_eval_return"] is None or mean > summary["best_eval_return"]:
                    summary["best_eval_return"] = mean
                    if out is not None:
                        save_checkpoint(out / "best.pt", agent, cfg, {"env_steps": env_steps, "eval_mean": mean})
                summary["final_eval_return"] = mean
                if callback is not None:
                    callback(env_steps, history)
                if cfg.solve_threshold is not None and mean >= cfg.solve_threshold and not summary["solved"]:
                    wall = time.perf_counter() - start_time
                    summary.update(solved=True, steps_to_solve=env_steps, wall_seconds_to_solve=round(wall, 2),
                                   train_seconds_to_solve=round(train_seconds, 2))
                    break
            if out is not None and cfg.checkpoint_every and env_steps - last_checkpoint >= cfg.checkpoint_every:
                last_checkpoint = env_steps
                save_resumable()
        metric_log.flush(agent.updates - len(metric_log.pending))
    finally:
        bar.close()
        if progress_file is not None:
            progress_file.close()
    wall = time.perf_counter() - start_time
    summary.update(wall_seconds=round(wall, 2), eval_seconds=round(eval_seconds, 2), env_steps=env_steps,
                   updates=agent.updates)
    if agent.value_range is not None:  # the histogram's range: the config's, or the one taken from the task
        summary["value_range"] = list(agent.value_range)
    if agent.value_sigma is not None:  # the target Gaussian's width, from the rewards' scale (value_sigma)
        summary["value_sigma"] = agent.value_sigma
    if out is not None:
        save_resumable()
    envs.close()
    return TrainResult(agent=agent, history=dict(history), summary=summary, replay=replay if return_replay else None)
