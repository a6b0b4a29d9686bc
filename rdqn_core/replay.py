"""Replay memories for DQN and DRQN (Chapters 3 and 4).

:class:`SequenceReplay` stores every environment's stream of steps once, in one ring
per environment, and cuts fixed-length *windows* out of it at sampling time:

    [ burn-in (up to ``burn_in``) | trained steps (``seq_len``) | look-ahead (``n_steps``) ]

A window never mixes two episodes: each row carries its episode id and its step
index in the episode, and rows that do not continue the sampled episode are
masked out. Windows are left-aligned, so the recurrent core only ever starts from
a state at position 0: the stored state of that row (R2D2's "stored state"), or
zeros ("zero start"). At an episode start both are exact.

:class:`TransitionReplay` is the same store with windows of one trained step and no
burn-in: the DQN replay of Mnih et al. (2015), with n-step look-ahead.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .networks import RecurrentState

__all__ = ["SequenceBatch", "SequenceReplay", "TransitionReplay", "INITIAL_STATES"]

INITIAL_STATES = ("zero", "stored")


class SequenceBatch(NamedTuple):
    """A batch of windows, time-major. ``W = burn_in + seq_len + n_steps`` transitions.

    obs: (W + 1, B, obs_dim) observations; ``obs[t + 1]`` follows ``obs[t]``.
    prev_actions: (W + 1, B) action taken before ``obs[t]``, -1 at an episode start.
    actions, rewards, terminated, truncated: (W, B) the transition leaving ``obs[t]``.
    valid: (W, B) 1 where the transition exists in the same episode.
    loss_mask: (W, B) 1 on the trained steps (valid, after burn-in, at most ``seq_len``).
    episode_starts: (W + 1, B) 1 where ``obs[t]`` is the first of its episode (only t = 0 can be).
    initial_state: state to start the core from at ``t = 0`` (None for an MLP).
    stored_state: the stored state at ``t = 0`` whatever the strategy (for staleness measures).
    burn_in_lengths: (B,) how many burn-in steps each window really has.
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


class SequenceReplay:
    """Episode-aware replay of windows for recurrent (and memoryless) Q-learning.

    Args:
        capacity: total number of stored steps over all environments (split evenly).
        num_envs: number of parallel environments that feed it.
        obs_dim: flattened observation size.
        seq_len: trained steps per window (``>= 1``).
        burn_in: steps replayed before the trained ones only to warm up the memory.
        n_steps: look-ahead for n-step targets (``>= 1``).
        hidden_size: size of the stored recurrent state (0: store none).
        lstm: whether the state has a cell part ``c``.
        initial_state: ``"zero"`` or ``"stored"`` start of the core at window start.
    """

    def __init__(self, capacity: int, num_envs: int, obs_dim: int, seq_len: int = 8, burn_in: int = 0,
                 n_steps: int = 1, hidden_size: int = 0, lstm: bool = False, initial_state: str = "zero"):
        for name, value, low in (("capacity", capacity, 1), ("num_envs", num_envs, 1), ("obs_dim", obs_dim, 1),
                                 ("seq_len", seq_len, 1), ("burn_in", burn_in, 0), ("n_steps", n_steps, 1),
                                 ("hidden_size", hidden_size, 0)):
            if int(value) < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        if initial_state not in INITIAL_STATES:
            raise ValueError(f"unknown initial_state {initial_state!r}; allowed: {', '.join(INITIAL_STATES)}")
        if initial_state == "stored" and hidden_size == 0:
            raise ValueError("initial_state='stored' needs hidden_size > 0 (a recurrent network)")
        self.num_envs, self.obs_dim = num_envs, obs_dim
        self.seq_len, self.burn_in, self.n_steps = seq_len, burn_in, n_steps
        self.initial_state, self.hidden_size, self.lstm = initial_state, hidden_size, lstm
        self.window = burn_in + seq_len + n_steps
        self.ring = capacity // num_envs
        if self.ring < 2 * (self.window + 1):
            raise ValueError(f"capacity {capacity} gives {self.ring} rows per environment; need at least "
                             f"{2 * (self.window + 1)} for windows of {self.window} steps")
        shape = (num_envs, self.ring)
        self.obs = np.zeros((*shape, obs_dim), np.float32)
        self.actions = np.zeros(shape, np.int64)
        self.prev_actions = np.full(shape, -1, np.int64)
        self.rewards = np.zeros(shape, np.float32)
        self.terminated = np.zeros(shape, bool)
        self.truncated = np.zeros(shape, bool)
        self.has_transition = np.zeros(shape, bool)
        self.episode_id = np.full(shape, -1, np.int64)  # -1: never written
        self.step_in_episode = np.zeros(shape, np.int64)
        self.state_h = np.zeros((*shape, hidden_size), np.float32) if hidden_size else None
        self.state_c = np.zeros((*shape, hidden_size), np.float32) if hidden_size and lstm else None
        self.pos = np.zeros(num_envs, np.int64)  # next row to write, per env
        self.current_episode = np.arange(num_envs, dtype=np.int64)
        self.current_step = np.zeros(num_envs, np.int64)
        self._next_episode_id = num_envs
        self.steps_added = 0

    def __len__(self) -> int:
        return int(self.has_transition.sum())

    def _write(self, env: int, obs: np.ndarray, **fields) -> None:
        i = self.pos[env]
        self.obs[env, i] = obs
        self.episode_id[env, i] = self.current_episode[env]
        self.step_in_episode[env, i] = self.current_step[env]
        self.has_transition[env, i] = fields.pop("has_transition")
        for name, value in fields.items():
            getattr(self, name)[env, i] = value
        self.pos[env] = (i + 1) % self.ring

    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, terminated: np.ndarray,
            truncated: np.ndarray, final_obs: np.ndarray, prev_actions: np.ndarray | None = None,
            state: RecurrentState | None = None) -> None:
        """Add one vector-env step: ``obs[e]`` (B, obs_dim) acted on with ``actions[e]``.

        ``state`` is the memory the network used for ``obs`` (after any reset), stored for
        R2D2-style starts. ``final_obs[e]`` is the observation that ends episode ``e`` when
        ``terminated[e] or truncated[e]`` (ignored otherwise); it is stored as the last row
        of that episode so that truncated episodes can be bootstrapped from it.
        """
        obs = np.asarray(obs, np.float32).reshape(self.num_envs, -1)
        if obs.shape[1] != self.obs_dim:
            raise ValueError(f"obs must have shape ({self.num_envs}, {self.obs_dim}), got {obs.shape}")
        if prev_actions is None:
            prev_actions = np.full(self.num_envs, -1)
        h = state.h[0].detach().cpu().numpy() if state is not None and self.state_h is not None else None
        c = state.c[0].detach().cpu().numpy() if h is not None and self.state_c is not None else None
        final_obs = np.asarray(final_obs, np.float32).reshape(self.num_envs, -1)
        for e in range(self.num_envs):
            fields = dict(actions=actions[e], prev_actions=prev_actions[e], rewards=rewards[e],
                          terminated=terminated[e], truncated=truncated[e])
            if h is not None:
                fields["state_h"] = h[e]
            if c is not None:
                fields["state_c"] = c[e]
            self._write(e, obs[e], has_transition=True, **fields)
            self.current_step[e] += 1
            if terminated[e] or truncated[e]:
                self._write(e, final_obs[e], has_transition=False, actions=0, prev_actions=actions[e], rewards=0.0,
                            terminated=False, truncated=False)
                self.current_episode[e] = self._next_episode_id
                self._next_episode_id += 1
                self.current_step[e] = 0
        self.steps_added += self.num_envs

    def _sampleable(self) -> np.ndarray:
        ok = self.has_transition.copy()
        # easy to overlook: the newest row of a running episode has no next observation yet
        ok[np.arange(self.num_envs), (self.pos - 1) % self.ring] = False
        return np.flatnonzero(ok)

    def can_sample(self) -> bool:
        return self._sampleable().size > 0

    def sample(self, batch_size: int, rng: np.random.Generator, device: torch.device | str = "cpu") -> SequenceBatch:
        """Sample ``batch_size`` windows uniformly over stored transitions."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        candidates = self._sampleable()
        if candidates.size == 0:
            raise ValueError("the replay holds no complete transition yet; add steps before sampling")
        flat = rng.choice(candidates, size=batch_size)
        env, row = np.divmod(flat, self.ring)
        return self._windows(env, row, device)

    def _windows(self, env: np.ndarray, row: np.ndarray, device: torch.device | str) -> SequenceBatch:
        B, W, burn = len(env), self.window, self.burn_in
        offsets = np.arange(-burn, W - burn + 1)  # W + 1 observation rows around the sampled row
        rows = (row[:, None] + offsets[None, :]) % self.ring  # (B, W + 1)
        envs = env[:, None]
        same = ((self.episode_id[envs, rows] == self.episode_id[env, row][:, None])
                & (self.step_in_episode[envs, rows] == self.step_in_episode[env, row][:, None] + offsets[None, :]))
        # same[:, burn] is the sampled row itself; the rows before it that continue the episode are burn-in.
        before = same[:, :burn]
        # the rows that survive are a suffix (the ring overwrites the oldest first), so a count suffices
        burn_lengths = before.sum(axis=1)
        # left-align: window position p reads unaligned column p + shift
        shift = burn - burn_lengths
        cols = np.arange(W + 1)[None, :] + shift[:, None]
        in_range = cols <= W
        cols = np.minimum(cols, W)
        rows = np.take_along_axis(rows, cols, 1)
        obs_ok = np.take_along_axis(same, cols, 1) & in_range  # (B, W + 1)
        has_next = obs_ok[:, 1:]
        valid = obs_ok[:, :-1] & has_next & self.has_transition[envs, rows[:, :-1]]
        pos = np.arange(W)[None, :]
        loss_mask = valid & (pos >= burn_lengths[:, None]) & (pos < burn_lengths[:, None] + self.seq_len)
        first = rows[:, 0]
        episode_starts = np.zeros((B, W + 1), np.float32)
        episode_starts[:, 0] = self.step_in_episode[env, first] == 0

        def t(x: np.ndarray, dtype=None) -> Tensor:  # (B, T, ...) numpy -> (T, B, ...) tensor
            return torch.as_tensor(np.ascontiguousarray(np.swapaxes(x, 0, 1)), dtype=dtype, device=device)

        obs = self.obs[envs, rows] * obs_ok[..., None]
        prev_actions = np.where(obs_ok, self.prev_actions[envs, rows], -1)
        tr = rows[:, :-1]
        stored = initial = None
        if self.state_h is not None:
            keep = torch.as_tensor(1.0 - episode_starts[:, 0], device=device).view(1, B, 1)
            h = torch.as_tensor(self.state_h[env, first], device=device).unsqueeze(0) * keep
            c = (torch.as_tensor(self.state_c[env, first], device=device).unsqueeze(0) * keep
                 if self.state_c is not None else None)
            stored = RecurrentState(h, c)
            initial = stored if self.initial_state == "stored" else RecurrentState(
                torch.zeros_like(h), None if c is None else torch.zeros_like(c))
        return SequenceBatch(
            obs=t(obs), prev_actions=t(prev_actions), actions=t(self.actions[envs, tr]),
            rewards=t(self.rewards[envs, tr] * valid), terminated=t(self.terminated[envs, tr] & valid),
            truncated=t(self.truncated[envs, tr] & valid), valid=t(valid), loss_mask=t(loss_mask),
            episode_starts=t(episode_starts), initial_state=initial, stored_state=stored,
            burn_in_lengths=torch.as_tensor(burn_lengths, device=device),
        )


class TransitionReplay(SequenceReplay):
    """Replay of single transitions (with n-step look-ahead) for a memoryless DQN."""

    def __init__(self, capacity: int, num_envs: int, obs_dim: int, n_steps: int = 1):
        super().__init__(capacity, num_envs, obs_dim, seq_len=1, burn_in=0, n_steps=n_steps)
