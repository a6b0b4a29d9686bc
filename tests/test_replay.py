"""Sequence windows: never mix episodes, keep the final observation, burn-in and stored state."""
import numpy as np
import pytest
import torch

from rdqn_core import RecurrentState, SequenceReplay, TransitionReplay


def fill(replay, num_envs, lengths, truncate_every=None, hidden=0, steps=None):
    """Feed episodes whose observation is (episode tag, step index); env e has episode lengths lengths[e]."""
    tags = list(range(num_envs))
    step = np.zeros(num_envs, int)
    ep_index = np.zeros(num_envs, int)
    next_tag = num_envs
    for _ in range(steps or 200):
        obs = np.stack([[tags[e], step[e]] for e in range(num_envs)]).astype(np.float32)
        length = np.array([lengths[e][ep_index[e] % len(lengths[e])] for e in range(num_envs)])
        ended = step + 1 == length
        truncated = ended & (ep_index % 2 == 1) if truncate_every else np.zeros(num_envs, bool)
        terminated = ended & ~truncated
        final = np.stack([[tags[e], step[e] + 1] for e in range(num_envs)]).astype(np.float32)
        state = None
        if hidden:
            h = torch.tensor(obs[:, :1]).repeat(1, hidden).unsqueeze(0) * 0 + torch.tensor(obs[:, 1:2]).unsqueeze(0)
            state = RecurrentState(h, h.clone())
        replay.add(obs, np.ones(num_envs, int), np.ones(num_envs), terminated, truncated, final, None, state)
        step += 1
        for e in np.flatnonzero(ended):
            tags[e], step[e] = next_tag, 0
            next_tag += 1
            ep_index[e] += 1
    return replay


def check_windows(batch, seq_len):
    obs = batch.obs.numpy()  # (W + 1, B, 2)
    valid = batch.valid.numpy().astype(bool)
    W, B = valid.shape
    for b in range(B):
        rows = np.flatnonzero(valid[:, b])
        assert rows.size > 0 and rows[0] == 0, "windows are left-aligned and start on a real step"
        tag = obs[0, b, 0]
        for t in rows:
            # the transition t -> t+1 stays inside one episode, step indices consecutive
            assert obs[t, b, 0] == tag and obs[t + 1, b, 0] == tag
            assert obs[t + 1, b, 1] == obs[t, b, 1] + 1
        assert np.all(np.diff(rows) == 1), "valid steps are contiguous"
        trained = batch.loss_mask[:, b].numpy().astype(bool)
        assert trained.sum() <= seq_len and np.all(valid[trained, b])
        # burn-in = steps before the first trained step
        first_trained = np.flatnonzero(trained)[0]
        assert first_trained == batch.burn_in_lengths[b].item()
        # only the first observation can start an episode
        assert batch.episode_starts[0, b].item() == float(obs[0, b, 1] == 0)
        assert batch.episode_starts[1:, b].sum().item() == 0


@pytest.mark.parametrize("burn_in", [0, 4])
def test_windows_never_cross_episode_ends(burn_in):
    replay = SequenceReplay(400, 2, 2, seq_len=6, burn_in=burn_in, n_steps=3)
    fill(replay, 2, [[5, 9, 3], [7, 2, 11]], steps=300)  # the ring (200 rows per env) has wrapped
    rng = np.random.default_rng(0)
    for _ in range(20):
        check_windows(replay.sample(64, rng), seq_len=6)


def test_terminal_flags_and_final_observation_are_kept():
    replay = SequenceReplay(400, 1, 2, seq_len=4, burn_in=0, n_steps=1)
    fill(replay, 1, [[3]], truncate_every=2, steps=30)
    batch = replay.sample(256, np.random.default_rng(1))
    valid = batch.valid.bool()
    last = (batch.obs[1:, :, 1] == 3) & valid  # transitions into the final observation (step 3)
    ended = batch.terminated.bool() | batch.truncated.bool()
    assert torch.equal(last, ended), "exactly the transitions into a final observation end the episode"
    assert batch.terminated.any() and batch.truncated.any()
    assert not (batch.terminated.bool() & batch.truncated.bool()).any()


def test_newest_step_of_a_running_episode_is_not_sampled():
    replay = SequenceReplay(100, 1, 2, seq_len=2, n_steps=1)
    fill(replay, 1, [[50]], steps=1)  # one step, its next observation not seen yet
    assert not replay.can_sample()
    fill(replay, 1, [[50]], steps=1)
    batch = replay.sample(8, np.random.default_rng(0))
    assert batch.valid[0].all() and not batch.valid[1:].any()


def test_burn_in_is_shortened_at_episode_start_and_stored_state_is_read():
    replay = SequenceReplay(400, 1, 2, seq_len=3, burn_in=4, n_steps=1, hidden_size=5, lstm=True,
                            initial_state="stored")
    fill(replay, 1, [[20]], steps=60, hidden=5)
    batch = replay.sample(128, np.random.default_rng(2))
    first_step = batch.obs[0, :, 1]
    trained_step = first_step + batch.burn_in_lengths
    # burn-in covers min(burn_in, steps since the episode start)
    assert torch.equal(batch.burn_in_lengths.float(), torch.clamp(trained_step, max=4.0).float())
    # the stored state was filled with the step index of the row; it is zero at an episode start
    assert torch.allclose(batch.initial_state.h[0, :, 0], first_step * (first_step > 0))


def test_zero_start_ignores_stored_state():
    replay = SequenceReplay(400, 1, 2, seq_len=3, burn_in=2, n_steps=1, hidden_size=5, lstm=False,
                            initial_state="zero")
    fill(replay, 1, [[20]], steps=60, hidden=5)
    batch = replay.sample(64, np.random.default_rng(3))
    assert batch.initial_state.h.abs().sum() == 0 and batch.stored_state.h.abs().sum() > 0
    assert batch.initial_state.c is None


def test_transition_replay_has_one_trained_step():
    replay = TransitionReplay(400, 2, 2, n_steps=3)
    fill(replay, 2, [[5], [8]], steps=50)
    batch = replay.sample(32, np.random.default_rng(0))
    assert batch.obs.shape == (5, 32, 2) and batch.loss_mask.sum(0).eq(1).all()


def test_episodes_are_stored_once():
    replay = SequenceReplay(1000, 2, 2, seq_len=8, burn_in=4, n_steps=5)
    fill(replay, 2, [[10], [10]], steps=100)
    assert len(replay) == 200  # one row per transition, however many windows overlap it


@pytest.mark.parametrize("kwargs, match", [
    (dict(capacity=0), "capacity"), (dict(seq_len=0), "seq_len"), (dict(n_steps=0), "n_steps"),
    (dict(initial_state="random"), "initial_state"), (dict(initial_state="stored"), "hidden_size"),
    (dict(capacity=10), "need at least"),
])
def test_bad_arguments_raise(kwargs, match):
    args = dict(capacity=400, num_envs=1, obs_dim=2) | kwargs
    with pytest.raises(ValueError, match=match):
        SequenceReplay(**args)


def test_wrong_observation_shape_raises():
    replay = SequenceReplay(400, 2, 3)
    with pytest.raises(ValueError, match=r"obs must have shape \(2, 3\)"):
        replay.add(np.zeros((2, 4)), np.zeros(2, int), np.zeros(2), np.zeros(2, bool), np.zeros(2, bool), np.zeros((2, 3)))
