"""Q-value heads on top of a torso's features (Chapters 3 and 4; Chapters 6 and 8 add more)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import branches_to_joint, check_branches, joint_to_branches, mlp

__all__ = ["QHead", "BranchingQHead", "joint_to_branches", "branches_to_joint", "check_branches"]


class QHead(nn.Module):
    """``features (..., in_dim) -> Q (..., n_actions)`` through one hidden ReLU layer.

    With ``dueling=True`` the last layer splits into a state value ``V`` and advantages ``A``,
    ``Q = V + A - mean(A)`` (Wang et al., 2016): the large common value and the small differences
    between actions are learned by separate outputs.
    """

    def __init__(self, in_dim: int, hidden_size: int, n_actions: int, dueling: bool = False,
                 layer_norm: bool = False):
        super().__init__()
        self.dueling = dueling
        self.hidden = mlp([in_dim, hidden_size], layer_norm=layer_norm)
        self.out = nn.Linear(hidden_size, n_actions + (1 if dueling else 0))

    def forward(self, features: Tensor) -> Tensor:
        out = self.out(self.hidden(features))
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
