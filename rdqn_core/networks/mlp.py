"""The memoryless Q-network of a DQN (Chapter 3)."""
from __future__ import annotations

import torch
from torch import Tensor

from .base import QNetworkBase, check_sizes, mlp
from .heads import BranchingQHead, QHead

__all__ = ["MLPQNetwork"]


def _head(in_dim: int, hidden_size: int, n_actions: int, branches: tuple[int, ...] | None, dueling: bool,
          layer_norm: bool, value_support: tuple[float | None, float | None, int] | None = None):
    """The joint :class:`QHead` (one output per action, or a histogram per action with ``value_support``), or
    one head per action dimension (Chapter 6)."""
    if branches is None:
        return QHead(in_dim, hidden_size, n_actions, dueling=dueling, layer_norm=layer_norm,
                     value_support=value_support)
    if value_support is not None:
        raise ValueError("a branching head has no histogram form (value_support); use loss 'huber' or 'mse'")
    return BranchingQHead(in_dim, hidden_size, branches, dueling=dueling, layer_norm=layer_norm)


class MLPQNetwork(QNetworkBase):
    """Memoryless Q-network ``obs -> Q(obs, .)``; accepts and returns ``state`` unchanged (``None``).

    Layers: encoder MLP (``encoder_sizes``) -> Q head (one hidden layer of ``hidden_size``).
    ``action_branches`` (Chapter 6) swaps the head for a :class:`~rdqn_core.networks.BranchingQHead`.
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden_size: int = 64,
        encoder_sizes: tuple[int, ...] = (64,),
        prev_action_input: bool = False,
        normalize_obs: bool = False,
        dueling: bool = False,
        layer_norm: bool = False,
        action_branches: tuple[int, ...] | None = None,
        value_support: tuple[float | None, float | None, int] | None = None,
    ):
        check_sizes(obs_dim, n_actions, hidden_size, encoder_sizes)
        super().__init__(obs_dim, n_actions, prev_action_input, normalize_obs, action_branches)
        self.body = mlp([self.in_dim, *encoder_sizes], layer_norm=layer_norm)
        self.head = _head(encoder_sizes[-1] if encoder_sizes else self.in_dim, hidden_size, n_actions,
                          self.action_branches, dueling=dueling, layer_norm=layer_norm, value_support=value_support)

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> None:
        return None

    def unroll(self, x: Tensor, state: None = None, episode_starts: Tensor | None = None,
               resets_inside: bool | None = None, logits: bool = False) -> tuple[Tensor, None]:
        """``x`` (T, B, in_dim) from :meth:`~rdqn_core.networks.QNetworkBase.inputs` -> Q (T, B, n_actions); no memory, so no state.

        ``logits=True`` (a histogram head only) returns the ``(T, B, n_actions, bins)`` logits instead of Q.
        """
        features = self.body(x)
        return (self.head(features, logits=True) if logits else self.head(features)), None
