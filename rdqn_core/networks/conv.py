"""A fully convolutional Q-network for board games, with action masking (Chapter 8).

One Q-value per board cell, computed by the same small filters everywhere: the weights
do not depend on the board's size, so a network trained on 6x6 plays 8x8 as it is.
Observations are ``(channels, rows, cols)`` board tensors (``rdqn/Minesweeper-v0``);
the replay and the rollout keep them flattened, ``(T, B, channels * rows * cols)``,
and :meth:`ConvQNetwork.inputs` folds them back into boards.

Channel ``mask_channel`` (default 0: "unopened" in Minesweeper) is the action mask:
:meth:`ConvQNetwork.action_mask` reads it, and the acting loop
(:func:`~rdqn_core.rollout.act_epsilon_greedy`) and the bootstrap
(:func:`~rdqn_core.losses.max_q_bootstrap`, :func:`~rdqn_core.losses.double_q_bootstrap`)
only ever choose allowed cells.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .base import QNetworkBase

__all__ = ["ConvQNetwork"]


class ConvQNetwork(QNetworkBase):
    """Memoryless per-cell Q-network: ``(channels, rows, cols) -> Q (rows * cols,)``.

    Layers: ``len(conv_channels)`` 3x3 convolutions with zero padding and ReLU (the padding
    makes the board's edge visible, since every channel is 0 outside the board), then the
    features of each cell are joined with their mean over the board (global context such as
    how much of the board is still unopened, which no local filter sees) and two 1x1
    convolutions give one Q per cell, flattened row-major: action ``row * cols + col``.

    Args:
        channels: input channels of the board tensor (Minesweeper: 10).
        board_shape: ``(rows, cols)`` of the flattened observations the replay and the rollout
            pass; ``None`` if only ``(T, B, channels, rows, cols)`` inputs will be given. Any other
            board size can be passed in that 5-D form with the same weights.
        conv_channels: widths of the 3x3 convolutions.
        mask_channel: the channel that is 1 on cells that may be chosen (``None``: no mask).
    """

    is_recurrent = False

    def __init__(self, channels: int, board_shape: tuple[int, int] | None = None,
                 conv_channels: tuple[int, ...] = (64, 64, 64), mask_channel: int | None = 0):
        if int(channels) < 1:
            raise ValueError(f"channels must be a positive integer, got {channels}")
        if not conv_channels or any(int(c) < 1 for c in conv_channels):
            raise ValueError(f"conv_channels must be one or more positive widths, got {conv_channels}")
        if mask_channel is not None and not 0 <= int(mask_channel) < int(channels):
            raise ValueError(f"mask_channel must be None or in [0, {channels}), got {mask_channel}")
        rows, cols = self._check_board(board_shape) if board_shape is not None else (1, 1)
        super().__init__(int(channels) * rows * cols, rows * cols, prev_action_input=False, normalize_obs=False)
        self.channels, self.mask_channel = int(channels), mask_channel
        self.board_shape = None if board_shape is None else (rows, cols)
        layers: list[nn.Module] = []
        width = self.channels
        for out in conv_channels:
            layers += [nn.Conv2d(width, int(out), 3, padding=1), nn.ReLU()]
            width = int(out)
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Conv2d(2 * width, width, 1), nn.ReLU(), nn.Conv2d(width, 1, 1))

    @staticmethod
    def _check_board(board_shape: Any) -> tuple[int, int]:
        try:
            rows, cols = (int(v) for v in board_shape)
        except (TypeError, ValueError):
            raise ValueError(f"board_shape must be (rows, cols), got {board_shape!r}") from None
        if rows < 1 or cols < 1:
            raise ValueError(f"board_shape must hold two positive sizes, got {board_shape!r}")
        return rows, cols

    # the board size travels with the weights (state_dict), so a loaded network reads flat inputs again
    def get_extra_state(self) -> dict:
        return {"board_shape": None if self.board_shape is None else list(self.board_shape)}

    def set_extra_state(self, state: dict) -> None:
        shape = state.get("board_shape")
        self.set_board_shape(None if shape is None else tuple(shape))

    def set_board_shape(self, board_shape: tuple[int, int] | None) -> None:
        """Change the board size flattened inputs are read with (the weights fit every size)."""
        if board_shape is None:
            self.board_shape = None
            return
        rows, cols = self._check_board(board_shape)
        self.board_shape = (rows, cols)
        self.obs_dim, self.n_actions = self.channels * rows * cols, rows * cols
        self.in_dim = self.obs_dim

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> None:
        return None

    def inputs(self, obs: Tensor, prev_actions: Tensor | None = None) -> Tensor:
        """``obs`` (T, B, channels * rows * cols) or (T, B, channels, rows, cols) -> boards (T, B, C, H, W).

        ``prev_actions`` is ignored (a board shows everything the previous action did).
        """
        if obs.dim() == 5:
            if obs.shape[2] != self.channels:
                raise ValueError(f"obs (T, B, channels, rows, cols) needs {self.channels} channels, "
                                 f"got shape {tuple(obs.shape)}")
            return obs
        if obs.dim() != 3:
            raise ValueError(f"obs must be (T, B, {self.channels} * rows * cols) or (T, B, {self.channels}, rows, "
                             f"cols), got shape {tuple(obs.shape)}")
        if self.board_shape is None:
            raise ValueError("flattened observations need the board size: build ConvQNetwork with board_shape="
                             "(rows, cols), call set_board_shape, or pass (T, B, channels, rows, cols)")
        if obs.shape[-1] != self.obs_dim:
            raise ValueError(f"obs must have shape (T, B, {self.obs_dim}) = (time, batch, {self.channels} x "
                             f"{self.board_shape[0]} x {self.board_shape[1]}), got {tuple(obs.shape)}")
        return obs.reshape(*obs.shape[:2], self.channels, *self.board_shape)

    def action_mask(self, obs: Tensor) -> Tensor | None:
        """``(T, B, rows * cols)`` bool, True on the cells that may be chosen (``obs`` flat or 5-D); None if unmasked."""
        if self.mask_channel is None:
            return None
        boards = self.inputs(obs)  # (T, B, C, H, W)
        return boards[:, :, self.mask_channel].flatten(2) > 0.5

    def unroll(self, x: Tensor, state: None = None, episode_starts: Tensor | None = None,
               resets_inside: bool | None = None) -> tuple[Tensor, None]:
        """``x`` (T, B, C, H, W) from :meth:`inputs` -> Q (T, B, H * W); no memory, so no state."""
        T, B = x.shape[:2]
        features = self.body(x.flatten(0, 1))  # (T * B, width, H, W)
        context = features.mean(dim=(2, 3), keepdim=True).expand_as(features)
        q = self.head(torch.cat([features, context], dim=1))  # (T * B, 1, H, W)
        return q.reshape(T, B, -1), None
