"""Chapter 9's baselines and metrics: the Hamilton filter against statsmodels, hand-computed metrics."""
import math

import numpy as np
import pytest
import torch

from rdqn_core import build_q_network
from rdqn_core.envs import DEFAULT_MARKET, market_paths, two_regime_params
from rdqn_core.instruments import finance as F


def test_hamilton_filter_matches_statsmodels_filtered_probabilities():
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    returns, _ = market_paths(1, 7, "test")
    model = MarkovRegression(returns[0] * 100, k_regimes=2, trend="c", switching_variance=True)
    # statsmodels' order: p[0->0], p[1->0], const[0], const[1], sigma2[0], sigma2[1] (percent units)
    sm = model.filter(np.array([0.99, 0.02, 0.08, -0.12, 1.0, 4.0])).filtered_marginal_probabilities
    ours, predicted = F.hamilton_filter(returns[0], DEFAULT_MARKET)
    np.testing.assert_allclose(ours[:, 0], np.asarray(sm)[:, 0], atol=1e-10)
    np.testing.assert_allclose(predicted, ours @ np.array(DEFAULT_MARKET.transition))


def test_filter_on_a_hand_computed_first_day():
    p = two_regime_params(bull_mean=0.0, bull_vol=1.0, bear_mean=0.0, bear_vol=2.0, bull_stay=0.5, bear_stay=0.5)
    filtered, _ = F.hamilton_filter(np.array([0.0]), p)
    # equal priors; densities at 0 are 1/sqrt(2 pi) and 1/(2 sqrt(2 pi)): posterior 2/3, 1/3
    np.testing.assert_allclose(filtered[0], [2 / 3, 1 / 3])


def test_fitted_parameters_come_close_to_the_true_ones():
    train, _ = market_paths(20, 0, "train")
    fitted = F.fit_markov_switching(train)
    assert fitted.vols == pytest.approx(DEFAULT_MARKET.vols, rel=0.1)
    assert fitted.transition[0][0] == pytest.approx(0.99, abs=0.01)
    assert fitted.means[0] > fitted.means[1]  # regime 0 is the bull one


def test_strategy_returns_and_costs_by_hand():
    returns = np.array([0.0, 0.01, -0.02, 0.03])
    positions = np.array([1.0, -1.0, -1.0])
    daily = F.strategy_returns(positions, returns, cost_bp=10.0)
    np.testing.assert_allclose(daily, [0.01 - 0.001, 0.02 - 0.002, -0.03])
    with pytest.raises(ValueError, match="one entry per decision"):
        F.strategy_returns(positions[:2], returns, 0.0)


def test_sharpe_and_lo_interval_by_hand():
    daily = np.array([0.01, -0.01, 0.02, 0.0])
    sr_daily = daily.mean() / daily.std(ddof=1)
    sr, low, high = F.sharpe_ratio(daily)
    assert sr == pytest.approx(sr_daily * math.sqrt(252))
    se = math.sqrt((1 + sr_daily**2 / 2) / 4) * math.sqrt(252)
    assert high - sr == pytest.approx(1.959964 * se, rel=1e-6) and sr - low == pytest.approx(1.959964 * se, rel=1e-6)


def test_max_drawdown_by_hand():
    # wealth 1, 1.1, 0.88, 0.968, 1.2: deepest fall 1.1 -> 0.88 = 20%
    assert F.max_drawdown(np.array([0.1, -0.2, 0.1, 0.24])) == pytest.approx(0.2)
    assert F.max_drawdown(np.array([0.01, 0.02])) == 0.0


def test_backtest_turnover_and_regime_accuracy():
    returns = np.zeros((2, 5))
    regimes = np.array([[0, 0, 1, 1, 0], [1, 1, 1, 1, 1]])
    positions = np.array([[1.0, 1.0, -1.0, 0.0], [-1.0, -1.0, -1.0, -1.0]])
    out = F.backtest(positions, returns, 0.0, regimes)
    # year 1 changes by 1 + 2 + 1 = 4 over 4 days, year 2 by 1: mean 2.5 per 4 days -> x 252 / 4
    assert out["turnover"] == pytest.approx(2.5 * 252 / 4)
    assert out["regime_accuracy"] == pytest.approx(7 / 8)


def test_simple_rules_by_hand():
    returns = np.array([0.01, -0.03, 0.01, 0.01, 0.0])
    np.testing.assert_array_equal(F.momentum_positions(returns, 2), [1, -1, -1, 1])
    np.testing.assert_array_equal(F.buy_and_hold_positions(returns), [1, 1, 1, 1])
    np.testing.assert_array_equal(F.oracle_positions(np.array([0, 1, 1, 0, 0]), DEFAULT_MARKET), [1, -1, -1, 1])
    # a large move says "bear" (2% vol) even when it is up: the memoryless rule goes short
    assert F.memoryless_positions(np.array([0.04, 0.0]), DEFAULT_MARKET)[0] == -1
    assert F.memoryless_positions(np.array([0.001, 0.0]), DEFAULT_MARKET)[0] == 1
    with pytest.raises(ValueError, match="lookback"):
        F.momentum_positions(returns, 0)


def test_filter_beats_buy_and_hold_out_of_sample():
    returns, regimes = market_paths(30, 0, "test")
    bh = F.backtest(F.buy_and_hold_positions(returns), returns, 5.0, regimes)
    flt = F.backtest(F.filter_positions(returns, DEFAULT_MARKET), returns, 5.0, regimes)
    assert flt["sharpe"] > bh["sharpe"] + 0.3 and flt["regime_accuracy"] > 0.85


def test_linear_probe_reads_a_linear_label_and_not_noise():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3))
    y = (x[:, 0] > 0).astype(int)
    assert F.linear_probe_accuracy(x[:200], y[:200], x[200:], y[200:]) > 0.95
    noise = rng.integers(0, 2, 400)
    assert F.linear_probe_accuracy(x[:200], noise[:200], x[200:], noise[200:]) < 0.65


def test_play_market_runs_a_network_over_test_years():
    net = build_q_network("gru", obs_dim=2, n_actions=3, hidden_size=8, encoder_sizes=(8,))
    out = F.play_market(net, 3, 5, {"cost_bp": 0.0})
    returns, regimes = market_paths(3, 5, "test")
    np.testing.assert_array_equal(out["returns"], returns)
    assert out["positions"].shape == (3, 252) and out["hidden"].shape == (3, 252, 8)
    daily = F.strategy_returns(out["positions"], out["returns"], 0.0)
    np.testing.assert_allclose(out["rewards"], 100 * daily, rtol=1e-4, atol=1e-5)
