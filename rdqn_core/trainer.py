"""Training loop, greedy evaluation and checkpoints (Chapter 4; parallel envs in Chapter 7).

``train(config)`` runs ``config.num_envs`` environments in one gymnasium vector env,
carries one hidden state per environment (reset only for the envs whose episode
started), fills a :class:`~rdqn_core.replay.SequenceReplay`, updates the agent and
evaluates it greedily from a fresh memory. It returns plain data (:class:`TrainResult`).
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from .agent import QAgent, epsilon_at
from .config import TrainConfig, config_from_dict
from .envs import check_spaces, make_env, make_vector_env
from .networks import build_q_network
from .replay import SequenceReplay
from .utils import get_device, seed_everything

__all__ = ["TrainResult", "train", "evaluate", "build_agent", "save_checkpoint", "load_checkpoint"]

CHECKPOINT_FORMAT = 1


@dataclass
class TrainResult:
    """What a run produced: the agent, a metrics history (lists keyed by metric name) and a summary."""

    agent: QAgent
    history: dict[str, list[float]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def build_agent(config: TrainConfig, obs_dim: int, n_actions: int, device: torch.device) -> QAgent:
    network = build_q_network(config.cell, obs_dim, n_actions, config.hidden_size, config.encoder_sizes,
                              config.prev_action_input, config.normalize_obs)
    return QAgent(network, config, device)


def build_replay(config: TrainConfig, obs_dim: int, agent: QAgent) -> SequenceReplay:
    recurrent = agent.is_recurrent
    return SequenceReplay(
        config.buffer_size, config.num_envs, obs_dim, seq_len=config.seq_len, burn_in=config.burn_in,
        n_steps=config.n_steps, hidden_size=config.hidden_size if recurrent else 0,
        lstm=config.cell == "lstm", initial_state=config.initial_state,
    )


def evaluate(agent: QAgent, env_id: Any, episodes: int, seed: int, max_steps: int = 100_000) -> np.ndarray:
    """Greedy returns of ``episodes`` episodes, run side by side, each from a fresh (zero) memory.

    Environment ``i`` is reset with seed ``seed + i``; each plays exactly one episode.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    envs = make_vector_env(env_id, episodes)
    try:
        obs, _ = envs.reset(seed=[seed + i for i in range(episodes)])
        state = agent.initial_state(episodes)  # fresh memory: never a training state
        starts = np.ones(episodes, np.float32)
        prev = np.full(episodes, -1)
        returns = np.zeros(episodes)
        running = np.ones(episodes, bool)
        for _ in range(max_steps):
            actions, state, _ = agent.act(obs, state, starts, prev, 0.0, np.random.default_rng(0))
            obs, rewards, terminated, truncated, _ = envs.step(actions)
            returns += rewards * running
            done = terminated | truncated
            running &= ~done
            if not running.any():
                break
            starts = done.astype(np.float32)
            prev = np.where(done, -1, actions)
        return returns
    finally:
        envs.close()


def save_checkpoint(path: str | os.PathLike, agent: QAgent, config: TrainConfig, extra: dict | None = None) -> Path:
    """Write the online network and the config atomically (temp file, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": dataclasses.asdict(config),
        "obs_dim": agent.online.obs_dim,
        "n_actions": agent.n_actions,
        "online": agent.online.state_dict(),
        "target": agent.target.state_dict(),
        "updates": agent.updates,
        "extra": extra or {},
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)  # atomic: a reader sees the old file or the new one, never half of one
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "auto") -> tuple[QAgent, TrainConfig]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``: no code is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    device = get_device(device)
    payload = torch.load(path, map_location=device, weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} has checkpoint format {payload.get('format')!r}; this rdqn_core reads {CHECKPOINT_FORMAT}")
    config = config_from_dict(payload["config"])
    agent = build_agent(config, payload["obs_dim"], payload["n_actions"], device)
    agent.online.load_state_dict(payload["online"])
    agent.target.load_state_dict(payload["target"])
    agent.updates = payload["updates"]
    return agent, config


def train(config: TrainConfig, out_dir: str | os.PathLike | None = None,
          callback: Callable[[int, dict[str, list[float]]], None] | None = None) -> TrainResult:
    """Train an agent as ``config`` says; write ``checkpoint.pt`` (last) and ``best.pt`` into ``out_dir`` if given.

    ``callback(env_steps, history)`` is called after every evaluation (for live plots).
    """
    cfg = config
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    rng = seed_everything(cfg.seed)
    device = get_device(cfg.device)
    envs = make_vector_env(cfg.env_id, cfg.num_envs)
    obs_dim, n_actions = check_spaces(envs.single_observation_space, envs.single_action_space)
    agent = build_agent(cfg, obs_dim, n_actions, device)
    replay = build_replay(cfg, obs_dim, agent)
    history: dict[str, list[float]] = defaultdict(list)
    summary: dict[str, Any] = dict(solved=False, steps_to_solve=None, wall_seconds_to_solve=None,
                                   train_seconds_to_solve=None, best_eval_return=None, final_eval_return=None)
    out = Path(out_dir) if out_dir is not None else None

    obs, _ = envs.reset(seed=cfg.seed)
    obs = obs.reshape(cfg.num_envs, -1)
    state = agent.initial_state(cfg.num_envs)
    starts = np.ones(cfg.num_envs, np.float32)  # every env starts an episode
    prev_actions = np.full(cfg.num_envs, -1)
    episode_returns = np.zeros(cfg.num_envs)
    episode_lengths = np.zeros(cfg.num_envs, np.int64)
    update_debt = 0.0
    env_steps, eval_index, eval_seconds = 0, 0, 0.0
    start_time = time.perf_counter()
    bar = tqdm(total=cfg.total_steps, disable=not cfg.progress, desc=f"{cfg.cell} {cfg.env_id}", unit="step")
    try:
        while env_steps < cfg.total_steps:
            # uniform random play before learning starts, but through the network so the memory stays in step
            epsilon = 1.0 if env_steps < cfg.learning_starts else epsilon_at(
                env_steps, cfg.eps_start, cfg.eps_end, cfg.eps_decay_steps)
            if state is not None:
                state = state.masked(torch.as_tensor(1.0 - starts, device=device))  # reset memory where episodes began
            stored_state = state
            actions, state, _ = agent.act(obs, state, starts, prev_actions, epsilon, rng)
            if agent.online.normalizer is not None:
                agent.online.normalizer.update(torch.as_tensor(obs, dtype=torch.float32, device=device))
            next_obs, rewards, terminated, truncated, info = envs.step(actions)
            next_obs = next_obs.reshape(cfg.num_envs, -1)
            done = terminated | truncated
            final_obs = next_obs.copy()
            if done.any():  # SAME_STEP autoreset: next_obs already belongs to the next episode
                final_obs[info["_final_obs"]] = np.stack(info["final_obs"][info["_final_obs"]]).reshape(-1, obs_dim)
            replay.add(obs, actions, rewards, terminated, truncated, final_obs, prev_actions, stored_state)
            episode_returns += rewards
            episode_lengths += 1
            for e in np.flatnonzero(done):
                history["charts/episodic_return"].append(float(episode_returns[e]))
                history["charts/episodic_length"].append(int(episode_lengths[e]))
                history["charts/episode_end_step"].append(env_steps + cfg.num_envs)
            episode_returns[done], episode_lengths[done] = 0.0, 0
            starts = done.astype(np.float32)
            prev_actions = np.where(done, -1, actions)
            obs = next_obs
            env_steps += cfg.num_envs
            bar.update(cfg.num_envs)

            if env_steps >= cfg.learning_starts and replay.can_sample():
                update_debt += cfg.updates_per_step * cfg.num_envs
                while update_debt >= 1.0:
                    update_debt -= 1.0
                    metrics = agent.update(replay.sample(cfg.batch_size, rng, device))
                    for key, value in metrics.items():
                        history[key].append(value)

            if cfg.eval_every and env_steps // cfg.eval_every > eval_index:
                eval_index = env_steps // cfg.eval_every
                t0 = time.perf_counter()
                train_seconds = t0 - start_time - eval_seconds  # wall time so far, evaluations excluded
                returns = evaluate(agent, cfg.env_id, cfg.eval_episodes, seed=10_000 * (cfg.seed + 1) + 100 * eval_index)
                eval_seconds += time.perf_counter() - t0
                mean = float(returns.mean())
                history["eval/step"].append(env_steps)
                history["eval/mean_return"].append(mean)
                history["eval/std_return"].append(float(returns.std()))
                history["eval/epsilon"].append(epsilon)
                history["eval/train_seconds"].append(round(train_seconds, 3))
                bar.set_postfix(eval=f"{mean:.1f}", eps=f"{epsilon:.2f}")
                if summary["best_eval_return"] is None or mean > summary["best_eval_return"]:
                    summary["best_eval_return"] = mean
                    if out is not None:
                        save_checkpoint(out / "best.pt", agent, cfg, {"env_steps": env_steps, "eval_mean": mean})
                summary["final_eval_return"] = mean
                if callback is not None:
                    callback(env_steps, history)
                if cfg.solve_threshold and mean >= cfg.solve_threshold and not summary["solved"]:
                    wall = time.perf_counter() - start_time
                    summary.update(solved=True, steps_to_solve=env_steps, wall_seconds_to_solve=round(wall, 2),
                                   train_seconds_to_solve=round(train_seconds, 2))
                    break
    finally:
        bar.close()
        envs.close()
    wall = time.perf_counter() - start_time
    summary.update(wall_seconds=round(wall, 2), eval_seconds=round(eval_seconds, 2), env_steps=env_steps,
                   updates=agent.updates)
    if out is not None:
        save_checkpoint(out / "checkpoint.pt", agent, cfg, {"env_steps": env_steps})
    return TrainResult(agent=agent, history=dict(history), summary=summary)
