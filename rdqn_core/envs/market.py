"""A synthetic market whose drift and volatility switch between hidden regimes (Chapter 9).

Daily returns follow a Markov-switching model (Hamilton, 1989): a hidden regime ``s_t`` in
``{0, ..., k-1}`` moves by a transition matrix ``P[i, j] = Pr(s_{t+1} = j | s_t = i)`` and the
day's simple return is ``r_t ~ N(means[s_t], vols[s_t]**2)``. The agent holds a position
short / flat / long (actions 0, 1, 2 -> positions -1, 0, +1), pays ``cost_bp`` basis points per
unit of position change, and is paid ``position * r_{t+1}`` for the day after it chose. An
episode is one trading year (``episode_days = 252`` decisions) and ends by truncation (a time
limit, not a terminal state).

The observation is what a trader has seen: the last ``window`` daily returns in percent (the
most recent last, zeros before the episode's first day) and the current position. It never
contains the regime. ``lookahead=True`` adds tomorrow's return to it: a deliberate bug that
Chapter 9 uses to show how a leak inflates a backtest.

Paths come from seeded streams that never overlap between ``split="train"`` and
``split="test"``: a path for seed ``s`` is drawn from ``numpy.random.default_rng([code, s])``
with a different ``code`` per split, and :func:`market_paths` reproduces exactly the paths
an env resets to. ``fixed_paths=n`` makes the env cycle through the same ``n`` training
paths (the overfitting caveat of Chapter 9).

numpy and gymnasium only: nothing in ``rdqn_core.envs`` imports torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["MarketParams", "RegimeMarketEnv", "market_paths", "simulate_regime_path", "two_regime_params",
           "stationary_distribution", "POSITIONS", "SPLITS", "DEFAULT_MARKET"]

POSITIONS = np.array([-1.0, 0.0, 1.0])
"""Position of each action: 0 short, 1 flat, 2 long."""
OBS_CLIP = 100.0
"""Observed returns (in percent) are clipped to [-OBS_CLIP, OBS_CLIP]."""
SPLITS = {"train": 0, "test": 1}
"""The seed streams: a path of split ``name`` and seed ``s`` comes from ``default_rng([SPLITS[name], s])``."""


@dataclass(frozen=True)
class MarketParams:
    """The regimes of a Markov-switching market: daily means and volatilities, a transition matrix.

    Attributes:
        means: (k,) daily mean simple return of each regime (0.0008 = 0.08% a day).
        vols: (k,) daily volatility of each regime (0.01 = 1% a day), all > 0.
        transition: (k, k) ``transition[i, j] = Pr(next regime j | regime i)``; rows sum to 1.

    Raises ``ValueError`` (saying what is allowed) for mismatched lengths, probabilities
    outside [0, 1], rows that do not sum to 1, or non-positive volatilities.
    """

    means: tuple[float, ...]
    vols: tuple[float, ...]
    transition: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        means = np.asarray(self.means, float)
        vols = np.asarray(self.vols, float)
        trans = np.asarray(self.transition, float)
        k = means.size
        if means.ndim != 1 or k < 1:
            raise ValueError(f"means must be a list of k >= 1 daily returns, got {self.means!r}")
        if vols.shape != (k,):
            raise ValueError(f"vols must have one entry per regime ({k}), got {self.vols!r}")
        if not np.all(np.isfinite(means)) or not np.all(np.isfinite(vols)):
            raise ValueError(f"means and vols must be finite, got means={self.means!r}, vols={self.vols!r}")
        if np.any(vols <= 0):
            raise ValueError(f"vols must be positive (daily standard deviations), got {self.vols!r}")
        if trans.shape != (k, k):
            raise ValueError(f"transition must be a {k}x{k} matrix (rows: from, columns: to), "
                             f"got shape {trans.shape}")
        if np.any(~np.isfinite(trans)) or np.any(trans < 0) or np.any(trans > 1):
            raise ValueError(f"transition probabilities must lie in [0, 1], got {trans.tolist()}")
        sums = trans.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-8):
            raise ValueError(f"each row of transition must sum to 1 (row i: Pr(next | regime i)), "
                             f"got row sums {sums.tolist()}")
        object.__setattr__(self, "means", tuple(float(m) for m in means))
        object.__setattr__(self, "vols", tuple(float(v) for v in vols))
        object.__setattr__(self, "transition", tuple(tuple(float(p) for p in row) for row in trans))

    @property
    def k(self) -> int:
        """Number of regimes."""
        return len(self.means)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(means, vols, transition)`` as numpy arrays."""
        return np.array(self.means), np.array(self.vols), np.array(self.transition)


def two_regime_params(bull_mean: float = 0.0008, bull_vol: float = 0.01, bull_stay: float = 0.99,
                      bear_mean: float = -0.0012, bear_vol: float = 0.02, bear_stay: float = 0.98) -> MarketParams:
    """A bull regime (0) and a bear regime (1); the defaults are Chapter 9's market."""
    return MarketParams((bull_mean, bear_mean), (bull_vol, bear_vol),
                        ((bull_stay, 1.0 - bull_stay), (1.0 - bear_stay, bear_stay)))


DEFAULT_MARKET = two_regime_params()
"""Chapter 9's market: bull +0.08%/day, 1% vol, stays with 0.99; bear -0.12%/day, 2% vol, stays with 0.98."""


def stationary_distribution(transition: np.ndarray) -> np.ndarray:
    """The long-run regime probabilities ``pi`` with ``pi @ transition = pi``."""
    transition = np.asarray(transition, float)
    k = transition.shape[0]
    # solve pi (P - I) = 0 with sum(pi) = 1 as one least-squares system (exact for an irreducible chain)
    a = np.vstack([transition.T - np.eye(k), np.ones((1, k))])
    b = np.concatenate([np.zeros(k), [1.0]])
    pi = np.linalg.lstsq(a, b, rcond=None)[0]
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def simulate_regime_path(params: MarketParams, days: int, rng: np.random.Generator
                         ) -> tuple[np.ndarray, np.ndarray]:
    """``days`` daily returns and their regimes, starting from the stationary distribution.

    Returns ``(returns, regimes)``, float64 and int64 arrays of length ``days``.
    """
    means, vols, trans = params.arrays()
    cumulative = np.cumsum(trans, axis=1)
    uniforms = rng.random(days)
    regimes = np.empty(days, np.int64)
    regimes[0] = min(int(np.searchsorted(np.cumsum(stationary_distribution(trans)), uniforms[0], side="right")),
                     params.k - 1)
    for t in range(1, days):
        regimes[t] = min(int(np.searchsorted(cumulative[regimes[t - 1]], uniforms[t], side="right")), params.k - 1)
    returns = means[regimes] + vols[regimes] * rng.standard_normal(days)
    return returns, regimes


def _path_rng(split: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([SPLITS[split], int(seed)])


def market_paths(n: int, seed: int, split: str = "test", params: MarketParams = DEFAULT_MARKET,
                 episode_days: int = 252) -> tuple[np.ndarray, np.ndarray]:
    """The paths that ``RegimeMarketEnv(split=split)`` resets to with seeds ``seed, ..., seed + n - 1``.

    Returns ``(returns, regimes)`` shaped ``(n, episode_days + 1)``: day 0 is seen at reset, day
    ``t + 1`` pays the position chosen after day ``t``.
    """
    _check_split(split)
    if n < 1:
        raise ValueError(f"n must be >= 1 paths, got {n}")
    pairs = [simulate_regime_path(params, episode_days + 1, _path_rng(split, seed + i)) for i in range(n)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")


class RegimeMarketEnv(gym.Env):
    """Trade a Markov-switching market short / flat / long for one year (Chapter 9).

    Args:
        means, vols, transition: the regimes (see :class:`MarketParams`); default Chapter 9's market.
        cost_bp: transaction cost in basis points per unit of position change (>= 0); going
            from short to long costs twice this.
        episode_days: decisions per episode (252: one trading year).
        window: past daily returns in the observation (1: only the last one).
        split: ``"train"`` or ``"test"``: which seed stream the paths come from.
        fixed_paths: cycle through this many fixed training paths instead of fresh ones (None: fresh).
        lookahead: put tomorrow's return into the observation (a bug on purpose; never for real use).
        reward_scale: rewards are ``reward_scale * (position * r - cost)``; 100 gives percent.

    The ``info`` dict carries ``regime`` (today's), ``position`` and ``day_return`` (the return
    that paid this step), for evaluation only: an agent must not read it.
    """

    metadata = {"render_modes": []}

    def __init__(self, means: Sequence[float] = DEFAULT_MARKET.means, vols: Sequence[float] = DEFAULT_MARKET.vols,
                 transition: Sequence[Sequence[float]] = DEFAULT_MARKET.transition, cost_bp: float = 5.0,
                 episode_days: int = 252, window: int = 1, split: str = "train", fixed_paths: int | None = None,
                 lookahead: bool = False, reward_scale: float = 100.0, render_mode: str | None = None):
        self.params = MarketParams(tuple(means), tuple(vols), tuple(tuple(row) for row in transition))
        if not np.isfinite(cost_bp) or cost_bp < 0:
            raise ValueError(f"cost_bp must be a finite number >= 0 (basis points per unit of position change), "
                             f"got {cost_bp!r}")
        if int(episode_days) != episode_days or episode_days < 1:
            raise ValueError(f"episode_days must be an integer >= 1, got {episode_days!r}")
        if int(window) != window or window < 1:
            raise ValueError(f"window must be an integer >= 1 (past returns observed), got {window!r}")
        _check_split(split)
        if fixed_paths is not None and (int(fixed_paths) != fixed_paths or fixed_paths < 1):
            raise ValueError(f"fixed_paths must be None (fresh paths) or an integer >= 1, got {fixed_paths!r}")
        if not reward_scale > 0:
            raise ValueError(f"reward_scale must be positive, got {reward_scale!r}")
        if render_mode is not None:
            raise ValueError(f"RegimeMarketEnv has no render modes, got render_mode={render_mode!r}")
        self.cost = float(cost_bp) * 1e-4
        self.episode_days, self.window, self.split = int(episode_days), int(window), split
        self.fixed_paths = None if fixed_paths is None else int(fixed_paths)
        self.lookahead, self.reward_scale = bool(lookahead), float(reward_scale)
        obs_dim = self.window + 1 + int(self.lookahead)
        # returns in percent, clipped to +-OBS_CLIP (no simple return falls below -100%); the position in [-1, 1]
        high = np.full(obs_dim, OBS_CLIP, np.float32)
        high[self.window] = 1.0
        self.observation_space = spaces.Box(-high, high, (obs_dim,), np.float32)
        self.action_space = spaces.Discrete(3)
        self.returns = np.zeros(self.episode_days + 1)
        self.regimes = np.zeros(self.episode_days + 1, np.int64)
        self.day, self.position, self._episodes = 0, 0.0, 0

    def _observation(self) -> np.ndarray:
        start = self.day + 1 - self.window
        past = self.returns[max(start, 0): self.day + 1]
        seen = np.concatenate([np.zeros(self.window - past.size), past]) * 100.0  # percent
        parts = [seen, [self.position]]
        if self.lookahead:  # the bug: tomorrow's return, which no trader can know today
            parts.append([self.returns[self.day + 1] * 100.0])
        return np.clip(np.concatenate(parts), -OBS_CLIP, OBS_CLIP).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if self.fixed_paths is not None:
            if seed is not None:  # a seeded reset starts the cycle at path seed mod n (deterministic, as gym asks)
                self._episodes = int(seed)
            path_seed = self._episodes % self.fixed_paths
        elif seed is not None:
            path_seed = int(seed)
        else:
            path_seed = int(self.np_random.integers(2**62))
        self._episodes += 1
        self.returns, self.regimes = simulate_regime_path(self.params, self.episode_days + 1,
                                                          _path_rng(self.split, path_seed))
        self.day, self.position = 0, 0.0
        return self._observation(), {"regime": int(self.regimes[0]), "position": 0.0, "path_seed": path_seed}

    def step(self, action: int):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0 (short), 1 (flat) or 2 (long), got {action!r}")
        new_position = float(POSITIONS[int(action)])
        day_return = float(self.returns[self.day + 1])
        pnl = new_position * day_return - self.cost * abs(new_position - self.position)
        self.position = new_position
        self.day += 1
        truncated = self.day >= self.episode_days
        info = {"regime": int(self.regimes[self.day]), "position": new_position, "day_return": day_return}
        obs = self._observation() if not (truncated and self.lookahead) else self._final_observation()
        return obs, float(self.reward_scale * pnl), False, truncated, info

    def _final_observation(self) -> np.ndarray:
        # with the look-ahead bug there is no tomorrow after the last day: show a zero there
        obs = self._observation_without_lookahead()
        return np.concatenate([obs, np.zeros(1, np.float32)]).astype(np.float32)

    def _observation_without_lookahead(self) -> np.ndarray:
        lookahead, self.lookahead = self.lookahead, False
        try:
            return self._observation()
        finally:
            self.lookahead = lookahead
