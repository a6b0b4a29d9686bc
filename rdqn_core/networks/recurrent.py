"""The recurrent Q-network of a DRQN (Chapter 4).

The recurrent state is data passed in and out, never kept on ``self``; it is reset
by multiplying with ``(1 - episode_start)`` at every step where an episode begins.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..types import CELL_TYPES, RecurrentState
from .base import QNetworkBase, check_sizes, mlp
from .mlp import _head

__all__ = ["RecurrentQNetwork"]


class RecurrentQNetwork(QNetworkBase):
    """DRQN: encoder MLP -> one-layer LSTM/GRU/RNN -> MLP Q head (after Hausknecht & Stone, 2015).

    ``episode_starts[t, b] = 1`` resets environment ``b``'s memory *before* step ``t`` is
    processed. When no reset happens after ``t = 0`` (the usual replay window) the
    whole sequence goes through one fused ``nn.LSTM`` call; otherwise it is unrolled
    step by step. Both paths give the same numbers (tested).
    """

    is_recurrent = True

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden_size: int = 64,
        encoder_sizes: tuple[int, ...] = (64,),
        prev_action_input: bool = True,
        cell: str = "lstm",
        normalize_obs: bool = False,
        dueling: bool = False,
        layer_norm: bool = False,
        action_branches: tuple[int, ...] | None = None,
        value_support: tuple[float | None, float | None, int] | None = None,
    ):
        check_sizes(obs_dim, n_actions, hidden_size, encoder_sizes)
        if cell not in CELL_TYPES:
            raise ValueError(f"unknown cell {cell!r}; allowed: {', '.join(CELL_TYPES)}")
        super().__init__(obs_dim, n_actions, prev_action_input, normalize_obs, action_branches)
        self.cell, self.hidden_size = cell, int(hidden_size)
        self.encoder = mlp([self.in_dim, *encoder_sizes], layer_norm=layer_norm)
        rnn_in = encoder_sizes[-1] if encoder_sizes else self.in_dim
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = rnn_cls(rnn_in, hidden_size)  # time-major: (T, B, features)
        # A ReLU layer after the core: its outputs are bounded by tanh, while CartPole's Q-values
        # grow towards 1 / (1 - gamma) = 100; a linear head alone needs huge weights to get there.
        self.head = _head(hidden_size, hidden_size, n_actions, self.action_branches, dueling=dueling,
                          layer_norm=layer_norm, value_support=value_support)

    def encode(self, obs: Tensor, prev_actions: Tensor | None = None) -> Tensor:
        """The recurrent core's input sequence: ``obs`` (T, B, obs_dim) -> (T, B, features).

        Normalizes the observations, appends the one-hot previous action (if the network uses
        it; ``None`` or ``-1`` means "no previous action") and applies the encoder. ``forward``
        starts with this; chapter 5 uses it to unroll the core by hand.
        """
        return self.encoder(self.inputs(obs, prev_actions))  # (T, B, features)

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> RecurrentState:
        zeros = torch.zeros(1, batch_size, self.hidden_size, device=device)
        return RecurrentState(zeros, zeros.clone() if self.cell == "lstm" else None)

    def _check_state(self, state: RecurrentState, batch: int) -> None:
        expected = (1, batch, self.hidden_size)
        if tuple(state.h.shape) != expected or (self.cell == "lstm") != (state.c is not None):
            got = (tuple(state.h.shape), None if state.c is None else tuple(state.c.shape))
            raise ValueError(f"state for a {self.cell} core with batch {batch} must be (h, c) shaped {expected}"
                             f"{' each' if self.cell == 'lstm' else ' with c=None'}; got {got}")

    def _rnn(self, x: Tensor, state: RecurrentState) -> tuple[Tensor, RecurrentState]:
        if self.cell == "lstm":
            out, (h, c) = self.rnn(x, (state.h, state.c))
            return out, RecurrentState(h, c)
        out, h = self.rnn(x, state.h)
        return out, RecurrentState(h)

    def advance(self, x: Tensor, state: RecurrentState) -> RecurrentState:
        """The state after running ``x`` (T, B, in_dim) from ``state`` in one fused call; no Q-values.

        What a burn-in needs (no reset inside: a replayed window never has one there).
        """
        self._check_state(state, x.shape[1])
        return self._rnn(self.encoder(x), state)[1]

    def unroll(self, x: Tensor, state: RecurrentState | None = None, episode_starts: Tensor | None = None,
               resets_inside: bool | None = None, logits: bool = False) -> tuple[Tensor, RecurrentState]:
        """``x`` (T, B, in_dim) from :meth:`~rdqn_core.networks.QNetworkBase.inputs` -> Q (T, B, n_actions) and the state after step ``T - 1``.

        ``resets_inside``: whether ``episode_starts[1:]`` has a 1 anywhere. Pass it when you know it
        (the replay does, at sample time); ``None`` makes the network check, which costs a
        device-to-host sync on a GPU. ``logits=True`` (a histogram head only) returns the
        ``(T, B, n_actions, bins)`` logits instead of Q.
        """
        T, B = x.shape[:2]
        x = self.encoder(x)  # (T, B, features)
        if state is None:
            state = self.initial_state(B, x.device)
        self._check_state(state, B)
        if episode_starts is None:
            episode_starts, resets_inside = torch.zeros(T, B, device=x.device), False
        if episode_starts.shape != (T, B):
            raise ValueError(f"episode_starts must have shape {(T, B)} (T, B), got {tuple(episode_starts.shape)}")
        keep = 1.0 - episode_starts.to(x.dtype)
        state = state.masked(keep[0])
        if resets_inside is None:
            resets_inside = T > 1 and bool((keep[1:] != 1).any())
        if T == 1 or not resets_inside:
            out, state = self._rnn(x, state)  # fast path: one fused call
        else:
            outs = []
            for t in range(T):  # slow path: a reset inside the sequence
                if t > 0:
                    state = state.masked(keep[t])
                out_t, state = self._rnn(x[t : t + 1], state)
                outs.append(out_t)
            out = torch.cat(outs)
        if logits:
            return self.head(out, logits=True), state  # (T, B, n_actions, bins)
        return self.head(out), state  # (T, B, n_actions)
