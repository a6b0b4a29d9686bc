"""The Bellman target, written once, and the TD losses (Chapter 3).

Pure functions on tensors, time-major ``(T, B)``, unit-tested against hand-computed
numbers. Names follow the time index: ``rewards[t]`` is the reward of the transition
that leaves observation ``t``; ``q_next[t]`` holds the Q-values of observation ``t + 1``.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["n_step_td_targets", "td_loss", "LOSSES"]

LOSSES = ("huber", "mse")


def n_step_td_targets(
    rewards: Tensor,
    terminated: Tensor,
    truncated: Tensor,
    valid: Tensor,
    q_next_target: Tensor,
    q_next_online: Tensor | None,
    gamma: float,
    n_steps: int = 1,
) -> Tensor:
    r"""n-step (Double) DQN targets for every transition of a window.

    .. math::
        y_t = \sum_{k=0}^{m-1} \gamma^k r_{t+k} + \gamma^m (1 - \text{terminated}_{t+m-1})
              \, Q_{\bar\theta}\big(o_{t+m}, \arg\max_a Q_\theta(o_{t+m}, a)\big)

    with ``m = n_steps``, cut short where the episode ends (terminated or truncated)
    or where the window has no further valid transition. A *termination* has no
    future, so nothing is bootstrapped; a time-limit *truncation* bootstraps from the
    final observation, because the episode could have gone on (Pardo et al., 2018).

    Args:
        rewards, terminated, truncated, valid: ``(T, B)``; ``valid`` marks transitions
            that really exist (padding after an episode end or after the newest step is 0).
        q_next_target: ``(T, B, A)`` target-network Q-values of observation ``t + 1``.
        q_next_online: ``(T, B, A)`` online Q-values of observation ``t + 1`` to pick the
            action (Double DQN, van Hasselt et al., 2016), or ``None`` for the plain max.
        gamma: discount in ``[0, 1]``.
        n_steps: number of rewards summed before bootstrapping, ``>= 1``.

    Returns:
        ``(T, B)`` targets (no gradient); entries where ``valid`` is 0 are 0.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    T, B = rewards.shape
    for name, x in (("terminated", terminated), ("truncated", truncated), ("valid", valid)):
        if x.shape != (T, B):
            raise ValueError(f"{name} must have shape {(T, B)} like rewards, got {tuple(x.shape)}")
    if q_next_target.shape[:2] != (T, B):
        raise ValueError(f"q_next_target must have shape ({T}, {B}, n_actions), got {tuple(q_next_target.shape)}")
    with torch.no_grad():
        if q_next_online is not None:
            best = q_next_online.argmax(dim=-1, keepdim=True)
            bootstrap = q_next_target.gather(-1, best).squeeze(-1)
        else:
            bootstrap = q_next_target.max(dim=-1).values
        valid = valid.bool()
        ended = terminated.bool() | truncated.bool()

        def ahead(x: Tensor, k: int, fill: float | bool) -> Tensor:
            """``x[t + k]`` for every ``t``, ``fill`` past the end of the window."""
            if k == 0:
                return x
            pad = torch.full((min(k, T), B), fill, dtype=x.dtype, device=x.device)
            return torch.cat([x[k:], pad])[:T]

        targets = torch.zeros_like(rewards, dtype=torch.float32)
        discount = torch.ones_like(targets)
        active = valid.clone()
        for k in range(n_steps):
            targets = targets + active * discount * ahead(rewards.float(), k, 0.0)
            discount = discount * gamma
            stop = active & (ahead(ended, k, True) | ~ahead(valid, k + 1, False) | (k == n_steps - 1))
            alive = ~ahead(terminated.bool(), k, True)  # easy to overlook: truncation still bootstraps
            targets = targets + (stop & alive) * discount * ahead(bootstrap.float(), k, 0.0)
            active = active & ~stop
        return targets


def td_loss(q_taken: Tensor, targets: Tensor, mask: Tensor, kind: str = "huber") -> Tensor:
    """Mean Huber (``smooth_l1`` with delta 1) or squared TD error over entries where ``mask`` is 1."""
    if kind not in LOSSES:
        raise ValueError(f"unknown loss {kind!r}; allowed: {', '.join(LOSSES)}")
    if q_taken.shape != targets.shape or mask.shape != targets.shape:
        raise ValueError(f"q_taken {tuple(q_taken.shape)}, targets {tuple(targets.shape)} and mask "
                         f"{tuple(mask.shape)} must have the same shape")
    fn = F.smooth_l1_loss if kind == "huber" else F.mse_loss
    per_step = fn(q_taken, targets, reduction="none")
    mask = mask.to(per_step.dtype)
    return (per_step * mask).sum() / mask.sum().clamp(min=1.0)
