"""The Q-learning agent: epsilon-greedy acting with a carried memory, TD updates, target sync.

One class serves both the memoryless DQN (an :class:`~rdqn_core.networks.MLPQNetwork` on
windows of one step) and the DRQN (a recurrent network on windows with burn-in).
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from .config import TrainConfig
from .losses import n_step_td_targets, td_loss
from .networks import RecurrentState
from .replay import SequenceBatch

__all__ = ["QAgent", "epsilon_at"]


def epsilon_at(step: int, start: float, end: float, decay_steps: int) -> float:
    """Linear decay from ``start`` to ``end`` over ``decay_steps`` environment steps, then flat."""
    if decay_steps <= 0:
        return end
    return end + (start - end) * max(0.0, 1.0 - step / decay_steps)


class QAgent:
    """Online and target Q-networks, an Adam optimizer and the update rule.

    Args:
        network: an ``MLPQNetwork`` or ``RecurrentQNetwork`` (see ``build_q_network``).
        config: the run's :class:`TrainConfig` (gamma, n_steps, loss, clipping, target sync).
        device: where the networks live; batches must be sampled onto the same device.
    """

    def __init__(self, network: nn.Module, config: TrainConfig, device: torch.device):
        self.config, self.device = config, device
        self.online = network.to(device)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.learning_rate, fused=True)
        self.n_actions = network.n_actions
        self.updates = 0

    @property
    def is_recurrent(self) -> bool:
        return self.online.is_recurrent

    def initial_state(self, batch_size: int) -> RecurrentState | None:
        return self.online.initial_state(batch_size, self.device)

    @torch.no_grad()
    def act(self, obs: np.ndarray, state: RecurrentState | None, episode_starts: np.ndarray,
            prev_actions: np.ndarray, epsilon: float, rng: np.random.Generator
            ) -> tuple[np.ndarray, RecurrentState | None, np.ndarray]:
        """Epsilon-greedy actions for a batch of environments, one step.

        Args:
            obs: (B, obs_dim) current observations.
            state: memory per environment from the previous call (or ``initial_state(B)``).
            episode_starts: (B,) 1 where ``obs`` is the first of an episode: that env's memory is reset.
            prev_actions: (B,) previous action per env, -1 at an episode start.
            epsilon: probability of a uniformly random action (0: greedy).
            rng: generator for the exploration coin flips (seeded for reproducibility).

        Returns:
            actions (B,), the new state, and the Q-values (B, n_actions) used.
        """
        obs_t = torch.as_tensor(np.asarray(obs, np.float32), device=self.device).reshape(1, len(obs), -1)
        starts = torch.as_tensor(np.asarray(episode_starts, np.float32), device=self.device).view(1, -1)
        prev = torch.as_tensor(np.asarray(prev_actions, np.int64), device=self.device).view(1, -1)
        q, state = self.online(obs_t, state, starts, prev)
        q = q[0].cpu().numpy()
        actions = q.argmax(axis=1)
        explore = rng.random(len(actions)) < epsilon
        actions = np.where(explore, rng.integers(self.n_actions, size=len(actions)), actions)
        return actions, state, q

    def update(self, batch: SequenceBatch) -> dict[str, float]:
        """One gradient step on a batch of windows; returns the logged metrics.

        Raises ``FloatingPointError`` as soon as the loss is NaN or infinite, naming the
        usual causes, instead of training on garbage.
        """
        cfg = self.config
        q, _ = self.online(batch.obs, batch.initial_state, batch.episode_starts, batch.prev_actions)  # (W+1, B, A)
        if self.online.normalizer is not None:  # the target sees observations the way the online net does
            self.target.normalizer.load_state_dict(self.online.normalizer.state_dict())
        with torch.no_grad():
            q_target, _ = self.target(batch.obs, batch.initial_state, batch.episode_starts, batch.prev_actions)
        q_taken = q[:-1].gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)  # (W, B)
        targets = n_step_td_targets(batch.rewards, batch.terminated, batch.truncated, batch.valid,
                                    q_target[1:], q[1:].detach() if cfg.double_dqn else None,
                                    cfg.gamma, cfg.n_steps)
        loss = td_loss(q_taken, targets, batch.loss_mask, cfg.loss)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"TD loss became {loss.item()} at update {self.updates}; usual causes: learning_rate "
                f"{cfg.learning_rate} too high, max_grad_norm={cfg.max_grad_norm} (0 = no clipping), "
                "or NaN/inf in observations or rewards")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = cfg.max_grad_norm if cfg.max_grad_norm > 0 else math.inf
        grad_norm = nn.utils.clip_grad_norm_(self.online.parameters(), max_norm, foreach=True)
        self.optimizer.step()
        self.updates += 1
        self._sync_target()
        mask = batch.loss_mask
        grad_norm = grad_norm.item()
        return {
            "losses/td_loss": loss.item(),
            "losses/grad_norm": grad_norm,  # before clipping
            "losses/clipped": float(grad_norm > max_norm),
            "losses/q_mean": (q_taken * mask).sum().item() / max(mask.sum().item(), 1.0),
        }

    def _sync_target(self) -> None:
        cfg = self.config
        if cfg.target_tau < 1.0:  # Polyak averaging every update
            with torch.no_grad():
                for p_t, p in zip(self.target.parameters(), self.online.parameters()):
                    p_t.lerp_(p, cfg.target_tau)
        elif self.updates % cfg.target_update_period == 0:
            self.target.load_state_dict(self.online.state_dict())
