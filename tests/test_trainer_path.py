"""The trainer's own path: what it stores in the replay, and how many updates it makes.

Nothing here re-implements the trainer: each test runs ``train(config, return_replay=True)`` and
checks what came out against an independent computation (a walk of the online network over the
stored episodes, CartPole's own dynamics, the config's update arithmetic).
"""
import dataclasses
import math

import numpy as np
import pytest
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from rdqn_core import TrainConfig, train

TINY = TrainConfig(total_steps=400, num_envs=2, learning_starts=400, eval_every=0, buffer_size=2000, batch_size=4,
                   hidden_size=8, encoder_sizes=(8,), seq_len=4, burn_in=2, n_steps=2, progress=False,
                   torch_threads=1, seed=5)


def stored_steps(replay):
    """Per vector step k (rows of the replay's transitions in order): obs, prev action, start flag, state."""
    assert np.all(replay.size < replay.ring), "the ring must not have wrapped for this walk"
    rows = [np.flatnonzero(replay.has_transition[e, :replay.size[e]]) for e in range(replay.num_envs)]
    steps = len(rows[0])
    assert all(len(r) == steps for r in rows), "every env stores one transition per vector step"
    rows = np.stack(rows, axis=1)  # (K, B)
    envs = np.arange(replay.num_envs)[None, :]
    h = replay.state_h[envs, rows]
    c = replay.state_c[envs, rows] if replay.state_c is not None else None
    return (replay.obs[envs, rows], replay.prev_actions[envs, rows], replay.step_in_episode[envs, rows], h, c)


@torch.no_grad()
def state_gaps(network, replay) -> tuple[np.ndarray, np.ndarray]:
    """Max |stored - recomputed| per stored state (K, B), recomputed by running ``network`` from each
    episode's first step exactly as the actor did (all envs side by side, one step at a time)."""
    obs, prev, step_in_episode, h, c = stored_steps(replay)
    K, B = step_in_episode.shape
    state = network.initial_state(B)
    gaps = np.zeros((K, B))
    for k in range(K):
        starts = torch.as_tensor(step_in_episode[k] == 0, dtype=torch.float32)
        state = state.masked(1.0 - starts)  # the state the actor chose its action with
        gap = (state.h[0] - torch.as_tensor(h[k])).abs().amax(-1)
        if c is not None:
            gap = torch.maximum(gap, (state.c[0] - torch.as_tensor(c[k])).abs().amax(-1))
        gaps[k] = gap.numpy()
        _, state = network(torch.as_tensor(obs[k]).view(1, B, -1), state, starts.view(1, B),
                           torch.as_tensor(prev[k]).view(1, B))
    return gaps, step_in_episode


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_stored_states_are_exact_once_the_normalizer_is_frozen(cell):
    config = dataclasses.replace(TINY, cell=cell, obs_norm_steps=60)
    assert config.learning_starts >= config.total_steps  # no update: the weights never change
    result = train(config, return_replay=True)
    assert result.summary["updates"] == 0
    assert result.agent.normalizer.count.item() == 60, "the statistics saw exactly obs_norm_steps observations"
    gaps, step_in_episode = state_gaps(result.agent.online, result.replay)
    K = len(gaps)
    frozen_from = math.ceil(config.obs_norm_steps / config.num_envs)  # first vector step acting with final stats
    k = np.arange(K)[:, None]
    episode_start = k - step_in_episode
    exact = (episode_start >= frozen_from) | (step_in_episode == 0)
    assert exact.sum() > 200
    assert gaps[exact].max() == 0.0, "states of episodes that ran entirely after the freeze must be exact"
    stale = ~exact  # states computed (in part) with statistics that later changed
    assert stale.sum() > 10
    assert (gaps[stale] > 0).mean() > 0.9, "the check can tell a stale state from an exact one"


def test_stored_states_go_stale_while_the_normalizer_keeps_updating():
    config = dataclasses.replace(TINY, obs_norm_steps=None)
    result = train(config, return_replay=True)
    assert result.agent.normalizer.count.item() == config.total_steps
    gaps, step_in_episode = state_gaps(result.agent.online, result.replay)
    assert gaps[step_in_episode == 0].max() == 0.0, "an episode start is the zero state, always exact"
    mid = step_in_episode > 0
    assert (gaps[mid] > 0).mean() > 0.95
    assert gaps[mid].max() > 1e-4


def cartpole_step(env: CartPoleEnv, obs: np.ndarray, action: int) -> np.ndarray:
    """CartPole's own dynamics from a full-state observation."""
    env.state = obs.astype(np.float64)
    env.steps_beyond_terminated = None
    return env.step(int(action))[0]


def test_final_observations_of_truncated_episodes_reach_the_replay():
    limit = 20
    config = dataclasses.replace(TINY, env_id="CartPole-v1", env_kwargs={"max_episode_steps": limit},
                                 total_steps=600, num_envs=3, learning_starts=600)
    replay = train(config, return_replay=True).replay
    physics = CartPoleEnv()
    physics.reset(seed=0)
    counts = {"truncated": 0, "terminated": 0, "steps": 0}
    for e in range(replay.num_envs):
        for r in np.flatnonzero(replay.has_transition[e, :replay.size[e]]):
            if r + 1 >= replay.size[e]:
                continue  # the newest row: its next observation is not stored yet
            nxt = r + 1
            expected = cartpole_step(physics, replay.obs[e, r], replay.actions[e, r])
            np.testing.assert_allclose(replay.obs[e, nxt], expected, atol=1e-5,
                                       err_msg=f"env {e} row {nxt} is not the observation after row {r}")
            counts["steps"] += 1
            ended = replay.terminated[e, r] or replay.truncated[e, r]
            assert replay.step_in_episode[e, nxt] == replay.step_in_episode[e, r] + 1
            if not ended:
                assert replay.has_transition[e, nxt] and replay.episode_id[e, nxt] == replay.episode_id[e, r]
                continue
            # the episode's final observation, stored as a row without a transition
            assert not replay.has_transition[e, nxt] and replay.episode_id[e, nxt] == replay.episode_id[e, r]
            assert not replay.truncated[e, nxt] and not replay.terminated[e, nxt]
            assert replay.prev_actions[e, nxt] == replay.actions[e, r]
            fell = abs(expected[0]) > 2.4 or abs(expected[2]) > physics.theta_threshold_radians
            assert replay.terminated[e, r] == fell, "terminated exactly where the pole fell or the cart left"
            if replay.truncated[e, r]:  # (a pole that falls at the time limit is both)
                counts["truncated"] += 1
                assert replay.step_in_episode[e, nxt] == limit, "a truncation happens at the time limit"
            else:
                counts["terminated"] += 1
                assert replay.step_in_episode[e, nxt] <= limit
            if nxt + 1 < replay.size[e]:  # then the next episode begins from a reset, not from the final obs
                assert replay.step_in_episode[e, nxt + 1] == 0 and replay.prev_actions[e, nxt + 1] == -1
                assert replay.episode_id[e, nxt + 1] != replay.episode_id[e, r]
    physics.close()
    assert counts["truncated"] >= 5 and counts["terminated"] >= 5 and counts["steps"] > 500


@pytest.mark.parametrize("total_steps, learning_starts, updates_per_step, num_envs", [
    (200, 100, 0.5, 2),
    (201, 100, 0.5, 2),  # total_steps not a multiple of num_envs: the run ends at 202
    (200, 101, 0.5, 2),  # learning_starts not a multiple of num_envs
    (200, 0, 0.5, 2),  # updates due before the replay can sample
    (120, 0, 1.0, 1),
    (300, 50, 0.1, 1),  # a fraction that a running sum would round down
    (300, 50, 0.3, 3),
    (100, 20, 2.0, 4),  # several updates per env step
    (103, 21, 0.7, 4),
    (150, 200, 1.0, 2),  # learning never starts
])
def test_a_full_run_makes_the_expected_number_of_updates(total_steps, learning_starts, updates_per_step,
                                                          num_envs):
    config = dataclasses.replace(TINY, total_steps=total_steps, learning_starts=learning_starts,
                                 updates_per_step=updates_per_step, num_envs=num_envs, hidden_size=4,
                                 encoder_sizes=(4,), seq_len=2, burn_in=1, n_steps=1, batch_size=2,
                                 eps_decay_steps=100)
    result = train(config)
    steps_run = num_envs * math.ceil(total_steps / num_envs)
    assert result.summary["env_steps"] == steps_run
    assert result.summary["updates"] == config.expected_updates()
    assert config.expected_updates() == math.floor(max(0, steps_run - learning_starts) * updates_per_step + 1e-9)
    assert len(result.history.get("losses/td_loss", [])) == result.summary["updates"]


def test_memoryless_run_makes_the_expected_number_of_updates():
    config = TrainConfig.memoryless(total_steps=150, num_envs=3, learning_starts=30, updates_per_step=0.4,
                                    eval_every=0, buffer_size=1000, batch_size=4, hidden_size=4,
                                    encoder_sizes=(4,), n_steps=2, progress=False, torch_threads=1)
    result = train(config)
    assert result.summary["updates"] == config.expected_updates() == 48
