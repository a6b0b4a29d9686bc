"""Data that crosses layers: the recurrent state, a replayed batch, and shared constants.

The lowest layer of the package: it imports nothing from ``rdqn_core`` and does not
import torch at run time (the tensors are only annotations), so that ``envs/`` can
use the constants and stay numpy + gymnasium only.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from torch import Tensor

__all__ = ["RecurrentState", "SequenceBatch", "NStepParts", "CELL_TYPES", "NETWORK_CELLS", "LOSSES", "INITIAL_STATES",
           "MASKED_CARTPOLE_ID", "FLICKER_CARTPOLE_ID", "STACKED_MASKED_CARTPOLE_ID", "REGIME_MARKET_ID"]
__all__ += ["MINESWEEPER_ID", "MINESWEEPER_MEMORY_ID"]  # Chapter 8
__all__ += ["ACTION_HEADS", "ANGLE_PENDULUM_ID", "NOISY_ANGLE_PENDULUM_ID", "PLANAR_REACHER_ID"]  # Chapter 6

CELL_TYPES = ("lstm", "gru", "rnn")
"""Recurrent cells of :class:`~rdqn_core.networks.RecurrentQNetwork`."""
NETWORK_CELLS = ("mlp",) + CELL_TYPES + ("conv",)
"""What ``TrainConfig.cell`` may be: ``'mlp'`` is the memoryless DQN, ``'conv'`` the memoryless per-cell
convolutional Q-network for board observations (Chapter 8)."""
LOSSES = ("huber", "mse", "hl_gauss")
"""The TD losses of ``TrainConfig.loss``, regression on Q (Huber, squared) or cross-entropy on a histogram of Q
(HL-Gauss, Farebrother et al. 2024)."""
INITIAL_STATES = ("zero", "stored")
"""Where a replayed window's memory starts (zeros, or the state the actor had, R2D2's stored state)."""

ACTION_HEADS = ("joint", "branching")
"""How Chapter 6's Q-networks score a multi-dimensional action, ``joint`` (one output per combination) or ``branching`` (one head per dimension)."""

MASKED_CARTPOLE_ID = "rdqn/MaskedCartPole-v0"
FLICKER_CARTPOLE_ID = "rdqn/FlickerCartPole-v0"
STACKED_MASKED_CARTPOLE_ID = "rdqn/StackedMaskedCartPole-v0"
REGIME_MARKET_ID = "rdqn/RegimeMarket-v0"
"""Chapter 9's Markov-switching market (:class:`~rdqn_core.envs.market.RegimeMarketEnv`)."""
MINESWEEPER_ID = "rdqn/Minesweeper-v0"
"""Chapter 8's Minesweeper with the board observed (:class:`~rdqn_core.envs.minesweeper.MinesweeperEnv`)."""
ANGLE_PENDULUM_ID = "rdqn/AnglePendulum-v0"
"""Chapter 6's Pendulum-v1 that observes (cos θ, sin θ) only; its torque is continuous (train with ``--action-bins``)."""
NOISY_ANGLE_PENDULUM_ID = "rdqn/NoisyAnglePendulum-v0"
"""Chapter 6's angle-only pendulum with Gaussian noise (``sigma``, default 0.1) on (cos θ, sin θ)."""
PLANAR_REACHER_ID = "rdqn/PlanarReacher-v0"
"""Chapter 6's N-link planar arm (``links``, default 2) whose tip must reach a target, one torque per joint."""
MINESWEEPER_MEMORY_ID = "rdqn/MinesweeperMemory-v0"
"""Chapter 8's keyhole Minesweeper (:class:`~rdqn_core.envs.minesweeper.MinesweeperMemoryEnv`)."""


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


class NStepParts(NamedTuple):
    """The bootstrap-independent parts of n-step targets, each ``(T, B)``:
    ``target[t] = sums[t] + discounts[t] * bootstrap_values[index[t]]``
    (see :func:`~rdqn_core.losses.n_step_return_parts`)."""

    sums: Tensor
    discounts: Tensor
    index: Tensor


class SequenceBatch(NamedTuple):
    """A batch of replayed windows, time-major, with ``W = burn_in + seq_len + n_steps`` transitions.

    Window positions are fixed for every window: ``[0, burn_in)`` burn-in,
    ``[burn_in, burn_in + seq_len)`` trained steps, then the n-step look-ahead. A window whose
    trained steps begin at its episode's first step has no burn-in of its own: the burn-in rows
    belong to the previous episode, and ``episode_starts[burn_in] = 1`` resets the memory.

    Fields (all tensors on the sampling device unless said otherwise):

    * ``obs``: (W + 1, B, obs_dim) observations; ``obs[t + 1]`` follows ``obs[t]``.
    * ``prev_actions``: (W + 1, B) action taken before ``obs[t]``, -1 at an episode start.
    * ``actions``, ``rewards``, ``terminated``, ``truncated``: (W, B) the transition leaving ``obs[t]``.
    * ``valid``: (W, B) 1 where the transition exists in the sampled episode.
    * ``loss_mask``: (W, B) 1 on the trained steps that exist.
    * ``episode_starts``: (W + 1, B) 1 where ``obs[t]`` is the first of its episode: only ever at
      ``t = 0`` or at ``t = burn_in`` (the first trained step), the first row of a pass, so that
      the burn-in and every later pass are one fused call each.
    * ``initial_state``: state to start the core from at ``t = 0`` (zeros where the episode starts
      at ``t = burn_in``; None for an MLP).
    * ``stored_state``: that start state under the 'stored' strategy, whatever the strategy (for
      staleness measures).
    * ``burn_in_lengths``: (B,) on the CPU: ``burn_in``, or 0 for a window that starts its episode.
    * ``return_parts``: the n-step return split into what the replay knows at sample time
      (:class:`NStepParts` over the W transitions), or None if the replay has no ``gamma``.
    * ``parts_gamma``: the discount ``return_parts`` were computed with (None with them).
    * ``weights``: (B,) importance-sampling weights of a prioritized replay (None: uniform sampling).
    * ``keys``: (B,) numpy int64, on the CPU: the sampled slots, to hand back with new priorities
      (:meth:`~rdqn_core.replay.SequenceReplay.update_priorities`); None from a uniform replay.
    """

    obs: Tensor
    prev_actions: Tensor
    actions: Tensor
    rewards: Tensor
    terminated: Tensor
    truncated: Tensor
    valid: Tensor
    loss_mask: Tensor
    episode_starts: Tensor
    initial_state: RecurrentState | None
    stored_state: RecurrentState | None
    burn_in_lengths: Tensor
    return_parts: NStepParts | None
    parts_gamma: float | None
    weights: Tensor | None = None
    keys: Any = None
