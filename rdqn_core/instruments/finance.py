"""Baselines and backtest metrics for the regime market (Chapter 9).

Conventions, shared by every function here: a path holds ``D + 1`` daily returns
``r_0 .. r_D`` (``(n, D + 1)`` for ``n`` paths, as :func:`~rdqn_core.envs.market_paths`
returns them); decision ``t = 0 .. D-1`` is taken after seeing ``r_0 .. r_t`` and is paid
``position_t * r_{t+1}``; positions are in ``{-1, 0, +1}`` and start from flat, so the first
trade pays its cost too.

Baselines: buy-and-hold, time-series momentum, the best memoryless rule (sign of
``E[r_{t+1} | r_t]``), the Hamilton filter (forward filtering of the regime probabilities,
with the true parameters or with parameters fitted by statsmodels' ``MarkovRegression``
on training paths) and the regime oracle. Metrics: annualised return, Sharpe ratio with
a 95% interval (Lo, 2002), maximum drawdown, turnover and regime accuracy; a linear probe
reads the regime out of hidden states; :func:`play_market` runs a trained Q-network over
test years through the package's one acting loop.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from ..envs import DEFAULT_MARKET, POSITIONS, REGIME_MARKET_ID, MarketParams, make_vector_env, market_paths
from ..envs.market import stationary_distribution
from ..rollout import Rollout

__all__ = ["hamilton_filter", "filter_positions", "momentum_positions", "buy_and_hold_positions",
           "memoryless_positions", "oracle_positions", "fit_markov_switching", "strategy_returns",
           "sharpe_ratio", "max_drawdown", "backtest", "linear_probe_accuracy", "play_market",
           "params_from_env_kwargs", "TRADING_DAYS"]

TRADING_DAYS = 252
"""Trading days per year, for annualising."""


def _gaussian(returns: np.ndarray, means: np.ndarray, vols: np.ndarray) -> np.ndarray:
    z = (returns[..., None] - means) / vols
    return np.exp(-0.5 * z**2) / (vols * math.sqrt(2 * math.pi))


def hamilton_filter(returns: np.ndarray, params: MarketParams, initial: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Forward filter of a Markov-switching Gaussian model (Hamilton, 1989).

    Args:
        returns: (..., T) daily returns (any leading axes: paths).
        params: the regimes' means, volatilities and transition matrix.
        initial: (k,) regime probabilities before day 0 is seen (default: the stationary ones).

    Returns:
        ``(filtered, predicted)``, each (..., T, k): ``filtered[..., t, :] = Pr(s_t | r_0..r_t)``
        and ``predicted[..., t, :] = Pr(s_{t+1} | r_0..r_t)``.
    """
    means, vols, trans = params.arrays()
    returns = np.asarray(returns, float)
    prior = stationary_distribution(trans) if initial is None else np.asarray(initial, float)
    prior = np.broadcast_to(prior, returns.shape[:-1] + (params.k,))
    likelihood = _gaussian(returns, means, vols)  # (..., T, k)
    filtered = np.empty_like(likelihood)
    for t in range(returns.shape[-1]):
        joint = prior * likelihood[..., t, :]
        filtered[..., t, :] = joint / joint.sum(axis=-1, keepdims=True)
        prior = filtered[..., t, :] @ trans  # Pr(s_{t+1} | r_0..r_t)
    return filtered, filtered @ trans


def _decision_returns(returns: np.ndarray) -> np.ndarray:
    returns = np.asarray(returns, float)
    if returns.ndim not in (1, 2) or returns.shape[-1] < 2:
        raise ValueError(f"returns must be (D + 1,) or (n, D + 1) with D >= 1 decisions, got shape {returns.shape}")
    return returns[..., :-1]  # what each decision may look at: r_0 .. r_{D-1}


def filter_positions(returns: np.ndarray, params: MarketParams) -> np.ndarray:
    """Sign of the filter's expected next return ``E[r_{t+1} | r_0..r_t]`` (the Bayes trader)."""
    _, predicted = hamilton_filter(_decision_returns(returns), params)
    return np.sign(predicted @ np.array(params.means))


def momentum_positions(returns: np.ndarray, lookback: int) -> np.ndarray:
    """Time-series momentum: the sign of the sum of the last ``lookback`` returns seen (fewer at the start)."""
    if int(lookback) != lookback or lookback < 1:
        raise ValueError(f"lookback must be an integer >= 1 day, got {lookback!r}")
    seen = _decision_returns(returns)
    cumulative = np.cumsum(seen, axis=-1)
    shifted = np.zeros_like(cumulative)
    shifted[..., lookback:] = cumulative[..., :-lookback]
    return np.sign(cumulative - shifted)


def buy_and_hold_positions(returns: np.ndarray) -> np.ndarray:
    """Long every day."""
    return np.ones_like(_decision_returns(returns))


def memoryless_positions(returns: np.ndarray, params: MarketParams) -> np.ndarray:
    """The best rule that sees only today's return: the sign of ``E[r_{t+1} | r_t]`` under the true model."""
    means, vols, trans = params.arrays()
    today = stationary_distribution(trans) * _gaussian(_decision_returns(returns), means, vols)
    today /= today.sum(axis=-1, keepdims=True)
    return np.sign(today @ trans @ means)


def oracle_positions(regimes: np.ndarray, params: MarketParams) -> np.ndarray:
    """Long in a regime with positive drift, short in one with negative drift: knows today's regime."""
    regimes = np.asarray(regimes)
    return np.sign(np.array(params.means)[regimes[..., :-1]])


def fit_markov_switching(train_returns: np.ndarray, k: int = 2, seed: int = 0) -> MarketParams:
    """Fit a k-regime Markov-switching model to training paths with statsmodels (``MarkovRegression``).

    The paths (n, D + 1) are joined into one series (the joins are a small misspecification:
    a regime does not carry over between paths). Regimes are ordered by falling mean, so that
    regime 0 is the bull one as in ``DEFAULT_MARKET``. statsmodels'
    default search (EM from a few random starts, then BFGS) is used; ``seed`` fixes its starts.
    """
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression  # heavy; only here

    series = np.asarray(train_returns, float).reshape(-1)
    if series.size < 50 * k:
        raise ValueError(f"need at least {50 * k} training returns to fit {k} regimes, got {series.size}")
    model = MarkovRegression(series * 100.0, k_regimes=k, trend="c", switching_variance=True)
    np.random.seed(seed)  # statsmodels draws its random EM starts from numpy's global generator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = model.fit(search_reps=5, disp=False)
    params = np.asarray(result.params)
    names = list(model.param_names)
    means = np.array([params[names.index(f"const[{i}]")] for i in range(k)]) / 100.0
    vols = np.sqrt([params[names.index(f"sigma2[{i}]")] for i in range(k)]) / 100.0
    trans = model.regime_transition_matrix(params)[..., 0].T  # statsmodels: [to, from]; ours: [from, to]
    order = np.argsort(-means)
    return MarketParams(tuple(means[order]), tuple(vols[order]), tuple(map(tuple, trans[np.ix_(order, order)])))


def strategy_returns(positions: np.ndarray, returns: np.ndarray, cost_bp: float) -> np.ndarray:
    """Daily net returns ``position_t * r_{t+1} - cost * |position_t - position_{t-1}|`` (flat before day 0)."""
    positions = np.asarray(positions, float)
    returns = np.asarray(returns, float)
    if positions.shape != returns[..., 1:].shape:
        raise ValueError(f"positions must have one entry per decision: returns {returns.shape} need positions "
                         f"{returns[..., 1:].shape}, got {positions.shape}")
    if cost_bp < 0:
        raise ValueError(f"cost_bp must be >= 0, got {cost_bp}")
    previous = np.concatenate([np.zeros_like(positions[..., :1]), positions[..., :-1]], axis=-1)
    return positions * returns[..., 1:] - cost_bp * 1e-4 * np.abs(positions - previous)


def sharpe_ratio(daily: np.ndarray, periods: int = TRADING_DAYS, level: float = 0.95) -> tuple[float, float, float]:
    """Annualised Sharpe ratio and its ``level`` interval from Lo's (2002) iid standard error.

    ``SE(SR_daily) = sqrt((1 + SR_daily**2 / 2) / T)``, scaled by ``sqrt(periods)`` like the
    ratio. Returns ``(sharpe, low, high)``; a constant series has Sharpe 0 by convention.
    """
    daily = np.asarray(daily, float).reshape(-1)
    if daily.size < 2:
        raise ValueError(f"need at least 2 daily returns, got {daily.size}")
    std = daily.std(ddof=1)
    sr = float(daily.mean() / std) if std > 0 else 0.0
    se = math.sqrt((1.0 + 0.5 * sr**2) / daily.size)
    z = {0.9: 1.6448536, 0.95: 1.9599640, 0.99: 2.5758293}.get(level)
    if z is None:
        raise ValueError(f"level must be 0.9, 0.95 or 0.99, got {level}")
    scale = math.sqrt(periods)
    return sr * scale, (sr - z * se) * scale, (sr + z * se) * scale


def max_drawdown(daily: np.ndarray) -> float:
    """Largest fall of wealth ``prod(1 + r)`` from a previous peak, as a fraction (0.2 = 20%)."""
    wealth = np.concatenate([[1.0], np.cumprod(1.0 + np.asarray(daily, float).reshape(-1))])
    return float(np.max(1.0 - wealth / np.maximum.accumulate(wealth)))


def backtest(positions: np.ndarray, returns: np.ndarray, cost_bp: float, regimes: np.ndarray | None = None,
             params: MarketParams = DEFAULT_MARKET) -> dict[str, float]:
    """The chapter's metrics for ``positions`` (n, D) on ``n`` years of ``returns`` (n, D + 1).

    Returns a dict: ``sharpe`` with ``sharpe_low``/``sharpe_high`` (95%, Lo 2002, over all days),
    ``annual_return`` (mean daily net return x 252), ``max_drawdown`` (mean over years),
    ``turnover`` (position change per year, mean) and, given ``regimes``, ``regime_accuracy``:
    the fraction of days whose position has the sign of the true regime's drift (the oracle's).
    """
    positions = np.atleast_2d(np.asarray(positions, float))
    returns = np.atleast_2d(np.asarray(returns, float))
    daily = strategy_returns(positions, returns, cost_bp)
    sr, low, high = sharpe_ratio(daily)
    previous = np.concatenate([np.zeros_like(positions[:, :1]), positions[:, :-1]], axis=1)
    out = dict(sharpe=sr, sharpe_low=low, sharpe_high=high, annual_return=float(daily.mean() * TRADING_DAYS),
               max_drawdown=float(np.mean([max_drawdown(year) for year in daily])),
               turnover=float(np.abs(positions - previous).sum(axis=1).mean() * TRADING_DAYS / positions.shape[1]))
    if regimes is not None:
        out["regime_accuracy"] = float(np.mean(positions == oracle_positions(np.atleast_2d(regimes), params)))
    return out


def linear_probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                          ridge: float = 1e-3) -> float:
    """Accuracy on ``test`` of a linear read-out of class labels fitted on ``train`` (ridge on one-hot targets).

    ``x``: (N, features), ``y``: (N,) integer labels. Features are standardized with the
    training statistics; the prediction is the argmax of the linear scores.
    """
    train_x, test_x = np.asarray(train_x, float), np.asarray(test_x, float)
    train_y, test_y = np.asarray(train_y, np.int64), np.asarray(test_y, np.int64)
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"x must be (N, features) with the same features, got {train_x.shape} and {test_x.shape}")
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise ValueError("x and y must have the same number of rows")
    mean, std = train_x.mean(0), train_x.std(0) + 1e-8
    design = lambda x: np.hstack([(x - mean) / std, np.ones((len(x), 1))])  # noqa: E731
    a = design(train_x)
    k = int(max(train_y.max(), test_y.max())) + 1
    targets = np.eye(k)[train_y]
    weights = np.linalg.solve(a.T @ a + ridge * len(a) * np.eye(a.shape[1]), a.T @ targets)
    return float(np.mean((design(test_x) @ weights).argmax(1) == test_y))


def params_from_env_kwargs(env_kwargs: dict[str, Any] | None) -> MarketParams:
    """The market an env built with ``env_kwargs`` trades (the defaults where a key is missing)."""
    kw = dict(env_kwargs or {})
    return MarketParams(tuple(kw.get("means", DEFAULT_MARKET.means)), tuple(kw.get("vols", DEFAULT_MARKET.vols)),
                        tuple(map(tuple, kw.get("transition", DEFAULT_MARKET.transition))))


@torch.no_grad()
def play_market(network: nn.Module, n: int, seed: int, env_kwargs: dict[str, Any] | None = None,
                split: str = "test") -> dict[str, np.ndarray]:
    """Play a Q-network greedily over ``n`` years of the market, one year per env, fresh memory each.

    The years are those of :func:`~rdqn_core.envs.market_paths` ``(n, seed, split)`` for the market
    ``env_kwargs`` describes. Returns ``positions`` (n, D), ``returns`` and ``regimes`` (n, D + 1),
    ``rewards`` (n, D) and, for a recurrent network, ``hidden`` (n, D, hidden): the memory after
    each decision's observation (what a probe reads).
    """
    kwargs = {**dict(env_kwargs or {}), "split": split}
    kwargs.pop("fixed_paths", None)  # test years are always fresh
    days = int(kwargs.get("episode_days", TRADING_DAYS))
    envs = make_vector_env(REGIME_MARKET_ID, n, env_kwargs=kwargs)
    try:
        rollout = Rollout(envs, network, seed=[seed + i for i in range(n)])
        rng = np.random.default_rng(0)  # unused at epsilon 0
        actions, rewards, hidden = [], [], []
        for _ in range(days):
            step = rollout.step(0.0, rng)
            actions.append(step.actions)
            rewards.append(step.rewards)
            if rollout.state is not None:
                hidden.append(rollout.state.h[0].cpu().numpy())  # (n, hidden) after this observation
    finally:
        envs.close()
    returns, regimes = market_paths(n, seed, split, params_from_env_kwargs(kwargs), days)
    out = dict(positions=POSITIONS[np.stack(actions, 1)], returns=returns, regimes=regimes,
               rewards=np.stack(rewards, 1))
    if hidden:
        out["hidden"] = np.stack(hidden, 1)
    return out
