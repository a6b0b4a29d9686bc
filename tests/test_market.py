"""Chapter 9's regime market: env_checker, the year, rewards and costs, seeds, and errors that teach."""
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rdqn_core import make_env
from rdqn_core.envs import (DEFAULT_MARKET, REGIME_MARKET_ID, MarketParams, RegimeMarketEnv, market_paths,
                            stationary_distribution, two_regime_params)


@pytest.mark.parametrize("kwargs", [{}, {"window": 20}, {"lookahead": True}, {"fixed_paths": 2, "cost_bp": 0.0}])
def test_env_checker_is_clean(kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "clean": not even a warning
        check_env(gym.make(REGIME_MARKET_ID, **kwargs).unwrapped, skip_render_check=True)


def test_a_year_is_252_decisions_and_ends_by_truncation():
    env = make_env(REGIME_MARKET_ID)
    env.reset(seed=0)
    for day in range(252):
        _, _, terminated, truncated, _ = env.step(2)
        assert not terminated
        assert truncated == (day == 251)


def test_reward_is_position_times_next_return_minus_cost():
    env = RegimeMarketEnv(cost_bp=10.0, reward_scale=1.0)
    obs, _ = env.reset(seed=3)
    r = env.returns
    assert obs[0] == pytest.approx(100 * r[0], rel=1e-6) and obs[1] == 0.0  # last return in percent, flat
    _, reward, *_ = env.step(2)  # flat -> long: one unit of change
    assert reward == pytest.approx(r[1] - 10e-4)
    obs, reward, *_ = env.step(0)  # long -> short: two units
    assert reward == pytest.approx(-r[2] - 2 * 10e-4)
    assert obs[0] == pytest.approx(100 * r[2], rel=1e-6) and obs[1] == -1.0
    _, reward, *_ = env.step(0)  # hold: no cost
    assert reward == pytest.approx(-r[3])


def test_observation_never_holds_the_regime_but_lookahead_leaks_tomorrow():
    env = RegimeMarketEnv(window=3)
    obs, info = env.reset(seed=1)
    assert obs.shape == (4,) and np.all(obs[:2] == 0.0)  # no history before day 0
    leaky = RegimeMarketEnv(lookahead=True)
    obs, _ = leaky.reset(seed=1)
    assert obs[-1] == pytest.approx(100 * leaky.returns[1], rel=1e-6)


def test_train_and_test_paths_differ_and_market_paths_reproduces_resets():
    train, _ = market_paths(3, 0, "train")
    test, test_regimes = market_paths(3, 0, "test")
    assert not np.allclose(train, test)
    env = RegimeMarketEnv(split="test")
    env.reset(seed=2)
    np.testing.assert_array_equal(env.returns, test[2])
    np.testing.assert_array_equal(env.regimes, test_regimes[2])


def test_fixed_paths_repeat():
    env = RegimeMarketEnv(fixed_paths=2)
    seen = []
    for _ in range(4):
        env.reset()
        seen.append(env.returns.copy())
    np.testing.assert_array_equal(seen[0], seen[2])
    assert not np.allclose(seen[0], seen[1])


def test_regime_statistics_match_the_parameters():
    returns, regimes = market_paths(200, 0, "train")
    assert np.mean(regimes == 0) == pytest.approx(stationary_distribution(np.array(DEFAULT_MARKET.transition))[0],
                                                  abs=0.05)
    assert returns[regimes == 1].std() == pytest.approx(0.02, rel=0.05)
    assert stationary_distribution(np.array(DEFAULT_MARKET.transition)) == pytest.approx([2 / 3, 1 / 3])


@pytest.mark.parametrize("kwargs, message", [
    (dict(transition=((1.2, -0.2), (0.02, 0.98))), r"lie in \[0, 1\]"),
    (dict(transition=((0.9, 0.05), (0.02, 0.98))), "must sum to 1"),
    (dict(vols=(0.01, -0.02)), "vols must be positive"),
    (dict(vols=(0.01,)), "one entry per regime"),
    (dict(transition=((1.0,),)), "2x2 matrix"),
    (dict(cost_bp=-1.0), "cost_bp must be"),
    (dict(window=0), "window must be"),
    (dict(split="validation"), "split must be one of"),
    (dict(fixed_paths=0), "fixed_paths must be"),
])
def test_bad_parameters_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_env(REGIME_MARKET_ID, **kwargs)


def test_bad_action_is_refused():
    env = RegimeMarketEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="0 \\(short\\), 1 \\(flat\\) or 2 \\(long\\)"):
        env.step(3)


def test_two_regime_params_and_market_params_validate():
    p = two_regime_params(bull_stay=0.95, bear_stay=0.9)
    np.testing.assert_allclose(p.transition, [[0.95, 0.05], [0.1, 0.9]])
    with pytest.raises(ValueError, match="must sum to 1"):
        MarketParams((0.0, 0.0), (1.0, 1.0), ((0.5, 0.4), (0.5, 0.5)))
