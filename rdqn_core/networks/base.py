"""What every Q-network here shares: the input pipeline and the calling convention (Chapters 3 and 4).

Both networks are called the same way, so the agent never needs to know which it has::

    q_values, new_state = net(obs, state, episode_starts, prev_actions)
    # obs (T, B, obs_dim), episode_starts (T, B), prev_actions (T, B) -> q_values (T, B, n_actions)

and split into two halves for callers that feed one input sequence to several networks
(the agent's online and target passes)::

    x = net.inputs(obs, prev_actions)                     # normalize + one-hot, (T, B, in_dim)
    q_values, new_state = net.unroll(x, state, episode_starts)
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .normalizer import ObservationNormalizer

__all__ = ["QNetworkBase", "mlp", "check_sizes"]


def mlp(sizes: list[int], layer_norm: bool = False) -> nn.Sequential:
    """Linear -> (LayerNorm) -> ReLU for each consecutive pair of ``sizes``."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers.append(nn.Linear(n_in, n_out))
        if layer_norm:
            layers.append(nn.LayerNorm(n_out))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def check_sizes(obs_dim: int, n_actions: int, hidden_size: int, encoder_sizes: tuple[int, ...]) -> None:
    for name, value in (("obs_dim", obs_dim), ("n_actions", n_actions), ("hidden_size", hidden_size)):
        if int(value) < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    if any(int(s) < 1 for s in encoder_sizes):
        raise ValueError(f"encoder_sizes must all be positive, got {encoder_sizes}")


class QNetworkBase(nn.Module):
    """Observation normalizer, previous-action one-hot and the ``forward = unroll(inputs(...))`` split."""

    is_recurrent: bool = False

    def __init__(self, obs_dim: int, n_actions: int, prev_action_input: bool, normalize_obs: bool):
        super().__init__()
        self.obs_dim, self.n_actions, self.prev_action_input = int(obs_dim), int(n_actions), prev_action_input
        self.normalizer = ObservationNormalizer(obs_dim) if normalize_obs else None
        self.in_dim = self.obs_dim + (self.n_actions if prev_action_input else 0)

    def inputs(self, obs: Tensor, prev_actions: Tensor | None = None) -> Tensor:
        """Validate ``obs`` (T, B, obs_dim), normalize it and append the one-hot previous action if used.

        No parameters act here, so the result can feed the online and the target network alike.
        ``prev_actions`` (T, B): ``None`` or ``-1`` means "no previous action" (an all-zero one-hot).
        """
        if obs.dim() != 3 or obs.shape[-1] != self.obs_dim:
            raise ValueError(
                f"obs must have shape (T, B, {self.obs_dim}) = (time, batch, obs_dim), got {tuple(obs.shape)}"
            )
        if self.normalizer is not None:
            obs = self.normalizer(obs)
        if not self.prev_action_input:
            return obs
        if prev_actions is None:
            prev_actions = torch.full(obs.shape[:2], -1, dtype=torch.long, device=obs.device)
        if prev_actions.shape != obs.shape[:2]:
            raise ValueError(f"prev_actions must have shape {tuple(obs.shape[:2])} (T, B), got {tuple(prev_actions.shape)}")
        one_hot = F.one_hot(prev_actions.clamp(min=0), self.n_actions).to(obs.dtype)
        one_hot = one_hot * (prev_actions >= 0).unsqueeze(-1).to(obs.dtype)
        return torch.cat([obs, one_hot], dim=-1)

    def action_mask(self, obs: Tensor) -> Tensor | None:
        """Which actions ``obs`` (T, B, obs_dim) allows, ``(T, B, n_actions)`` bool; ``None``: all of them.

        Acting and bootstrapping choose only allowed actions (Chapter 8's board network reads a mask
        from its observation; these networks allow everything).
        """
        return None

    def unroll(self, x: Tensor, state=None, episode_starts: Tensor | None = None,
               resets_inside: bool | None = None):
        raise NotImplementedError

    def forward(self, obs: Tensor, state=None, episode_starts: Tensor | None = None,
                prev_actions: Tensor | None = None):
        return self.unroll(self.inputs(obs, prev_actions), state, episode_starts)
