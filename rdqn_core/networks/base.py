"""What every Q-network here shares: the input pipeline and the calling convention (Chapters 3 and 4).

Both networks are called the same way, so the agent never needs to know which it has::

    q_values, new_state = net(obs, state, episode_starts, prev_actions)
    # obs (T, B, obs_dim), episode_starts (T, B), prev_actions (T, B) -> q_values (T, B, n_actions)
    # (a branching head, Chapter 6: (T, B, n_outputs) with n_outputs = K * d; actions stay joint indices)

and split into two halves for callers that feed one input sequence to several networks
(the agent's online and target passes)::

    x = net.inputs(obs, prev_actions)                     # normalize + one-hot, (T, B, in_dim)
    q_values, new_state = net.unroll(x, state, episode_starts)
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .normalizer import ObservationNormalizer

__all__ = ["QNetworkBase", "mlp", "check_sizes", "check_branches", "joint_to_branches", "branches_to_joint"]


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


def check_branches(branches, n_actions: int | None = None) -> tuple[int, ...]:
    """``branches`` as a tuple of choices per action dimension, each ``>= 2``; with ``n_actions``, their
    product must equal it (the joint index a discretized env acts with)."""
    try:
        out = tuple(int(k) for k in branches)
    except TypeError:
        raise ValueError(f"action_branches must be a sequence of choices per action dimension, got {branches!r}") from None
    if not out or any(k < 2 for k in out):
        raise ValueError(f"action_branches must hold at least one dimension with >= 2 choices each, got {branches!r}")
    if n_actions is not None and math.prod(out) != int(n_actions):
        raise ValueError(f"action_branches {out} give {math.prod(out)} joint actions, but the action space has "
                         f"{n_actions}")
    return out


def joint_to_branches(actions: Tensor, branches: tuple[int, ...]) -> Tensor:
    """Joint indices ``(...)`` -> one index per dimension ``(..., d)``, C order (the first dimension most
    significant), as ``np.unravel_index`` and gymnasium's ``DiscretizeAction`` use. Negative stays negative
    in every dimension (``-1``: no previous action)."""
    out, rest = [], actions.long()
    for k in reversed(branches):
        out.append(torch.where(actions < 0, -1, rest % k))
        rest = torch.div(rest, k, rounding_mode="floor")
    return torch.stack(out[::-1], dim=-1)


def branches_to_joint(indices: Tensor, branches: tuple[int, ...]) -> Tensor:
    """The inverse of :func:`joint_to_branches`: ``(..., d)`` per-dimension indices -> joint indices ``(...)``."""
    joint = torch.zeros(indices.shape[:-1], dtype=torch.long, device=indices.device)
    for i, k in enumerate(branches):
        joint = joint * k + indices[..., i].long()
    return joint


class QNetworkBase(nn.Module):
    """Observation normalizer, previous-action one-hot and the ``forward = unroll(inputs(...))`` split."""

    is_recurrent: bool = False

    def __init__(self, obs_dim: int, n_actions: int, prev_action_input: bool, normalize_obs: bool,
                 action_branches: tuple[int, ...] | None = None):
        super().__init__()
        self.obs_dim, self.n_actions, self.prev_action_input = int(obs_dim), int(n_actions), prev_action_input
        self.normalizer = ObservationNormalizer(obs_dim) if normalize_obs else None
        # Chapter 6: a branching head acts in the same joint index (n_actions = prod(branches)) but has
        # sum(branches) outputs, and reads the previous action as one one-hot per dimension
        self.action_branches = None
        if action_branches is not None:
            self.action_branches = check_branches(action_branches, n_actions)
        self.n_outputs = sum(self.action_branches) if self.action_branches else self.n_actions
        self.in_dim = self.obs_dim + (self.n_outputs if prev_action_input else 0)

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
        if self.action_branches is not None:  # one one-hot per action dimension (all zero where -1)
            per_dim = joint_to_branches(prev_actions, self.action_branches)
            one_hot = torch.cat([F.one_hot(per_dim[..., i].clamp(min=0), k) for i, k in enumerate(self.action_branches)],
                                dim=-1).to(obs.dtype)
        else:
            one_hot = F.one_hot(prev_actions.clamp(min=0), self.n_actions).to(obs.dtype)
        one_hot = one_hot * (prev_actions >= 0).unsqueeze(-1).to(obs.dtype)
        return torch.cat([obs, one_hot], dim=-1)

    def greedy_actions(self, q: Tensor) -> Tensor:
        """Greedy joint actions ``(...)`` from this network's outputs ``q`` ``(..., n_outputs)``.

        The argmax of the Q-values; with a branching head (Chapter 6) the argmax of every branch,
        combined into the joint index (exact for the mean-aggregated value the head is trained on).
        """
        if self.action_branches is None:
            return q.argmax(dim=-1)
        parts = torch.split(q, self.action_branches, dim=-1)
        return branches_to_joint(torch.stack([p.argmax(dim=-1) for p in parts], dim=-1), self.action_branches)

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
