"""Q-networks: the input pipeline, a memoryless MLP, a recurrent core, and their heads (Chapters 3 and 4).

Chapters 6 and 8 add a branching head and a convolutional network here.
"""
from __future__ import annotations

from torch import nn

from .base import QNetworkBase
from .heads import QHead
from .mlp import MLPQNetwork
from .normalizer import ObservationNormalizer
from .recurrent import RecurrentQNetwork

__all__ = ["QNetworkBase", "QHead", "MLPQNetwork", "RecurrentQNetwork", "ObservationNormalizer", "build_q_network"]


def build_q_network(cell: str, obs_dim: int, n_actions: int, hidden_size: int = 64,
                    encoder_sizes: tuple[int, ...] = (64,), prev_action_input: bool = True,
                    normalize_obs: bool = False, dueling: bool = False, layer_norm: bool = False) -> nn.Module:
    """``cell="mlp"`` gives the memoryless :class:`MLPQNetwork`, else a :class:`RecurrentQNetwork`."""
    if cell == "mlp":
        return MLPQNetwork(obs_dim, n_actions, hidden_size, encoder_sizes, prev_action_input, normalize_obs,
                           dueling=dueling, layer_norm=layer_norm)
    return RecurrentQNetwork(obs_dim, n_actions, hidden_size, encoder_sizes, prev_action_input, cell, normalize_obs,
                             dueling=dueling, layer_norm=layer_norm)
