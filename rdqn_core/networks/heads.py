"""Q-value heads on top of a torso's features (Chapters 3 and 4; Chapters 6 and 8 add more)."""
from __future__ import annotations

from torch import Tensor, nn

from .base import mlp

__all__ = ["QHead"]


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
