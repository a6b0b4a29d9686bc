"""Chapter 4's instruments: staleness of stored states, the episode tracer, the linear probe, frame stacking."""
import collections
import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from rdqn_core import (MASKED_CARTPOLE_ID, STACKED_MASKED_CARTPOLE, MLPQNetwork, RecurrentQNetwork, RecurrentState,
                       SequenceReplay, TrainConfig, collect_experience, hidden_state_staleness, linear_probe_r2,
                       make_env, make_frame_stacked, make_vector_env, q_discrepancy, trace_episode, train)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Small networks run fastest on one thread; on a busy 2-core machine several threads crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_network(cell="lstm", seed=0, obs_dim=2):
    torch.manual_seed(seed)
    return RecurrentQNetwork(obs_dim, 2, hidden_size=8, encoder_sizes=(8,), prev_action_input=True, cell=cell)


def filled_replay(network, steps=800, num_envs=2, seq_len=4, burn_in=2):
    replay = SequenceReplay(4000, num_envs, network.obs_dim, seq_len=seq_len, burn_in=burn_in, n_steps=2,
                            hidden_size=network.hidden_size, lstm=network.cell == "lstm", initial_state="stored")
    returns = collect_experience(network, MASKED_CARTPOLE_ID, replay, steps, epsilon=0.5, seed=1)
    assert len(returns) > 5 and replay.steps_added >= steps
    return replay


def perturb(network, scale=0.3, seed=1):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in network.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator))


# ------------------------------------------------------------------------------------------- q_discrepancy
def test_q_discrepancy_by_hand():
    q = np.array([[1.0, 2.0], [3.0, -4.0]])
    ref = np.array([[1.0, 4.0], [3.0, -4.0]])
    np.testing.assert_allclose(q_discrepancy(q, ref), [2.0 / 4.0, 0.0])
    # the denominator is |max_a q_ref|, not max |q_ref|: here max is -1
    np.testing.assert_allclose(q_discrepancy(np.array([0.0, 0.0]), np.array([-1.0, -2.0])), np.sqrt(5.0))
    with pytest.raises(ValueError, match="same shape"):
        q_discrepancy(np.zeros((3, 2)), np.zeros((2, 2)))


# ----------------------------------------------------------------------------------------------- staleness
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_staleness_is_zero_while_the_weights_are_those_that_stored_the_states(cell):
    network = small_network(cell)
    replay = filled_replay(network)
    report = hidden_state_staleness(network, replay, burn_ins=(0, 2), windows=64)
    assert report.windows == 64 and report.steps_in_episode.min() >= 1
    assert report.stored_state_gap < 1e-5, report.stored_state_gaps.max()
    for burn_in in (0, 2):
        assert report.row("stored", burn_in)["delta_q_mean"] < 1e-5
        assert report.row("stored", burn_in)["state_gap_first"] < 1e-5
    # a zero state mid-episode is wrong even with fresh weights; burn-in reduces the error
    zero0, zero2 = report.row("zero", 0), report.row("zero", 2)
    assert zero0["state_gap_first"] > 0.05 and zero0["delta_q_first"] > 1e-3
    assert zero2["state_gap_first"] < zero0["state_gap_first"]


def test_staleness_appears_when_the_weights_change_and_a_full_burn_in_removes_it():
    network = small_network()
    replay = filled_replay(network)
    perturb(network)
    full = 10_000  # longer than any episode prefix: burn-in from the episode start, so exact
    report = hidden_state_staleness(network, replay, burn_ins=(0, 4, full), windows=64)
    assert report.stored_state_gap > 0.01
    stored0, stored4 = report.row("stored", 0), report.row("stored", 4)
    assert stored0["delta_q_first"] > 1e-3
    assert stored4["state_gap_first"] < stored0["state_gap_first"]
    for initial in ("zero", "stored"):
        assert report.row(initial, full)["delta_q_mean"] < 1e-5
        assert report.row(initial, full)["state_gap_first"] < 1e-5
    as_dict = report.to_dict()
    assert as_dict["windows"] == 64 and len(as_dict["strategies"]) == 6
    assert len(as_dict["strategies"][0]["delta_q_by_step"]) == replay.seq_len
    with pytest.raises(KeyError, match="measured"):
        report.row("stored", 3)


def test_staleness_rejects_bad_inputs():
    network = small_network()
    replay = filled_replay(network, steps=200)
    with pytest.raises(ValueError, match="needs a recurrent network"):
        hidden_state_staleness(MLPQNetwork(2, 2), replay)
    with pytest.raises(TypeError, match="SequenceBatch has no episode history"):
        hidden_state_staleness(network, replay.sample(4, np.random.default_rng(0)))
    no_states = SequenceReplay(1000, 2, 2, seq_len=4)
    with pytest.raises(ValueError, match="stores no recurrent states"):
        hidden_state_staleness(network, no_states)
    with pytest.raises(ValueError, match="do not match the network"):
        hidden_state_staleness(small_network("gru"), replay)
    with pytest.raises(ValueError, match="burn_ins"):
        hidden_state_staleness(network, replay, burn_ins=(-1,))
    with pytest.raises(ValueError, match="initial_states"):
        hidden_state_staleness(network, replay, initial_states=("random",))
    empty = SequenceReplay(1000, 2, 2, seq_len=4, hidden_size=8, lstm=True)
    with pytest.raises(ValueError, match="collect more steps"):
        hidden_state_staleness(network, empty)


def test_collect_experience_checks_the_replay_matches():
    network = small_network()
    with pytest.raises(ValueError, match="observations of size 3"):
        collect_experience(network, MASKED_CARTPOLE_ID, SequenceReplay(1000, 2, 3), 10)
    with pytest.raises(ValueError, match="epsilon"):
        collect_experience(network, MASKED_CARTPOLE_ID, SequenceReplay(1000, 2, 2), 10, epsilon=2.0)


# ------------------------------------------------------------------------------------------------- tracer
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_trace_equals_a_direct_forward_pass(cell):
    network = small_network(cell)
    trace = trace_episode(network, MASKED_CARTPOLE_ID, seed=5)
    T = len(trace["actions"])
    assert T == len(trace["rewards"]) == trace["return"] and T >= 5
    starts = torch.zeros(T, 1)
    starts[0] = 1
    prev = torch.as_tensor(trace["prev_actions"]).view(T, 1)
    assert prev[0].item() == -1 and torch.equal(prev[1:, 0], torch.as_tensor(trace["actions"][:-1]))
    q, state = network(torch.as_tensor(trace["obs"]).view(T, 1, -1), None, starts, prev)
    np.testing.assert_allclose(trace["q"], q[:, 0].detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(trace["q_fresh"], trace["q"], atol=1e-5)
    np.testing.assert_array_equal(trace["actions"], trace["q"].argmax(1))  # greedy
    np.testing.assert_allclose(trace["hidden"][-1], state.h[0, 0].detach().numpy(), atol=1e-5)
    assert ("cell" in trace) == (cell == "lstm")
    # the full simulator state is recorded; the agent sees only its positions (x, theta)
    assert trace["env_state"].shape == (T, 4)
    np.testing.assert_allclose(trace["obs"], trace["env_state"][:, [0, 2]], rtol=1e-6)
    # the same seed replays the same episode
    again = trace_episode(network, MASKED_CARTPOLE_ID, seed=5)
    np.testing.assert_array_equal(again["obs"], trace["obs"])


def test_trace_reset_memory_controls_the_carried_state():
    network = small_network()
    carried = RecurrentState(torch.full((1, 1, 8), 3.0), torch.full((1, 1, 8), -3.0))
    correct = trace_episode(network, MASKED_CARTPOLE_ID, seed=2, initial_state=carried, prev_action=1)
    fresh = trace_episode(network, MASKED_CARTPOLE_ID, seed=2)
    np.testing.assert_allclose(correct["q"], fresh["q"], atol=1e-6)  # reset: the carried state is ignored
    buggy = trace_episode(network, MASKED_CARTPOLE_ID, seed=2, initial_state=carried, prev_action=1,
                          reset_memory=False)
    assert q_discrepancy(buggy["q"][0], buggy["q_fresh"][0]) > 1e-3
    assert buggy["prev_actions"][0] == 1
    # the final state can be carried into the next episode
    assert isinstance(buggy["final_state"], RecurrentState) and buggy["final_state"].h.shape == (1, 1, 8)


def test_trace_works_with_an_mlp_and_an_env_instance_and_rejects_bad_input():
    torch.manual_seed(0)
    network = MLPQNetwork(2, 2, hidden_size=8, encoder_sizes=(8,))
    env = make_env(MASKED_CARTPOLE_ID)
    trace = trace_episode(network, env, seed=0, epsilon=1.0, max_steps=7)
    assert len(trace["q"]) <= 7 and "hidden" not in trace and trace["final_state"] is None
    env.step(0)  # the instance is left open for the caller
    env.close()
    with pytest.raises(ValueError, match="no memory"):
        trace_episode(network, MASKED_CARTPOLE_ID, initial_state=RecurrentState(torch.zeros(1, 1, 8)))
    with pytest.raises(TypeError, match="rdqn_core Q-network"):
        trace_episode(torch.nn.Linear(2, 2), MASKED_CARTPOLE_ID)
    with pytest.raises(ValueError, match="unknown environment id"):
        trace_episode(network, "rdqn/MaskedCartPol-v0")


# ------------------------------------------------------------------------------------------------- probe
def test_linear_probe_r2():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    Y = np.stack([X @ np.arange(5.0) + 1.0, rng.normal(size=200)], axis=1)
    r2 = linear_probe_r2(X[:100], Y[:100], X[100:], Y[100:], ridge=0.0)
    assert r2[0] > 0.999 and r2[1] < 0.2
    assert linear_probe_r2(X, X[:, 0])[0] > 0.99
    # units do not matter: a feature a thousand times smaller is read out just as well
    small = X * np.array([1e-3, 1, 1, 1, 1])
    np.testing.assert_allclose(linear_probe_r2(small, Y[:, 0]), linear_probe_r2(X, Y[:, 0]), rtol=1e-9)
    with pytest.raises(ValueError, match="same N"):
        linear_probe_r2(X, Y[:10])
    with pytest.raises(ValueError, match="both"):
        linear_probe_r2(X, Y, X)


# ---------------------------------------------------------------------------------------------- stacking
@pytest.mark.parametrize("k, padding", [(1, "reset"), (3, "reset"), (4, "zero")])
def test_frame_stacked_env_passes_check_env_and_stacks_the_last_k_observations(k, padding):
    env = make_frame_stacked(MASKED_CARTPOLE_ID, k=k, padding=padding)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (2 * k,)
    plain = make_env(MASKED_CARTPOLE_ID)
    obs, _ = env.reset(seed=7)
    first, _ = plain.reset(seed=7)
    fill = first if padding == "reset" else np.zeros_like(first)
    history = collections.deque([fill] * (k - 1) + [first], maxlen=k)
    rng = np.random.default_rng(0)
    for t in range(60):
        np.testing.assert_array_equal(obs, np.concatenate(history), err_msg=f"step {t}")
        assert env.observation_space.contains(obs)
        action = int(rng.integers(2))
        obs, reward, terminated, truncated, _ = env.step(action)
        o, r, te, tr, _ = plain.step(action)
        assert (reward, terminated, truncated) == (r, te, tr)
        history.append(o)
        if terminated or truncated:
            break
    env.close()
    plain.close()


def test_frame_stacked_spec_works_in_vector_envs_and_training():
    envs = make_vector_env(STACKED_MASKED_CARTPOLE, 2)
    assert envs.single_observation_space.shape == (8,)
    envs.close()
    result = train(TrainConfig.memoryless(env_id=STACKED_MASKED_CARTPOLE, total_steps=300, num_envs=2,
                                          learning_starts=100, eval_every=300, eval_episodes=2, batch_size=8,
                                          hidden_size=8, encoder_sizes=(8,), buffer_size=2000, progress=False))
    assert result.agent.online.obs_dim == 8 and result.history["eval/step"] == [300]


def test_frame_stacking_rejects_bad_input():
    with pytest.raises(ValueError, match="positive integer"):
        make_frame_stacked(MASKED_CARTPOLE_ID, k=0)
    with pytest.raises(ValueError, match="unknown padding"):
        make_frame_stacked(MASKED_CARTPOLE_ID, padding="mirror")
    with pytest.raises(ValueError, match="1-D Box"):
        make_frame_stacked("FrozenLake-v1")
    assert isinstance(make_frame_stacked("CartPole-v1", k=2), gym.Env)


def test_config_accepts_the_spec():
    cfg = TrainConfig.memoryless(env_id=STACKED_MASKED_CARTPOLE)
    assert dataclasses.asdict(cfg)["env_id"] == "rdqn/StackedMaskedCartPole-v0"  # a registered id, not a module path
    env = make_env(cfg.env_id)
    assert env.observation_space.shape == (8,)
    # the module-path spec that older result files carry still names the same environment
    assert make_env("rdqn_core.stacking:masked_cartpole_stacked").observation_space.shape == (8,)


def test_flicker_stacked_spec_blanks_with_p_and_stacks_k():
    spec = "rdqn_core.envs.stacking:flicker_cartpole_stacked"
    never = make_env(spec, k=3, p=0.0)
    plain = make_frame_stacked("CartPole-v1", k=3)
    assert never.observation_space.shape == (12,)
    a, _ = never.reset(seed=4)
    b, _ = plain.reset(seed=4)
    np.testing.assert_array_equal(a, b)  # p = 0: stacked CartPole itself
    often = make_env(spec, k=2, p=0.9)
    often.reset(seed=4)
    blank = [not np.any(often.step(t % 2)[0][4:]) for t in range(20)]  # newest frame (4 numbers): blank w.p. 0.9
    assert 12 <= sum(blank) < 20
    for env in (never, plain, often):
        env.close()
