"""Tabular Q-learning against the Bellman fixed point, computed by hand and by value iteration."""
import ast
import pathlib

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit

from rdqn_core import ExtraExits, greedy_path, q_learning, value_iteration

LEFT, RIGHT = 0, 1


class Chain(gym.Env):
    """States 0..4 in a row, start at 1. Entering 0 pays 1 (near exit), entering 4 pays 10 (far goal); both end.

    From the start, the near exit is worth 1 and the far goal gamma**2 * 10 (two free steps, then the reward):
    a greedy agent goes right exactly when gamma > sqrt(0.1).
    """

    observation_space = spaces.Discrete(5)
    action_space = spaces.Discrete(2)

    def __init__(self):
        self.P = {}
        for s in range(5):
            self.P[s] = {}
            for a in (LEFT, RIGHT):
                s2 = min(max(s + (1 if a == RIGHT else -1), 0), 4)
                reward = {0: 1.0, 4: 10.0}.get(s2, 0.0)
                self.P[s][a] = [(1.0, s2, reward, s2 in (0, 4))]
        self.s = 1

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s = 1
        return self.s, {}

    def step(self, action):
        _, self.s, reward, terminated = self.P[self.s][int(action)][0]
        return self.s, reward, terminated, False, {}


class Forever(gym.Env):
    """One state, one action, reward 1 per step, never terminates: Q* = 1 / (1 - gamma)."""

    observation_space = spaces.Discrete(1)
    action_space = spaces.Discrete(1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        return 0, 1.0, False, False, {}


def test_value_iteration_matches_hand_computed_values():
    q = value_iteration(Chain(), gamma=0.5)
    # Q*(3, right) = 10; Q*(2, right) = .5 * 10; Q*(1, right) = .25 * 10; Q*(1, left) = 1 (the exit)
    assert q[3, RIGHT] == pytest.approx(10.0)
    assert q[2, RIGHT] == pytest.approx(5.0)
    assert q[1, RIGHT] == pytest.approx(2.5)
    assert q[1, LEFT] == pytest.approx(1.0)
    # going left from 2 lands on 1, whose best value is 2.5: Q*(2, left) = .5 * 2.5
    assert q[2, LEFT] == pytest.approx(1.25)


@pytest.mark.parametrize("gamma", [0.2, 0.5, 0.9])
@pytest.mark.parametrize("q_init", [0.0, 5.0])  # a nonzero start exposes bootstrapping from terminal states
def test_q_learning_reaches_the_bellman_fixed_point(gamma, q_init):
    env = Chain()
    q, returns = q_learning(env, episodes=400, alpha=0.5, gamma=gamma, epsilon=1.0, rng=np.random.default_rng(0),
                            q_init=q_init)
    q_star = value_iteration(env, gamma)
    inner = [1, 2, 3]  # terminal states 0 and 4 are never acted from
    np.testing.assert_allclose(q[inner], q_star[inner], atol=1e-6)
    assert returns.shape == (400,)
    assert set(np.unique(returns)) <= {1.0, 10.0}


@pytest.mark.parametrize("gamma, path", [(0.2, [1, 0]), (0.5, [1, 2, 3, 4])])
def test_gamma_decides_between_near_exit_and_far_goal(gamma, path):
    env = Chain()
    q, _ = q_learning(env, episodes=400, alpha=0.5, gamma=gamma, epsilon=1.0, rng=np.random.default_rng(1))
    walk = greedy_path(env, q)
    assert walk.states == path
    assert walk.terminated
    assert walk.total_reward == (1.0 if path[-1] == 0 else 10.0)


def test_truncation_bootstraps_but_termination_does_not():
    # with a time limit of 3 steps, treating truncation as termination would give Q = 1 + .5 + .25 at most;
    # bootstrapping through it gives the infinite-horizon value 1 / (1 - .5) = 2
    env = TimeLimit(Forever(), max_episode_steps=3)
    q, returns = q_learning(env, episodes=300, alpha=0.5, gamma=0.5, epsilon=0.0, rng=np.random.default_rng(0))
    assert q[0, 0] == pytest.approx(2.0, abs=1e-9)
    assert np.all(returns == 3.0)


def test_greedy_path_is_cut_at_max_steps():
    walk = greedy_path(TimeLimit(Forever(), 1_000), np.zeros((1, 1)), max_steps=7)
    assert len(walk.actions) == 7 and len(walk.states) == 8
    assert not walk.terminated


def test_same_seed_same_table():
    runs = [q_learning(Chain(), 50, 0.3, 0.9, 0.2, np.random.default_rng(3)) for _ in range(2)]
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_extra_exit_pays_its_reward_and_ends_the_episode():
    env = ExtraExits(gym.make("FrozenLake-v1", is_slippery=False), {1: 0.1})
    env.reset(seed=0)
    state, reward, terminated, truncated, _ = env.step(2)  # RIGHT from the start (0) enters cell 1
    assert (state, reward, terminated, truncated) == (1, 0.1, True, False)
    # the model says the same, so value iteration sees the world q_learning plays in
    assert env.get_wrapper_attr("P")[0][2] == [(1.0, 1, 0.1, True)]
    q_star = value_iteration(env, gamma=0.9)
    assert q_star[0, 2] == pytest.approx(0.1)
    assert q_star[0].max() == pytest.approx(0.9**5)  # the goal is 6 steps away; its reward of 1 arrives at step 6


@pytest.mark.parametrize("kwargs, message", [
    (dict(alpha=0.0), "alpha"), (dict(alpha=1.5), "alpha"),
    (dict(gamma=-0.1), "gamma"), (dict(gamma=1.1), "gamma"),
    (dict(epsilon=-0.1), "epsilon"), (dict(epsilon=2.0), "epsilon"),
    (dict(episodes=0), "episodes"), (dict(max_steps=0), "max_steps"),
])
def test_bad_arguments_raise_with_the_name(kwargs, message):
    args = dict(episodes=10, alpha=0.5, gamma=0.9, epsilon=0.1, rng=np.random.default_rng(0)) | kwargs
    with pytest.raises(ValueError, match=message):
        q_learning(Chain(), **args)


def test_errors_that_teach():
    with pytest.raises(TypeError, match="numpy Generator"):
        q_learning(Chain(), 10, 0.5, 0.9, 0.1, rng=0)
    with pytest.raises(ValueError, match="Discrete observation and action spaces"):
        q_learning(gym.make("CartPole-v1"), 10, 0.5, 0.9, 0.1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="gamma < 1"):
        value_iteration(Chain(), gamma=1.0)
    with pytest.raises(ValueError, match="no transition table"):
        value_iteration(Forever(), gamma=0.5)
    with pytest.raises(ValueError, match="shape"):
        greedy_path(Chain(), np.zeros((4, 2)))
    lake = gym.make("FrozenLake-v1", is_slippery=False)
    with pytest.raises(ValueError, match="not a state index"):
        ExtraExits(lake, {16: 1.0})
    with pytest.raises(ValueError, match="start state"):
        ExtraExits(lake, {0: 1.0})


def test_tabular_imports_nothing_from_the_package():
    source = (pathlib.Path(__file__).resolve().parents[1] / "rdqn_core" / "instruments" / "tabular.py").read_text()
    relative = [n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom) and n.level]
    assert relative == []
