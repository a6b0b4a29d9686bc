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


def check_windows(batch, seq_len, burn_in):
    obs = batch.obs.numpy()  # (W + 1, B, 2): (episode tag, step in episode)
    valid = batch.valid.numpy().astype(bool)
    W, B = valid.shape
    for b in range(B):
        rows = np.flatnonzero(valid[:, b])
        burn = batch.burn_in_lengths[b].item()
        assert burn in (0, burn_in), "a burn-in is full, or the window starts its episode"
        # the trained steps sit at fixed positions; the window's own rows start burn steps before them
        assert rows.size > 0 and rows[0] == burn_in - burn
        tag = obs[burn_in, b, 0]
        for t in rows:
            # the transition t -> t+1 stays inside one episode, step indices consecutive
            assert obs[t, b, 0] == tag and obs[t + 1, b, 0] == tag
            assert obs[t + 1, b, 1] == obs[t, b, 1] + 1
        assert np.all(np.diff(rows) == 1), "valid steps are contiguous"
        trained = batch.loss_mask[:, b].numpy().astype(bool)
        assert trained.sum() <= seq_len and np.all(valid[trained, b])
        assert np.flatnonzero(trained)[0] == burn_in, "the first trained step is at position burn_in"
        # a short burn-in was snapped to the episode start: the first trained step is step 0 or >= burn_in
        first_step = obs[burn_in, b, 1]
        assert first_step == 0 or first_step >= burn_in
        assert (burn == 0) == (first_step == 0 and burn_in > 0) or burn_in == 0
        # an episode can start only at the first row of a pass: position 0 (exactly burn_in steps before the
        # trained ones) or the first trained step, so that every pass is one fused call
        starts = batch.episode_starts[:, b].numpy()
        assert starts[burn_in] == float(first_step == 0)
        assert starts[0] == float(obs[0, b, 1] == 0 and valid[0, b]) or burn_in == 0
        assert starts.sum() == starts[0] + (starts[burn_in] if burn_in else 0)


@pytest.mark.parametrize("burn_in", [0, 4])
def test_windows_never_cross_episode_ends(burn_in):
    replay = SequenceReplay(400, 2, 2, seq_len=6, burn_in=burn_in, n_steps=3)
    fill(replay, 2, [[5, 9, 3], [7, 2, 11]], steps=300)  # the ring (200 rows per env) has wrapped
    rng = np.random.default_rng(0)
    for _ in range(20):
        check_windows(replay.sample(64, rng), seq_len=6, burn_in=burn_in)


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


def test_short_burn_in_snaps_to_the_episode_start_and_stored_state_is_read():
    replay = SequenceReplay(400, 1, 2, seq_len=3, burn_in=4, n_steps=1, hidden_size=5, lstm=True,
                            initial_state="stored")
    fill(replay, 1, [[20]], steps=60, hidden=5)
    batch = replay.sample(512, np.random.default_rng(2))
    trained_step = batch.obs[4, :, 1]  # step in episode of the first trained observation
    # rows 1-3 steps into an episode were moved back to its start; every other row keeps a full burn-in
    assert set(trained_step.tolist()) == {0.0} | set(range(4, 20))
    assert torch.equal(batch.burn_in_lengths, torch.where(trained_step == 0, 0, 4))
    # the start row is drawn for steps 0-3 of an episode, so about four times as often as any later row
    share_start = (trained_step == 0).float().mean().item()
    share_row_10 = (trained_step == 10).float().mean().item()
    assert 2.5 < share_start / share_row_10 < 6
    # the stored state was filled with the step index of the row; it is zero where the window starts its episode
    first_step = batch.obs[0, :, 1]
    expected = torch.where(trained_step == 0, torch.zeros_like(first_step), first_step)
    assert torch.allclose(batch.initial_state.h[0, :, 0], expected)


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


def test_reward_range_reads_the_transitions_held_not_the_rows_of_final_observations():
    replay = SequenceReplay(40, 1, 2, seq_len=2, n_steps=1)
    assert replay.reward_range() == (0.0, 0.0)  # nothing held yet
    obs, final = np.zeros((1, 2), np.float32), np.ones((1, 2), np.float32)
    for t, reward in enumerate([2.0, 3.5, 2.5] * 20):  # every third step ends an episode: a row without reward
        replay.add(obs, np.array([0]), np.array([reward]), np.array([t % 3 == 2]), np.array([False]), final)
    assert replay.reward_range() == (2.0, 3.5)  # the final observations' rows (reward 0) are not counted
