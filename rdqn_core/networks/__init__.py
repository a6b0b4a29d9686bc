"""Q-networks: the input pipeline, a memoryless MLP, a recurrent core, and their heads (Chapters 3 and 4).

Chapters 6 and 8 add a branching head and a convolutional network here.
"""
from __future__ import annotations

from torch import nn

from .base import QNetworkBase
from .conv import ConvQNetwork
from .heads import BranchingQHead, QHead, branches_to_joint, check_branches, joint_to_branches
from .mlp import MLPQNetwork
from .normalizer import ObservationNormalizer
from .recurrent import RecurrentQNetwork

__all__ = ["QNetworkBase", "QHead", "MLPQNetwork", "RecurrentQNetwork", "ObservationNormalizer", "build_q_network",
           "ConvQNetwork", "BranchingQHead", "branches_to_joint", "check_branches", "joint_to_branches"]


def build_q_network(cell: str, obs_dim: int, n_actions: int, hidden_size: int = 64,
                    encoder_sizes: tuple[int, ...] = (64,), prev_action_input: bool = True,
                    normalize_obs: bool = False, dueling: bool = False, layer_norm: bool = False,
                    obs_shape: tuple[int, ...] | None = None,
                    action_branches: tuple[int, ...] | None = None,
                    value_support: tuple[float | None, float | None, int] | None = None) -> nn.Module:
    """``cell="mlp"`` gives the memoryless :class:`MLPQNetwork`, ``"conv"`` a :class:`ConvQNetwork`, else a
    :class:`RecurrentQNetwork`.

    ``obs_shape`` is the unflattened observation shape; ``"conv"`` needs ``(channels, rows, cols)`` with
    ``rows * cols == n_actions`` (without it, the channels are ``obs_dim // n_actions`` and the board size
    comes with the weights, from a state dict). The other networks flatten it and ignore it.
    ``action_branches`` (Chapter 6): choices per action dimension for a branching head (``mlp`` and recurrent).
    ``value_support``: ``(low, high, bins)`` of a histogram head trained by the HL-Gauss loss (``mlp`` and recurrent;
    ``low = high = None``: the range is set later, from the task, by ``QHead.set_value_range``).
    """
    if action_branches is not None and cell == "conv":
        raise ValueError("cell='conv' has one Q per board cell and no branching head; use action_branches=None")
    if value_support is not None and cell == "conv":
        raise ValueError("cell='conv' regresses one Q per board cell and has no histogram head; use "
                         "value_support=None (loss 'huber' or 'mse')")
    if cell == "conv":
        if dueling or layer_norm:
            raise ValueError("cell='conv' has neither a dueling head nor LayerNorm; use dueling=False, "
                             "layer_norm=False")
        if obs_shape is None:
            if obs_dim % n_actions:
                raise ValueError(f"cell='conv' needs obs_dim = channels * n_actions, got obs_dim={obs_dim}, "
                                 f"n_actions={n_actions}")
            network = ConvQNetwork(obs_dim // n_actions, None, tuple(encoder_sizes))
            network.obs_dim = network.in_dim = int(obs_dim)  # the sizes a checkpoint records; its
            network.n_actions = int(n_actions)  # state dict then brings the board shape
            return network
        if len(obs_shape) != 3 or obs_shape[1] * obs_shape[2] != n_actions:
            raise ValueError(f"cell='conv' needs a (channels, rows, cols) observation with one action per cell "
                             f"(rows * cols == n_actions={n_actions}), got observation shape {tuple(obs_shape)}")
        return ConvQNetwork(obs_shape[0], tuple(obs_shape[1:]), tuple(encoder_sizes))
    if cell == "mlp":
        return MLPQNetwork(obs_dim, n_actions, hidden_size, encoder_sizes, prev_action_input, normalize_obs,
                           dueling=dueling, layer_norm=layer_norm, action_branches=action_branches,
                           value_support=value_support)
    return RecurrentQNetwork(obs_dim, n_actions, hidden_size, encoder_sizes, prev_action_input, cell, normalize_obs,
                             dueling=dueling, layer_norm=layer_norm, action_branches=action_branches,
                             value_support=value_support)
