"""Replay memories for DQN and DRQN (Chapters 3 and 4).

:class:`SequenceReplay` stores every environment's stream of steps once, in one ring
per environment, and cuts fixed-length *windows* out of it at sampling time:

    [ burn-in (up to ``burn_in``) | trained steps (``seq_len``) | look-ahead (``n_steps``) ]

A window never mixes two episodes: each row carries its episode id and its step
index in the episode, and rows that do not continue the sampled episode are
masked out. The trained steps sit at the same positions in every window, so the
agent can run the burn-in without gradient and the trained steps with it (R2D2).
The core starts at position 0 from the stored state of that row (R2D2's "stored
state") or from zeros ("zero start"). A window whose episode starts less than
``burn_in`` steps before its trained steps is moved back to the episode start:
it then starts from the exact zero memory at the first trained step.

:class:`TransitionReplay` is the same store with windows of one trained step and no
burn-in: the DQN replay of Mnih et al. (2015), with n-step look-ahead.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .losses import n_step_return_parts
from .types import INITIAL_STATES, RecurrentState, SequenceBatch

__all__ = ["SequenceReplay", "TransitionReplay"]


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
        gamma: discount for the n-step return parts computed at sample time (``None``: not computed,
            the agent then computes them itself).
        priority_exponent: 0 samples windows uniformly; ``alpha > 0`` samples a window with
            probability proportional to ``priority ** alpha`` (prioritized sequence replay, Schaul et
            al. 2016 and R2D2: ``alpha = 0.9``). New steps get the largest priority seen so far, and
            the learner hands back new ones with :meth:`update_priorities`.
        importance_exponent: ``beta`` of the importance-sampling weights ``(N P(i)) ** -beta``,
            divided by the batch's largest (R2D2: 0.6); used only when ``priority_exponent > 0``.

    Storing costs O(num_envs) per call. Uniform sampling costs O(batch_size) whatever the capacity;
    prioritized sampling one cumulative sum over the capacity per batch (a vectorised pass that takes
    well under a millisecond at 50k rows, so no sum tree is needed at the sizes this package trains).
    """

    def __init__(self, capacity: int, num_envs: int, obs_dim: int, seq_len: int = 8, burn_in: int = 0,
                 n_steps: int = 1, hidden_size: int = 0, lstm: bool = False, initial_state: str = "zero",
                 gamma: float | None = None, priority_exponent: float = 0.0, importance_exponent: float = 0.6):
        for name, value, low in (("capacity", capacity, 1), ("num_envs", num_envs, 1), ("obs_dim", obs_dim, 1),
                                 ("seq_len", seq_len, 1), ("burn_in", burn_in, 0), ("n_steps", n_steps, 1),
                                 ("hidden_size", hidden_size, 0)):
            if int(value) < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        if initial_state not in INITIAL_STATES:
            raise ValueError(f"unknown initial_state {initial_state!r}; allowed: {', '.join(INITIAL_STATES)}")
        if initial_state == "stored" and hidden_size == 0:
            raise ValueError("initial_state='stored' needs hidden_size > 0 (a recurrent network)")
        if gamma is not None and not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1] or None, got {gamma}")
        for name, value in (("priority_exponent", priority_exponent), ("importance_exponent", importance_exponent)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        self.priority_exponent, self.importance_exponent = float(priority_exponent), float(importance_exponent)
        self.num_envs, self.obs_dim = num_envs, obs_dim
        self.seq_len, self.burn_in, self.n_steps = seq_len, burn_in, n_steps
        self.initial_state, self.hidden_size, self.lstm, self.gamma = initial_state, hidden_size, lstm, gamma
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
        self.priority = np.zeros(shape, np.float64)  # per row: the priority of the window sampled at it
        self.max_priority = 1.0
        self._weight = np.zeros(shape, np.float64)  # priority ** priority_exponent, kept with it
        self.pos = np.zeros(num_envs, np.int64)  # next row to write, per env
        self.size = np.zeros(num_envs, np.int64)  # rows written so far, at most ring, per env
        self.current_episode = np.arange(num_envs, dtype=np.int64)
        self.current_step = np.zeros(num_envs, np.int64)
        self._next_episode_id = num_envs
        self._transitions = 0  # rows with has_transition, kept up to date so that len() is O(1)
        self.steps_added = 0

    def __len__(self) -> int:
        """Number of stored transitions."""
        return self._transitions

    def reward_range(self) -> tuple[float, float]:
        """``(min, max)`` of the rewards of the transitions held now (``(0.0, 0.0)`` while it holds none).

        What a histogram value head's range is fitted to when learning starts
        (:meth:`~rdqn_core.agent.QAgent.fit_value_range`).
        """
        if not self._transitions:
            return 0.0, 0.0
        held = self.rewards[self.has_transition]
        return float(held.min()), float(held.max())

    def _write(self, env: int, obs: np.ndarray, **fields) -> None:
        i = self.pos[env]
        self._transitions -= int(self.has_transition[env, i])
        self.obs[env, i] = obs
        self.episode_id[env, i] = self.current_episode[env]
        self.step_in_episode[env, i] = self.current_step[env]
        self.has_transition[env, i] = fields.pop("has_transition")
        self._transitions += int(self.has_transition[env, i])
        self.priority[env, i] = self.max_priority if self.has_transition[env, i] else 0.0
        self._weight[env, i] = self.priority[env, i] ** self.priority_exponent if self.priority[env, i] else 0.0
        for name, value in fields.items():
            getattr(self, name)[env, i] = value
        self.pos[env] = (i + 1) % self.ring
        self.size[env] = min(self.size[env] + 1, self.ring)

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

    def _sampleable_rows(self, env: np.ndarray, row: np.ndarray) -> np.ndarray:
        """Which (env, row) pairs can start a window's trained steps, as a bool array."""
        ok = self.has_transition[env, row].copy()
        # easy to overlook: the newest row of a running episode has no next observation yet
        ok &= row != (self.pos[env] - 1) % self.ring
        # the burn-in must be stored: back to the episode start, or a full burn-in (the ring overwrites the oldest)
        oldest = (self.pos[env] - self.size[env]) % self.ring
        ok &= (row - oldest) % self.ring >= np.minimum(self.step_in_episode[env, row], self.burn_in)
        return ok

    def can_sample(self) -> bool:
        """True once some transition is followed by its next observation (every env's newest row is not)."""
        return self._transitions > self.num_envs

    def sample(self, batch_size: int, rng: np.random.Generator, device: torch.device | str = "cpu") -> SequenceBatch:
        """Sample ``batch_size`` windows uniformly over stored transitions (rejection sampling, O(batch_size))."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not self.can_sample():
            raise ValueError("the replay holds no complete transition yet; add steps before sampling")
        prioritized = self.priority_exponent > 0
        if prioritized:
            p = self._weight.ravel()
            cdf = np.cumsum(p)
        else:
            weights = self.size / self.size.sum()
        envs, rows = [], []
        need = batch_size
        for _ in range(100):  # a draw is accepted unless it hits an episode's last row or the newest one
            if prioritized:
                flat = np.minimum(np.searchsorted(cdf, rng.random(2 * need) * cdf[-1], side="right"), len(p) - 1)
                env, row = np.divmod(flat, self.ring)
            else:
                env = rng.choice(self.num_envs, size=2 * need, p=weights)
                row = (self.pos[env] - self.size[env]
                       + (rng.random(2 * need) * self.size[env]).astype(np.int64)) % self.ring
            ok = self._sampleable_rows(env, row)
            envs.append(env[ok][:need])
            rows.append(row[ok][:need])
            need -= len(envs[-1])
            if need == 0:
                break
        else:
            raise ValueError("could not find sampleable windows after 100 draws: the replay holds almost only "
                             "episode ends; add more steps before sampling")
        env, row = np.concatenate(envs), np.concatenate(rows)
        keys = weights_t = None
        if prioritized:
            keys = env * self.ring + row
            probability = p[keys] / cdf[-1]
            w = (len(self) * probability) ** -self.importance_exponent
            weights_t = torch.as_tensor(w / w.max(), dtype=torch.float32, device=device)
        # A row less than burn_in steps into its episode snaps to the episode's first step: that window
        # starts from the exact zero memory with no burn-in, and every pass stays one fused call. Its trained
        # steps still contain the sampled transition (burn_in <= seq_len keeps that true; otherwise the
        # first steps are simply trained a little more often).
        step = self.step_in_episode[env, row]
        short = (step > 0) & (step < self.burn_in)
        row = np.where(short, (row - step) % self.ring, row)
        batch = self._windows(env, row, device)
        return batch._replace(weights=weights_t, keys=keys) if prioritized else batch

    def restore_priorities(self) -> None:
        """Recompute the sampling weights from ``priority`` (after it was loaded from a checkpoint)."""
        self._weight = np.where(self.priority > 0, self.priority ** self.priority_exponent, 0.0)

    def update_priorities(self, keys: np.ndarray, priorities: np.ndarray | Tensor) -> None:
        """Set the priorities of the windows sampled at ``keys`` (a batch's ``keys``), e.g. from
        :func:`~rdqn_core.losses.sequence_priorities` of their new TD errors."""
        if self.priority_exponent == 0:
            return
        values = np.asarray(priorities.detach().cpu() if isinstance(priorities, Tensor) else priorities,
                            np.float64).reshape(-1)
        keys = np.asarray(keys, np.int64).reshape(-1)
        if values.shape != keys.shape:
            raise ValueError(f"got {len(keys)} keys but {len(values)} priorities")
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError("priorities must be finite and >= 0")
        values = values + 1e-6  # a window with zero error must stay sampleable
        self.priority.flat[keys] = values
        self._weight.flat[keys] = values ** self.priority_exponent
        self.max_priority = max(self.max_priority, float(values.max()))

    def _windows(self, env: np.ndarray, row: np.ndarray, device: torch.device | str) -> SequenceBatch:
        B, W, burn = len(env), self.window, self.burn_in
        offsets = np.arange(-burn, W - burn + 1)  # W + 1 observation rows; the sampled row sits at position burn
        rows = (row[:, None] + offsets[None, :]) % self.ring  # (B, W + 1)
        envs = env[:, None]
        step = self.step_in_episode[env, row]
        obs_ok = ((self.episode_id[envs, rows] == self.episode_id[env, row][:, None])
                  & (self.step_in_episode[envs, rows] == step[:, None] + offsets[None, :]))  # (B, W + 1)
        burn_lengths = np.where(step >= burn, burn, 0)  # sample() snaps shorter burn-ins to the episode start
        start_pos = burn - burn_lengths  # position of the window's first row of the sampled episode
        valid = obs_ok[:, :-1] & obs_ok[:, 1:] & self.has_transition[envs, rows[:, :-1]]  # (B, W)
        pos = np.arange(W)[None, :]
        loss_mask = valid & (pos >= burn) & (pos < burn + self.seq_len)
        episode_starts = np.zeros((B, W + 1), np.float32)
        starts_here = step == burn_lengths  # the episode's first step is inside this window
        episode_starts[np.flatnonzero(starts_here), start_pos[starts_here]] = 1.0

        def t(x: np.ndarray, dtype=None) -> Tensor:  # (B, T, ...) numpy -> (T, B, ...) tensor
            return torch.as_tensor(np.ascontiguousarray(np.swapaxes(x, 0, 1)), dtype=dtype, device=device)

        obs = self.obs[envs, rows] * obs_ok[..., None]
        prev_actions = np.where(obs_ok, self.prev_actions[envs, rows], -1)
        tr = rows[:, :-1]
        rewards = self.rewards[envs, tr] * valid
        terminated, truncated = self.terminated[envs, tr] & valid, self.truncated[envs, tr] & valid
        parts = None
        if self.gamma is not None:
            parts = n_step_return_parts(*(torch.from_numpy(np.ascontiguousarray(x.T))
                                          for x in (rewards, terminated, truncated, valid)), self.gamma, self.n_steps)
            parts = type(parts)(*(p.to(device) for p in parts))
        stored = initial = None
        if self.state_h is not None:
            first = rows[:, 0]
            # where the sampled episode starts inside the window its memory starts from zeros there (exact)
            keep = torch.as_tensor(1.0 - starts_here, dtype=torch.float32, device=device).view(1, B, 1)
            h = torch.as_tensor(self.state_h[env, first], device=device).unsqueeze(0) * keep
            c = (torch.as_tensor(self.state_c[env, first], device=device).unsqueeze(0) * keep
                 if self.state_c is not None else None)
            stored = RecurrentState(h, c)
            initial = stored if self.initial_state == "stored" else RecurrentState(
                torch.zeros_like(h), None if c is None else torch.zeros_like(c))
        return SequenceBatch(
            obs=t(obs), prev_actions=t(prev_actions), actions=t(self.actions[envs, tr]),
            rewards=t(rewards), terminated=t(terminated), truncated=t(truncated), valid=t(valid),
            loss_mask=t(loss_mask), episode_starts=t(episode_starts), initial_state=initial, stored_state=stored,
            burn_in_lengths=torch.as_tensor(burn_lengths), return_parts=parts,
            parts_gamma=self.gamma if parts is not None else None,
        )


class TransitionReplay(SequenceReplay):
    """Replay of single transitions (with n-step look-ahead) for a memoryless DQN."""

    def __init__(self, capacity: int, num_envs: int, obs_dim: int, n_steps: int = 1, gamma: float | None = None,
                 priority_exponent: float = 0.0, importance_exponent: float = 0.6):
        super().__init__(capacity, num_envs, obs_dim, seq_len=1, burn_in=0, n_steps=n_steps, gamma=gamma,
                         priority_exponent=priority_exponent, importance_exponent=importance_exponent)
