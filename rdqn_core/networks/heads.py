"""Q-value heads on top of a torso's features (Chapters 3 and 4; Chapters 6 and 8 add more)."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .base import branches_to_joint, check_branches, joint_to_branches, mlp

__all__ = ["check_value_support", "QHead", "BranchingQHead", "joint_to_branches", "branches_to_joint", "check_branches"]


def check_value_support(value_support: tuple[float | None, float | None, int]
                        ) -> tuple[float | None, float | None, int]:
    """``(low, high, bins)`` of a histogram head, checked: ``low < high`` finite (or both None: the range is
    set later, from the task, by :meth:`QHead.set_value_range`), ``bins >= 2``."""
    try:
        low, high, bins = value_support
    except (TypeError, ValueError):
        raise ValueError(f"value_support must be (low, high, bins), got {value_support!r}") from None
    if isinstance(bins, bool) or not isinstance(bins, (int, float)) or int(bins) != bins or bins < 2:
        raise ValueError(f"value_support needs an integer number of bins >= 2, got {bins!r}")
    if low is None and high is None:
        return None, None, int(bins)
    _check_range(low, high)
    return float(low), float(high), int(bins)


def _check_range(low, high) -> None:
    if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and math.isfinite(low)
            and math.isfinite(high) and low < high):
        raise ValueError(f"a value histogram needs finite low < high (or both None: from the task), got "
                         f"low={low!r}, high={high!r}")


class QHead(nn.Module):
    """``features (..., in_dim) -> Q (..., n_actions)`` through one hidden ReLU layer.

    With ``dueling=True`` the last layer splits into a state value ``V`` and advantages ``A``,
    ``Q = V + A - mean(A)`` (Wang et al., 2016): the large common value and the small differences
    between actions are learned by separate outputs.

    With ``value_support=(low, high, bins)`` the head outputs, per action, logits over ``bins`` equal
    bins covering ``[low, high]``, and Q is the mean of that histogram (the HL-Gauss loss of
    :func:`rdqn_core.losses.hl_gauss_loss` trains it; Farebrother et al., 2024). ``forward`` still
    returns Q; ``forward(features, logits=True)`` returns the ``(..., n_actions, bins)`` logits.
    ``low = high = None`` leaves the range to :meth:`set_value_range` (the agent sets it from the rewards seen
    before learning starts); until then the bins span ``[0, 1]``, which ranks the actions as any range would.
    The bin edges are saved with the weights, so a checkpoint carries the range it was trained with.
    """

    def __init__(self, in_dim: int, hidden_size: int, n_actions: int, dueling: bool = False,
                 layer_norm: bool = False, value_support: tuple[float | None, float | None, int] | None = None):
        super().__init__()
        if value_support is not None and dueling:
            raise ValueError("a histogram head (value_support) has no dueling form; use dueling=False")
        self.dueling, self.n_actions = dueling, int(n_actions)
        low, high, self.bins = (None, None, 0) if value_support is None else check_value_support(value_support)
        self.hidden = mlp([in_dim, hidden_size], layer_norm=layer_norm)
        outputs = n_actions * self.bins if self.bins else n_actions + (1 if dueling else 0)
        self.out = nn.Linear(hidden_size, outputs)
        if self.bins:
            self.register_buffer("bin_edges", torch.empty(self.bins + 1))  # saved: the range may come from the task
            self.register_buffer("bin_centers", torch.empty(self.bins))
            self.set_value_range(0.0 if low is None else low, 1.0 if high is None else high)

    def set_value_range(self, low: float, high: float) -> None:
        """Spread the histogram's bins evenly over ``[low, high]`` (in place: every copy of the buffers follows)."""
        if not self.bins:
            raise ValueError("set_value_range needs a histogram head (value_support); this head regresses Q")
        _check_range(low, high)
        with torch.no_grad():
            edges = torch.linspace(low, high, self.bins + 1, device=self.bin_edges.device)
            self.bin_edges.copy_(edges)
            self.bin_centers.copy_((edges[1:] + edges[:-1]) / 2)

    def expected_q(self, logits: Tensor) -> Tensor:
        """Q as the mean of the histogram: ``logits (..., A, bins) -> (..., A)``."""
        return (torch.softmax(logits, dim=-1) * self.bin_centers).sum(-1)

    def forward(self, features: Tensor, logits: bool = False) -> Tensor:
        out = self.out(self.hidden(features))
        if self.bins:
            histogram = out.unflatten(-1, (self.n_actions, self.bins))
            return histogram if logits else self.expected_q(histogram)
        if logits:
            raise ValueError("logits=True needs a histogram head (value_support); this head regresses Q")
        if not self.dueling:
            return out
        value, advantages = out[..., :1], out[..., 1:]
        return value + advantages - advantages.mean(dim=-1, keepdim=True)


class BranchingQHead(nn.Module):
    """One Q head per action dimension on a shared torso: ``features -> (..., sum(branches))`` (Chapter 6).

    Action branching (Tavakoli et al., 2018): dimension ``i`` gets ``branches[i]`` outputs ``Q_i(s, a_i)``, so
    ``d`` dimensions of ``K`` choices need ``K * d`` outputs instead of the joint grid's ``K ** d``. A shared
    hidden layer feeds all branches. With ``dueling=True`` one state value is shared,
    ``Q_i = V + A_i - mean(A_i)`` (BDQ). The output is flat, the branches side by side in dimension order;
    :func:`rdqn_core.losses.branch_values` splits it.
    """

    def __init__(self, in_dim: int, hidden_size: int, branches: tuple[int, ...], dueling: bool = False,
                 layer_norm: bool = False):
        super().__init__()
        self.branches, self.dueling = check_branches(branches), dueling
        self.hidden = mlp([in_dim, hidden_size], layer_norm=layer_norm)
        self.out = nn.Linear(hidden_size, sum(self.branches) + (1 if dueling else 0))

    def forward(self, features: Tensor) -> Tensor:
        out = self.out(self.hidden(features))
        if not self.dueling:
            return out
        value, parts = out[..., :1], torch.split(out[..., 1:], self.branches, dim=-1)
        return torch.cat([value + a - a.mean(dim=-1, keepdim=True) for a in parts], dim=-1)
