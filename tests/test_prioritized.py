"""Prioritized sequence replay: sampling follows priority ** alpha, weights correct for it, priorities flow back."""
import dataclasses

import numpy as np
import pytest
import torch

from rdqn_core import SequenceReplay, TrainConfig, train
from rdqn_core.losses import sequence_priorities, td_loss

from test_replay import fill

NUM_ENVS = 2


def filled(alpha=0.9, beta=0.6):
    replay = SequenceReplay(400, NUM_ENVS, obs_dim=2, seq_len=4, burn_in=2, n_steps=2,
                            priority_exponent=alpha, importance_exponent=beta)
    return fill(replay, NUM_ENVS, [[30, 20]] * NUM_ENVS, steps=150)


def test_new_steps_get_the_largest_priority_and_episode_ends_none():
    replay = filled()
    stored = replay.priority[replay.has_transition]
    assert np.all(stored == 1.0)  # max_priority starts at 1
    assert np.all(replay.priority[~replay.has_transition] == 0.0)  # final observations are never sampled
    keys = np.flatnonzero(replay.has_transition.ravel())[:3]
    replay.update_priorities(keys, np.array([5.0, 0.5, 0.0]))
    assert replay.max_priority == pytest.approx(5.0 + 1e-6)
    replay.add(np.zeros((NUM_ENVS, 2)), np.zeros(NUM_ENVS, int), np.zeros(NUM_ENVS), np.zeros(NUM_ENVS, bool),
               np.zeros(NUM_ENVS, bool), np.zeros((NUM_ENVS, 2)))
    newest = (replay.pos - 1) % replay.ring
    assert np.all(replay.priority[np.arange(NUM_ENVS), newest] == replay.max_priority)


def test_sampling_frequency_follows_priority_to_the_alpha():
    alpha = 0.5
    replay = filled(alpha=alpha)
    rng = np.random.default_rng(0)
    # one slot 100x the priority of every other: with alpha 0.5 it is drawn 10x as often as each of them
    batch = replay.sample(8, rng)
    hot = int(batch.keys[0])
    replay.update_priorities(np.array([hot]), np.array([100.0]))
    replay.priority[replay.priority > 0] = np.where(replay.priority[replay.priority > 0] > 50, 100.0, 1.0)
    counts = 0
    draws = 0
    for _ in range(400):
        batch = replay.sample(32, rng)
        counts += int(np.sum(batch.keys == hot))
        draws += 32
    sampleable = np.flatnonzero(replay.has_transition.ravel())
    # the expected share, up to the few rows rejection sampling refuses (newest rows, missing burn-ins)
    expected = 10.0 / (10.0 + len(sampleable) - 1)
    assert counts / draws == pytest.approx(expected, rel=0.25)


def test_importance_weights_undo_the_prioritization():
    alpha, beta = 1.0, 1.0
    replay = filled(alpha=alpha, beta=beta)
    rng = np.random.default_rng(1)
    batch = replay.sample(64, rng)
    keys = batch.keys
    new = rng.uniform(0.1, 3.0, size=len(keys))
    replay.update_priorities(keys, new)
    batch = replay.sample(64, rng)
    p = replay.priority.ravel()
    w = batch.weights.numpy()
    assert w.max() == pytest.approx(1.0)
    # with beta = 1 the weights are proportional to 1 / P(i): weight times priority is the same for all
    product = w * p[batch.keys]
    np.testing.assert_allclose(product, product[0], rtol=1e-5)


def test_uniform_replay_has_no_weights_and_keys():
    replay = filled(alpha=0.0)
    batch = replay.sample(8, np.random.default_rng(0))
    assert batch.weights is None and batch.keys is None
    replay.update_priorities(np.array([0]), np.array([3.0]))  # a no-op for a uniform replay
    assert replay.max_priority == 1.0


@pytest.mark.parametrize("bad", [dict(priority_exponent=1.5), dict(importance_exponent=-0.1)])
def test_bad_exponents_are_refused(bad):
    with pytest.raises(ValueError, match="must be in \\[0, 1\\]"):
        SequenceReplay(400, 2, obs_dim=2, **bad)


def test_bad_priorities_are_refused():
    replay = filled()
    with pytest.raises(ValueError, match="finite and >= 0"):
        replay.update_priorities(np.array([1]), np.array([np.nan]))
    with pytest.raises(ValueError, match="2 keys but 1 priorities"):
        replay.update_priorities(np.array([1, 2]), np.array([1.0]))


def test_sequence_priority_mixes_max_and_mean_over_the_masked_steps():
    errors = torch.tensor([[1.0, -2.0], [-3.0, 10.0], [5.0, 0.0]])  # (T=3, B=2)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # the 5 and the 10 are masked out
    got = sequence_priorities(errors, mask, eta=0.9)
    expected = torch.tensor([0.9 * 3 + 0.1 * 2.0, 0.9 * 2 + 0.1 * 1.0])
    torch.testing.assert_close(got, expected)


def test_weighted_td_loss():
    q, y = torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [0.5, 3.0]])
    mask = torch.ones(2, 2)
    plain = td_loss(q, y, mask, "mse")
    torch.testing.assert_close(td_loss(q, y, mask, "mse", weights=torch.ones(2)), plain)
    half = td_loss(q, y, mask, "mse", weights=torch.tensor([1.0, 0.0]))  # the second window counts for nothing
    assert half.item() == pytest.approx((1.0 + 0.25) / 4)
    with pytest.raises(ValueError, match="one per window"):
        td_loss(q, y, mask, "mse", weights=torch.ones(3))


def test_training_with_prioritized_replay_moves_the_priorities(tmp_path):
    config = TrainConfig(env_id="CartPole-v1", total_steps=600, num_envs=2, hidden_size=8, encoder_sizes=(8,),
                         buffer_size=2_000, batch_size=4, learning_starts=200, eval_every=0, progress=False,
                         priority_exponent=0.9, torch_threads=1)
    result = train(config, out_dir=tmp_path, return_replay=True)
    priorities = result.replay.priority[result.replay.has_transition]
    assert len(np.unique(priorities)) > 10, "the learner handed back new priorities"
    # resumable: the priorities come back with the replay
    longer = dataclasses.replace(config, total_steps=800)
    resumed = train(longer, out_dir=tmp_path, resume=True, return_replay=True)
    assert resumed.replay.max_priority >= result.replay.max_priority
