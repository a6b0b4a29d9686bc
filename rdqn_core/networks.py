"""Q-networks: a memoryless MLP and a recurrent Q-network (Chapters 3 and 4).

Both share one calling convention so the agent never needs to know which it has::

    q_values, new_state = net(obs, state, episode_starts, prev_actions)
    # obs (T, B, obs_dim), episode_starts (T, B), prev_actions (T, B) -> q_values (T, B, n_actions)

The recurrent state is data passed in and out, never kept on ``self``; it is reset
by multiplying with ``(1 - episode_start)`` at every step where an episode begins.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["RecurrentState", "ObservationNormalizer", "MLPQNetwork", "RecurrentQNetwork", "build_q_network", "CELL_TYPES"]

CELL_TYPES = ("lstm", "gru", "rnn")


class RecurrentState(NamedTuple):
    """Hidden state of a one-layer recurrent core, each tensor shaped ``(1, B, hidden)``.

    ``c`` is the LSTM cell state and ``None`` for GRU and plain RNN cells.
    """

    h: Tensor
    c: Tensor | None = None

    def masked(self, keep: Tensor) -> "RecurrentState":
        """Multiply by ``keep`` of shape ``(B,)``: 0 resets that environment's memory."""
        keep = keep.to(self.h.dtype).view(1, -1, 1)
        return RecurrentState(self.h * keep, None if self.c is None else self.c * keep)

    def detach(self) -> "RecurrentState":
        return RecurrentState(self.h.detach(), None if self.c is None else self.c.detach())


class ObservationNormalizer(nn.Module):
    """Running mean and variance of observations; ``forward`` standardizes and clips to +-``clip``.

    Why: CartPole's pole angle moves by hundredths of a radian per step, and a memory has to
    difference such values to infer velocity; standardized inputs make those differences visible
    (the same reason RecurrentPPO's zoo settings normalize observations). The statistics are
    buffers, so they are saved in checkpoints; they change only when :meth:`update` is called
    (by the trainer, on the observations it collects).
    """

    def __init__(self, obs_dim: int, clip: float = 10.0, eps: float = 1e-8):
        super().__init__()
        self.clip, self.eps = clip, eps
        self.register_buffer("mean", torch.zeros(obs_dim))
        self.register_buffer("var", torch.ones(obs_dim))
        self.register_buffer("count", torch.tensor(0.0))

    @torch.no_grad()
    def update(self, obs: Tensor) -> None:
        """Merge a batch ``(..., obs_dim)`` into the running statistics (Chan et al.'s parallel formula)."""
        obs = obs.reshape(-1, self.mean.shape[0]).to(self.mean)
        n = obs.shape[0]
        batch_mean, batch_var = obs.mean(0), obs.var(0, unbiased=False)
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * n / total
        self.var.copy_((self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total)
        self.count.copy_(total)

    def forward(self, obs: Tensor) -> Tensor:
        if self.count == 0:
            return obs
        return ((obs - self.mean) / torch.sqrt(self.var + self.eps)).clamp(-self.clip, self.clip)


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers)


def _check_sizes(obs_dim: int, n_actions: int, hidden_size: int, encoder_sizes: tuple[int, ...]) -> None:
    for name, value in (("obs_dim", obs_dim), ("n_actions", n_actions), ("hidden_size", hidden_size)):
        if int(value) < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    if any(int(s) < 1 for s in encoder_sizes):
        raise ValueError(f"encoder_sizes must all be positive, got {encoder_sizes}")


class _QNetworkBase(nn.Module):
    is_recurrent: bool = False

    def __init__(self, obs_dim: int, n_actions: int, prev_action_input: bool, normalize_obs: bool):
        super().__init__()
        self.obs_dim, self.n_actions, self.prev_action_input = int(obs_dim), int(n_actions), prev_action_input
        self.normalizer = ObservationNormalizer(obs_dim) if normalize_obs else None

    def _inputs(self, obs: Tensor, prev_actions: Tensor | None) -> Tensor:
        """Validate ``obs`` (T, B, obs_dim) and append the one-hot previous action if used."""
        if obs.dim() != 3 or obs.shape[-1] != self.obs_dim:
            raise ValueError(
                f"obs must have shape (T, B, {self.obs_dim}) = (time, batch, obs_dim), got {tuple(obs.shape)}"
            )
        if self.normalizer is not None:
            obs = self.normalizer(obs)
        if not self.prev_action_input:
            return obs
        if prev_actions is None:
            prev_actions = torch.full(obs.shape[:2], -1, dtype=torch.long, device=obs.device)
        if prev_actions.shape != obs.shape[:2]:
            raise ValueError(f"prev_actions must have shape {tuple(obs.shape[:2])} (T, B), got {tuple(prev_actions.shape)}")
        # -1 means "no previous action" (episode start): an all-zero one-hot.
        one_hot = F.one_hot(prev_actions.clamp(min=0), self.n_actions).to(obs.dtype)
        one_hot = one_hot * (prev_actions >= 0).unsqueeze(-1).to(obs.dtype)
        return torch.cat([obs, one_hot], dim=-1)


class MLPQNetwork(_QNetworkBase):
    """Memoryless Q-network ``obs -> Q(obs, .)``; accepts and returns ``state`` unchanged (``None``)."""

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden_size: int = 64,
        encoder_sizes: tuple[int, ...] = (64,),
        prev_action_input: bool = False,
        normalize_obs: bool = False,
    ):
        _check_sizes(obs_dim, n_actions, hidden_size, encoder_sizes)
        super().__init__(obs_dim, n_actions, prev_action_input, normalize_obs)
        in_dim = obs_dim + (n_actions if prev_action_input else 0)
        self.body = _mlp([in_dim, *encoder_sizes, hidden_size])
        self.head = nn.Linear(hidden_size, n_actions)

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> None:
        return None

    def forward(self, obs: Tensor, state: None = None, episode_starts: Tensor | None = None,
                prev_actions: Tensor | None = None) -> tuple[Tensor, None]:
        return self.head(self.body(self._inputs(obs, prev_actions))), None


class RecurrentQNetwork(_QNetworkBase):
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
    ):
        _check_sizes(obs_dim, n_actions, hidden_size, encoder_sizes)
        if cell not in CELL_TYPES:
            raise ValueError(f"unknown cell {cell!r}; allowed: {', '.join(CELL_TYPES)}")
        super().__init__(obs_dim, n_actions, prev_action_input, normalize_obs)
        self.cell, self.hidden_size = cell, int(hidden_size)
        in_dim = obs_dim + (n_actions if prev_action_input else 0)
        self.encoder = _mlp([in_dim, *encoder_sizes])
        rnn_in = encoder_sizes[-1] if encoder_sizes else in_dim
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = rnn_cls(rnn_in, hidden_size)  # time-major: (T, B, features)
        # A ReLU layer after the core: its outputs are bounded by tanh, while CartPole's Q-values
        # grow towards 1 / (1 - gamma) = 100; a linear head alone needs huge weights to get there.
        self.head = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, n_actions))

    def encode(self, obs: Tensor, prev_actions: Tensor | None = None) -> Tensor:
        """The recurrent core's input sequence: ``obs`` (T, B, obs_dim) -> (T, B, features).

        Normalizes the observations, appends the one-hot previous action (if the network uses
        it; ``None`` or ``-1`` means "no previous action") and applies the encoder. ``forward``
        starts with this; chapter 5 uses it to unroll the core by hand.
        """
        return self.encoder(self._inputs(obs, prev_actions))  # (T, B, features)

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

    def forward(
        self,
        obs: Tensor,
        state: RecurrentState | None = None,
        episode_starts: Tensor | None = None,
        prev_actions: Tensor | None = None,
    ) -> tuple[Tensor, RecurrentState]:
        x = self.encode(obs, prev_actions)  # (T, B, features)
        T, B = obs.shape[:2]
        if state is None:
            state = self.initial_state(B, obs.device)
        self._check_state(state, B)
        if episode_starts is None:
            episode_starts = torch.zeros(T, B, device=obs.device)
        if episode_starts.shape != (T, B):
            raise ValueError(f"episode_starts must have shape {(T, B)} (T, B), got {tuple(episode_starts.shape)}")
        keep = 1.0 - episode_starts.float()
        state = state.masked(keep[0])
        if T == 1 or bool((keep[1:] == 1).all()):
            out, state = self._rnn(x, state)  # fast path: one fused call
        else:
            outs = []
            for t in range(T):  # slow path: a reset inside the sequence
                if t > 0:
                    state = state.masked(keep[t])
                out_t, state = self._rnn(x[t : t + 1], state)
                outs.append(out_t)
            out = torch.cat(outs)
        return self.head(out), state  # (T, B, n_actions)


def build_q_network(cell: str, obs_dim: int, n_actions: int, hidden_size: int = 64,
                    encoder_sizes: tuple[int, ...] = (64,), prev_action_input: bool = True,
                    normalize_obs: bool = False) -> nn.Module:
    """``cell="mlp"`` gives the memoryless :class:`MLPQNetwork`, else a :class:`RecurrentQNetwork`."""
    if cell == "mlp":
        return MLPQNetwork(obs_dim, n_actions, hidden_size, encoder_sizes, prev_action_input, normalize_obs)
    return RecurrentQNetwork(obs_dim, n_actions, hidden_size, encoder_sizes, prev_action_input, cell, normalize_obs)
