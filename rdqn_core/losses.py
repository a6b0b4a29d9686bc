"""The return, written once, and the TD losses (Chapter 3).

Pure functions on tensors, time-major ``(T, B)``, unit-tested against hand-computed
numbers. Names follow the time index: ``rewards[t]`` is the reward of the transition
that leaves observation ``t``; ``q_next[t]`` and ``bootstrap_values[t]`` belong to
observation ``t + 1``.

Two questions are kept apart, as in rlax: *which value is bootstrapped* (the plain max
of the target network, Double DQN's online argmax valued by the target network, or
whatever a branching or masked-action head computes: :func:`max_q_bootstrap`,
:func:`double_q_bootstrap`) and *how the n-step return is built from rewards,
discounts and that value* (:func:`n_step_return_parts`, :func:`n_step_targets`). The
parts depend only on what the replay stores, so it computes them at sample time.
"""
from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np

import torch
from torch import Tensor
from torch.nn import functional as F

from .networks.base import check_branches, joint_to_branches
from .types import LOSSES, NStepParts

__all__ = ["value_range_from_rewards", "n_step_return_parts", "n_step_targets", "max_q_bootstrap", "double_q_bootstrap",
           "n_step_td_targets", "advantage_learning_targets", "td_loss", "sequence_priorities",
           "hl_gauss_probs", "hl_gauss_loss", "branch_values", "branching_bootstrap", "branching_q_taken", "value_rescale", "value_rescale_inverse"]


def _check_window(rewards: Tensor, **others: Tensor) -> tuple[int, int]:
    if rewards.dim() != 2:
        raise ValueError(f"rewards must have shape (T, B), got {tuple(rewards.shape)}")
    T, B = rewards.shape
    for name, x in others.items():
        if x.shape != (T, B):
            raise ValueError(f"{name} must have shape {(T, B)} like rewards, got {tuple(x.shape)}")
    return T, B


def n_step_return_parts(rewards: Tensor, terminated: Tensor, truncated: Tensor, valid: Tensor,
                        gamma: float, n_steps: int = 1) -> NStepParts:
    r"""Split the n-step return of every transition of a window into a reward sum and a bootstrap term.

    .. math::
        y_t = \underbrace{\sum_{k=0}^{m-1} \gamma^k r_{t+k}}_{\text{sums}_t}
              + \underbrace{\gamma^m (1 - \text{terminated}_{t+m-1})}_{\text{discounts}_t}
              \, v_{t+m-1}

    with ``m = n_steps``, cut short where the episode ends (terminated or truncated) or where
    the window has no further valid transition; ``v_j`` is the bootstrap value of observation
    ``j + 1``, so ``index[t] = t + m - 1``. A *termination* has no future, so its discount is 0;
    a time-limit *truncation* bootstraps from the final observation, because the episode could
    have gone on (Pardo et al., 2018).

    Args:
        rewards, terminated, truncated, valid: ``(T, B)``; ``valid`` marks transitions that
            really exist (padding after an episode end or after the newest step is 0).
        gamma: discount in ``[0, 1]``.
        n_steps: number of rewards summed before bootstrapping, ``>= 1``.

    Returns:
        :class:`~rdqn_core.types.NStepParts`; where ``valid`` is 0 all three are 0.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    T, B = _check_window(rewards, terminated=terminated, truncated=truncated, valid=valid)
    with torch.no_grad():
        valid = valid.bool()
        ended = terminated.bool() | truncated.bool()
        rewards = rewards.float()

        def ahead(x: Tensor, k: int, fill: float | bool) -> Tensor:
            """``x[t + k]`` for every ``t``, ``fill`` past the end of the window."""
            if k == 0:
                return x
            pad = torch.full((min(k, T), B), fill, dtype=x.dtype, device=x.device)
            return torch.cat([x[k:], pad])[:T]

        sums = torch.zeros(T, B, device=rewards.device)
        discounts = torch.zeros(T, B, device=rewards.device)
        index = torch.zeros(T, B, dtype=torch.long, device=rewards.device)
        positions = torch.arange(T, device=rewards.device).unsqueeze(1).expand(T, B)
        discount = torch.ones(T, B, device=rewards.device)
        active = valid.clone()
        for k in range(n_steps):
            sums = sums + active * discount * ahead(rewards, k, 0.0)
            discount = discount * gamma
            stop = active & (ahead(ended, k, True) | ~ahead(valid, k + 1, False) | (k == n_steps - 1))
            alive = ~ahead(terminated.bool(), k, True)  # easy to overlook: truncation still bootstraps
            discounts = torch.where(stop, discount * alive, discounts)
            index = torch.where(stop, (positions + k).clamp(max=T - 1), index)
            active = active & ~stop
        return NStepParts(sums, discounts, index)


def n_step_targets(parts: NStepParts, bootstrap_values: Tensor) -> Tensor:
    """``sums + discounts * bootstrap_values[index]``: the return of :func:`n_step_return_parts` (no gradient).

    ``bootstrap_values`` is ``(T, B)`` (value of observation ``t + 1``) or longer in time, as long as
    every ``index`` falls inside it.
    """
    if bootstrap_values.dim() != 2 or bootstrap_values.shape[1] != parts.sums.shape[1]:
        raise ValueError(f"bootstrap_values must have shape (T, {parts.sums.shape[1]}), "
                         f"got {tuple(bootstrap_values.shape)}")
    with torch.no_grad():
        return parts.sums + parts.discounts * bootstrap_values.gather(0, parts.index)


def _check_mask(q: Tensor, action_mask: Tensor | None) -> None:
    if action_mask is not None and (action_mask.shape != q.shape or action_mask.dtype != torch.bool):
        raise ValueError(f"action_mask must be a bool tensor shaped like the Q-values {tuple(q.shape)} (True = "
                         f"allowed), got {action_mask.dtype} {tuple(action_mask.shape)}")


def max_q_bootstrap(q_next_target: Tensor, action_mask: Tensor | None = None) -> Tensor:
    """``max_a Q_target(o_{t+1}, a)``: DQN's bootstrap value, ``(T, B, A) -> (T, B)``.

    ``action_mask`` (T, B, A) bool, True where ``a`` is allowed in ``o_{t+1}`` (Chapter 8): the max runs
    over allowed actions only; an observation with none allowed bootstraps 0.
    """
    q = q_next_target.detach()
    if action_mask is None:
        return q.max(dim=-1).values
    _check_mask(q, action_mask)
    values = q.masked_fill(~action_mask, -torch.inf).max(dim=-1).values
    return torch.where(action_mask.any(dim=-1), values, torch.zeros_like(values))


def double_q_bootstrap(q_next_target: Tensor, q_next_online: Tensor, action_mask: Tensor | None = None) -> Tensor:
    """``Q_target(o_{t+1}, argmax_a Q_online(o_{t+1}, a))``: Double DQN (van Hasselt et al., 2016), ``(T, B)``.

    ``action_mask`` as in :func:`max_q_bootstrap`: the argmax runs over allowed actions only.
    """
    if q_next_target.shape != q_next_online.shape:
        raise ValueError(f"q_next_target {tuple(q_next_target.shape)} and q_next_online "
                         f"{tuple(q_next_online.shape)} must have the same shape")
    online = q_next_online.detach()
    if action_mask is not None:
        _check_mask(online, action_mask)
        online = online.masked_fill(~action_mask, -torch.inf)
    best = online.argmax(dim=-1, keepdim=True)
    values = q_next_target.detach().gather(-1, best).squeeze(-1)
    if action_mask is None:
        return values
    return torch.where(action_mask.any(dim=-1), values, torch.zeros_like(values))


def branch_values(q: Tensor, branches: tuple[int, ...]) -> list[Tensor]:
    """A branching head's flat output ``(..., sum(branches))`` split into one ``(..., K_i)`` tensor per dimension."""
    branches = check_branches(branches)
    if q.shape[-1] != sum(branches):
        raise ValueError(f"a branching head with branches {branches} has {sum(branches)} outputs, got q of shape "
                         f"{tuple(q.shape)}")
    return list(torch.split(q, branches, dim=-1))


def branching_bootstrap(q_next_target: Tensor, q_next_online: Tensor | None, branches: tuple[int, ...]) -> Tensor:
    r"""The bootstrap value of a branching head (Chapter 6), ``(T, B, sum K) -> (T, B)``: the mean over dimensions.

    .. math::
        v(o_{t+1}) = \frac{1}{d} \sum_{i=1}^{d} Q^{i}_{\bar\theta}\big(o_{t+1}, \arg\max_{a_i} Q^{i}_\theta(o_{t+1}, a_i)\big)

    (the max of each target branch when ``q_next_online`` is ``None``). Every branch is then trained towards the
    same target :math:`y_t = r + \gamma v`. We chose the mean, as BDQ (Tavakoli et al., 2018) and DecQN (Seyde
    et al., 2023) do, over a separate target per branch (each branch bootstrapping from its own max): a per-branch
    max lets each branch assume the best choice of the others, and their errors do not average out; the mean is
    one shared, lower-variance value, and it makes ``Q(s, a) = mean_i Q_i(s, a_i)`` a consistent joint
    value whose greedy action is the per-branch argmax.
    """
    target_parts = branch_values(q_next_target.detach(), branches)
    if q_next_online is None:
        values = [p.max(dim=-1).values for p in target_parts]
    else:
        if q_next_online.shape != q_next_target.shape:
            raise ValueError(f"q_next_target {tuple(q_next_target.shape)} and q_next_online "
                             f"{tuple(q_next_online.shape)} must have the same shape")
        online_parts = branch_values(q_next_online.detach(), branches)
        values = [t.gather(-1, o.argmax(dim=-1, keepdim=True)).squeeze(-1) for t, o in zip(target_parts, online_parts)]
    return torch.stack(values, dim=-1).mean(dim=-1)


def branching_q_taken(q: Tensor, actions: Tensor, branches: tuple[int, ...]) -> Tensor:
    """Each branch's value of the action it took: ``q`` (T, B, sum K), joint ``actions`` (T, B) -> (T, B, d)."""
    if actions.shape != q.shape[:-1]:
        raise ValueError(f"actions must have shape {tuple(q.shape[:-1])}, got {tuple(actions.shape)}")
    per_dim = joint_to_branches(actions, check_branches(branches))
    return torch.stack([p.gather(-1, per_dim[..., i:i + 1]).squeeze(-1)
                        for i, p in enumerate(branch_values(q, branches))], dim=-1)


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
    r"""n-step (Double) DQN targets for every transition of a window, in one call.

    .. math::
        y_t = \sum_{k=0}^{m-1} \gamma^k r_{t+k} + \gamma^m (1 - \text{terminated}_{t+m-1})
              \, Q_{\bar\theta}\big(o_{t+m}, \arg\max_a Q_\theta(o_{t+m}, a)\big)

    The composition of a bootstrap value (:func:`double_q_bootstrap`, or :func:`max_q_bootstrap`
    when ``q_next_online`` is ``None``) with :func:`n_step_return_parts` and :func:`n_step_targets`.

    Args:
        rewards, terminated, truncated, valid: ``(T, B)``.
        q_next_target: ``(T, B, A)`` target-network Q-values of observation ``t + 1``.
        q_next_online: ``(T, B, A)`` online Q-values of observation ``t + 1`` to pick the
            action (Double DQN), or ``None`` for the plain max.
        gamma: discount in ``[0, 1]``.
        n_steps: number of rewards summed before bootstrapping, ``>= 1``.

    Returns:
        ``(T, B)`` targets (no gradient); entries where ``valid`` is 0 are 0.
    """
    parts = n_step_return_parts(rewards, terminated, truncated, valid, gamma, n_steps)
    T, B = rewards.shape
    if q_next_target.dim() != 3 or q_next_target.shape[:2] != (T, B):
        raise ValueError(f"q_next_target must have shape ({T}, {B}, n_actions), got {tuple(q_next_target.shape)}")
    bootstrap = (max_q_bootstrap(q_next_target) if q_next_online is None
                 else double_q_bootstrap(q_next_target, q_next_online))
    return n_step_targets(parts, bootstrap.float())


def value_rescale(x: Tensor, eps: float = 1e-3) -> Tensor:
    r"""R2D2's value rescaling (Pohlen et al., 2018): :math:`h(x) = \operatorname{sign}(x)(\sqrt{|x| + 1} - 1) + \epsilon x`.

    The network learns :math:`h(Q)` instead of :math:`Q`, and the n-step target becomes
    :math:`h\big(\text{sums} + \text{discounts}\, h^{-1}(v)\big)`. Large returns are squashed
    (``h(100) = 9.15``), so targets near ``1 / (1 - gamma)`` no longer dominate the regression;
    ``h`` is strictly increasing, so the greedy action is the same in either scale. ``eps``
    (R2D2: 1e-3) keeps ``h`` Lipschitz-invertible; it must be positive.
    """
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    return torch.sign(x) * (torch.sqrt(x.abs() + 1.0) - 1.0) + eps * x


def value_rescale_inverse(y: Tensor, eps: float = 1e-3) -> Tensor:
    r"""The exact inverse of :func:`value_rescale`:
    :math:`h^{-1}(y) = \operatorname{sign}(y)\Big(\big(\tfrac{\sqrt{1 + 4\epsilon(|y| + 1 + \epsilon)} - 1}{2\epsilon}\big)^2 - 1\Big)`."""
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    c = y.abs() + 1.0 + eps
    root = 2.0 * c / (torch.sqrt(1.0 + 4.0 * eps * c) + 1.0)  # (sqrt(1 + 4 eps c) - 1) / (2 eps), without the
    # cancellation that costs float32 about 3e-5 near y = 0
    return torch.sign(y) * (root * root - 1.0)


def advantage_learning_targets(targets: Tensor, q_target_now: Tensor, actions: Tensor, alpha: float) -> Tensor:
    r"""Advantage learning (Baird, 1999; Bellemare et al., 2016): widen the action gap the greedy choice rests on.

    .. math::
        y^{\text{AL}}_t = y_t - \alpha \big(\max_b Q_{\bar\theta}(o_t, b) - Q_{\bar\theta}(o_t, a_t)\big)

    The target of an action the target network does not rate best is lowered by ``alpha`` times
    its gap; the best action's target is unchanged. The greedy policy of the fixed point is still
    optimal, but each suboptimal action's gap grows about ``1 / (1 - alpha)``-fold, so errors in
    Q that are small next to Q's scale (near ``1 / (1 - gamma)`` on CartPole) no longer flip the
    argmax. Bellemare et al. use ``alpha = 0.9``; ``alpha = 0`` returns ``targets`` unchanged.

    Args:
        targets: ``(T, B)`` TD targets (e.g. from :func:`n_step_td_targets`).
        q_target_now: ``(T, B, A)`` target-network Q-values of the observations the actions were taken in.
        actions: ``(T, B)`` integer actions taken.
        alpha: the advantage-learning coefficient, in ``[0, 1)``.
    """
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1), got {alpha}")
    if q_target_now.dim() != 3 or q_target_now.shape[:2] != targets.shape or actions.shape != targets.shape:
        raise ValueError(f"q_target_now must be (T, B, A) and actions (T, B) for targets {tuple(targets.shape)}; got "
                         f"{tuple(q_target_now.shape)} and {tuple(actions.shape)}")
    if alpha == 0.0:
        return targets
    with torch.no_grad():
        q = q_target_now.detach()
        gap = q.max(dim=-1).values - q.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
        return targets - alpha * gap


def _weighted_masked_mean(per_step: Tensor, mask: Tensor, weights: Tensor | None) -> Tensor:
    """The mean of ``per_step`` (T, B) over entries where ``mask`` is 1, each window's terms times its weight (B,)."""
    mask = mask.to(per_step.dtype)
    if weights is not None:
        if weights.shape != per_step.shape[-1:]:
            raise ValueError(f"weights must have shape {tuple(per_step.shape[-1:])} (one per window), "
                             f"got {tuple(weights.shape)}")
        per_step = per_step * weights.to(per_step.dtype)
    return (per_step * mask).sum() / mask.sum().clamp(min=1.0)


def td_loss(q_taken: Tensor, targets: Tensor, mask: Tensor, kind: str = "huber",
            weights: Tensor | None = None) -> Tensor:
    """Mean Huber (``smooth_l1`` with delta 1) or squared TD error over entries where ``mask`` is 1.

    ``weights`` (one per window, shape ``(B,)`` for ``(T, B)`` errors) scales each window's terms:
    the importance-sampling correction of a prioritized replay. The mean is still over the masked
    entries, so weights of 1 give the unweighted loss exactly.
    """
    if kind not in ("huber", "mse"):
        raise ValueError(f"unknown loss {kind!r} for td_loss, which regresses Q: use 'huber' or 'mse' (the "
                         f"histogram loss 'hl_gauss' is hl_gauss_loss; every TrainConfig loss: {', '.join(LOSSES)})")
    if q_taken.shape != targets.shape or mask.shape != targets.shape:
        raise ValueError(f"q_taken {tuple(q_taken.shape)}, targets {tuple(targets.shape)} and mask "
                         f"{tuple(mask.shape)} must have the same shape")
    fn = F.smooth_l1_loss if kind == "huber" else F.mse_loss
    per_step = fn(q_taken, targets, reduction="none")
    return _weighted_masked_mean(per_step, mask, weights)


def hl_gauss_probs(targets: Tensor, bin_edges: Tensor, sigma: float | Tensor) -> Tensor:
    r"""HL-Gauss (Imani & White, 2018; Farebrother et al., 2024): a scalar target as a histogram, ``(...) -> (..., K)``.

    The probability of bin :math:`k` is the mass a Gaussian :math:`\mathcal{N}(y, \sigma^2)` puts on it,
    :math:`p_k = \Phi\big(\tfrac{e_{k+1} - y}{\sigma}\big) - \Phi\big(\tfrac{e_k - y}{\sigma}\big)`,
    renormalized to the support :math:`[e_0, e_K]`; targets outside it are clipped to its ends first.
    ``bin_edges`` are the ``K + 1`` increasing edges. Farebrother et al. use ``sigma`` = 0.75 bin widths.
    ``sigma`` may be a 0-d tensor on the edges' device: nothing here then waits for the GPU (so a tensor on a GPU
    is not checked to be > 0).
    """
    if bin_edges.dim() != 1 or bin_edges.numel() < 3:
        raise ValueError(f"bin_edges must be 1-D with at least 3 edges (2 bins), got shape {tuple(bin_edges.shape)}")
    checkable = not isinstance(sigma, Tensor) or sigma.device.type == "cpu"
    if checkable and not bool(sigma > 0):
        raise ValueError(f"sigma must be > 0, got {float(sigma)}")
    with torch.no_grad():
        edges = bin_edges.to(targets.dtype)
        y = targets.clamp(edges[0], edges[-1]).unsqueeze(-1)
        cdf = torch.special.ndtr((edges - y) / sigma)  # (..., K + 1)
        mass = cdf[..., 1:] - cdf[..., :-1]
        return mass / (cdf[..., -1:] - cdf[..., :1]).clamp(min=1e-12)


def hl_gauss_loss(logits_taken: Tensor, targets: Tensor, mask: Tensor, bin_edges: Tensor,
                  sigma: float | Tensor | None = None, weights: Tensor | None = None) -> Tensor:
    """Cross-entropy between the taken actions' value histograms and HL-Gauss targets, mean over ``mask``.

    ``logits_taken`` (T, B, K): the histogram logits of the action taken at each step; ``targets`` and
    ``mask`` (T, B); ``bin_edges`` (K + 1,); ``sigma`` defaults to 0.75 bin widths. ``weights`` as in
    :func:`td_loss`. Unlike a regression loss, the gradient on the logits is bounded (by 2 in L1) however far
    the target lies, and it does not grow with the scale of the returns.
    """
    if logits_taken.dim() != 3 or logits_taken.shape[:2] != targets.shape or mask.shape != targets.shape:
        raise ValueError(f"logits_taken must be (T, B, K) and mask (T, B) for targets {tuple(targets.shape)}; got "
                         f"{tuple(logits_taken.shape)} and {tuple(mask.shape)}")
    if logits_taken.shape[-1] != bin_edges.numel() - 1:
        raise ValueError(f"{logits_taken.shape[-1]} logits per step need {logits_taken.shape[-1] + 1} bin edges, "
                         f"got {bin_edges.numel()}")
    if sigma is None:
        sigma = 0.75 * (bin_edges[1] - bin_edges[0]).double()  # a 0-d tensor: no device sync
    probs = hl_gauss_probs(targets, bin_edges, sigma)
    per_step = -(probs * torch.log_softmax(logits_taken, dim=-1)).sum(-1)
    return _weighted_masked_mean(per_step, mask, weights)


def value_range_from_rewards(reward_min: float, reward_max: float, gamma: float,
                             margin: float = 0.1) -> tuple[float, float]:
    r"""The range a value histogram must cover, from the rewards seen and :math:`\gamma` (``loss='hl_gauss'``).

    With every reward in :math:`[r_{min}, r_{max}]` a discounted return lies in
    :math:`[\min(0, r_{min}), \max(0, r_{max})] / (1 - \gamma)`; each end moves out by ``margin`` times
    that width, for rewards more extreme than those seen. CartPole (every reward 1, :math:`\gamma = 0.99`):
    :math:`[-10, 110]`. The ends are rounded to float32, the precision the bins are kept in. If every reward
    seen was 0 there is no scale to take: the range assumes :math:`|r| \le 1` and says so in a warning.
    """
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"a value range from the rewards needs 0 <= gamma < 1 (returns are bounded by "
                         f"r / (1 - gamma)), got gamma={gamma}; set value_min and value_max instead")
    if not (math.isfinite(reward_min) and math.isfinite(reward_max) and reward_min <= reward_max):
        raise ValueError(f"need finite reward_min <= reward_max, got {reward_min}, {reward_max}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    low, high = min(0.0, reward_min) / (1.0 - gamma), max(0.0, reward_max) / (1.0 - gamma)
    if low == high:
        warnings.warn("loss='hl_gauss': every reward seen before learning started was 0, so the value range "
                      f"assumes rewards in [-1, 1] (gamma={gamma}); set value_min and value_max if they can be "
                      "larger", stacklevel=2)
        low, high = -1.0 / (1.0 - gamma), 1.0 / (1.0 - gamma)
    pad = margin * (high - low)
    return float(np.float32(low - pad)), float(np.float32(high + pad))


def sequence_priorities(td_errors: Tensor, mask: Tensor, eta: float) -> Tensor:
    """R2D2's priority of a window: ``eta * max_t |delta_t| + (1 - eta) * mean_t |delta_t|``.

    ``td_errors`` and ``mask`` are ``(T, B)``; the max and mean run over the masked steps of each
    window (a window without any gets priority 0). Kapturowski et al. (2019) use ``eta = 0.9``:
    the mean alone washes out one large error in a long window, the max alone is noisy.
    """
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    m = mask.to(td_errors.dtype)
    err = td_errors.abs() * m
    count = m.sum(0)
    mean = err.sum(0) / count.clamp(min=1.0)
    return eta * err.amax(0) + (1.0 - eta) * mean
