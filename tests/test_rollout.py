"""Rollout, the one acting loop: per-env memory resets, true final observations, episode bookkeeping."""
import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import TimeLimit

from rdqn_core import Rollout, build_q_network


class CounterEnv(gym.Env):
    """Observation ``(steps taken in the episode, tag)``; reward ``step + action``.

    Terminates after ``terminate_at`` steps if given; a ``TimeLimit`` around it truncates.
    """

    def __init__(self, tag: float = 0.0, terminate_at: int | None = None):
        self.tag, self.terminate_at = float(tag), terminate_at
        self.observation_space = spaces.Box(-1e6, 1e6, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.t = 0

    def _obs(self) -> np.ndarray:
        return np.array([self.t, self.tag], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        terminated = self.terminate_at is not None and self.t >= self.terminate_at
        return self._obs(), float(self.t + int(action)), terminated, False, {}


def counter_envs(specs) -> SyncVectorEnv:
    """One env per ``(time_limit, terminate_at)``; SAME_STEP autoreset like ``make_vector_env``."""
    fns = [lambda e=e, limit=limit, term=term: TimeLimit(CounterEnv(tag=e, terminate_at=term), limit)
           for e, (limit, term) in enumerate(specs)]
    return SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)


def recurrent_net(cell: str = "lstm"):
    torch.manual_seed(0)
    return build_q_network(cell, 2, 2, hidden_size=6, encoder_sizes=(6,), prev_action_input=True)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_memory_is_reset_for_exactly_the_envs_whose_episode_started(cell):
    envs = counter_envs([(3, None), (4, None), (100, 5)])  # episodes of 3, 4 and 5 steps
    rollout = Rollout(envs, recurrent_net(cell), seed=0)
    rng = np.random.default_rng(0)
    previous_state, previous_actions = None, None
    resets = carries = mixed = 0
    for i in range(40):
        step = rollout.step(0.3, rng)
        starts = step.episode_starts.astype(bool)
        if i == 0:
            assert starts.all(), "every env starts an episode at the first step"
        for e in range(3):
            parts = [step.state.h] + ([step.state.c] if cell == "lstm" else [])
            if starts[e]:
                assert all(torch.count_nonzero(p[0, e]) == 0 for p in parts), f"env {e} must start from zeros"
                assert step.prev_actions[e] == -1
                resets += 1
            else:
                before = [previous_state.h] + ([previous_state.c] if cell == "lstm" else [])
                assert all(torch.equal(p[0, e], q[0, e]) for p, q in zip(parts, before)), \
                    f"env {e} must carry its memory at step {i}"
                assert torch.count_nonzero(step.state.h[0, e]) > 0
                assert step.prev_actions[e] == previous_actions[e]
                carries += 1
        # an episode starts exactly where the env's previous step ended one
        if i > 0:
            np.testing.assert_array_equal(starts, previous_done)
        mixed += 0 < starts.sum() < 3
        previous_state, previous_actions, previous_done = rollout.state, step.actions, step.done
    envs.close()
    assert resets > 10 and carries > 60 and mixed > 5


def test_next_obs_at_an_episode_end_is_the_final_observation():
    limit, term = 4, 6
    envs = counter_envs([(limit, None), (100, term)])  # env 0 truncates after 4 steps, env 1 terminates after 6
    rollout = Rollout(envs, recurrent_net(), seed=0)
    rng = np.random.default_rng(1)
    seen = {"truncated": 0, "terminated": 0}
    for _ in range(25):
        obs_before = rollout.obs.copy()
        step = rollout.step(1.0, rng)
        np.testing.assert_array_equal(step.obs, obs_before)
        for e in range(2):
            np.testing.assert_array_equal(step.next_obs[e, 0], step.obs[e, 0] + 1)  # the step the env really took
            if step.done[e]:
                assert step.next_obs[e, 0] == (limit if e == 0 else term)
                assert rollout.obs[e, 0] == 0, "the rollout's obs is the reset observation of the next episode"
                assert rollout.episode_starts[e] == 1 and rollout.prev_actions[e] == -1
            else:
                np.testing.assert_array_equal(step.next_obs[e], rollout.obs[e])
                assert rollout.episode_starts[e] == 0 and rollout.prev_actions[e] == step.actions[e]
        if step.truncated[0]:
            seen["truncated"] += 1
            assert not step.terminated[0]
        if step.terminated[1]:
            seen["terminated"] += 1
            assert not step.truncated[1]
    envs.close()
    assert seen["truncated"] == 25 // limit and seen["terminated"] == 25 // term


def test_finished_episodes_report_their_return_and_length():
    specs = [(3, None), (7, None), (100, 5)]
    envs = counter_envs(specs)
    rollout = Rollout(envs, recurrent_net(), seed=0)
    rng = np.random.default_rng(2)
    running = [[] for _ in specs]  # actions of the running episode, per env
    reported, expected = [], []
    for _ in range(30):
        step = rollout.step(0.5, rng)
        for e in range(len(specs)):
            running[e].append(int(step.actions[e]))
            if step.done[e]:
                actions = running[e]
                expected.append((e, float(sum(t + 1 + a for t, a in enumerate(actions))), len(actions)))
                running[e] = []
        reported += step.finished
        for e in range(len(specs)):  # the running sums restart with every episode
            assert rollout.episode_lengths[e] == len(running[e])
    envs.close()
    assert sorted(reported) == sorted(expected)
    assert {length for e, _, length in reported if e == 0} == {3}
    assert {length for e, _, length in reported if e == 2} == {5}
    assert len(reported) == 30 // 3 + 30 // 7 + 30 // 5


def test_memoryless_network_rolls_out_without_state():
    envs = counter_envs([(3, None), (5, None)])
    net = build_q_network("mlp", 2, 2, hidden_size=6, encoder_sizes=(6,))
    rollout = Rollout(envs, net, seed=0)
    step = rollout.step(0.0, np.random.default_rng(0))
    assert step.state is None and rollout.state is None
    assert step.q_values.shape == (2, 2)
    np.testing.assert_array_equal(step.actions, step.q_values.argmax(1))  # epsilon 0: greedy
    envs.close()


def test_an_actor_that_is_not_a_network_runs_the_same_loop():
    """A peer method (the benchmark's RecurrentPPO) plugs into the loop through initial_state and act."""
    from rdqn_core import make_vector_env

    class Alternate:
        def __init__(self):
            self.starts_seen, self.states_out = [], []

        def initial_state(self, batch_size):
            return np.zeros(batch_size)

        def act(self, obs, state, episode_starts, prev_actions, epsilon, rng):
            self.starts_seen.append(np.array(episode_starts))
            state = np.where(episode_starts > 0, 0, state + 1)  # its own memory: steps since the episode start
            self.states_out.append(state)
            return (state % 2).astype(np.int64), state, None

    actor = Alternate()
    envs = make_vector_env("CartPole-v1", 2)
    rollout = Rollout(envs, actor, seed=0)
    steps = [rollout.step(0.0, np.random.default_rng(0)) for _ in range(60)]
    envs.close()
    assert actor.starts_seen[0].tolist() == [1.0, 1.0]
    assert any(step.done.any() for step in steps), "some episode ended, so resets were exercised"
    for k in range(1, len(steps)):
        np.testing.assert_array_equal(steps[k].episode_starts, steps[k - 1].done.astype(np.float32))
        expected = np.where(steps[k].episode_starts > 0, 0, actor.states_out[k - 1] + 1)
        np.testing.assert_array_equal(actor.states_out[k], expected)  # the loop hands the actor its own state
        np.testing.assert_array_equal(steps[k].actions, expected % 2)
