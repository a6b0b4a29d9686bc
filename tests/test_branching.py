"""Chapter 6: discretized continuous actions, the branching Q-head and the control tasks.

References here are written without the package's own helpers: per-dimension loops, numpy's
``unravel_index`` and gymnasium's ``DiscretizeAction`` itself.
"""
import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.wrappers import DiscretizeAction

from rdqn_core import TrainConfig, build_agent, load_checkpoint, save_checkpoint, train
from rdqn_core.cli import main
from rdqn_core.envs import (ANGLE_PENDULUM_ID, NOISY_ANGLE_PENDULUM_ID, PLANAR_REACHER_ID, GaussianObservationNoise,
                            PlanarReacherEnv, angle_pendulum, check_spaces, discretize_actions, make_env)
from rdqn_core.losses import branching_bootstrap, branching_q_taken
from rdqn_core.networks import (BranchingQHead, MLPQNetwork, RecurrentQNetwork, branches_to_joint, check_branches,
                                joint_to_branches)
from rdqn_core.rollout import act_epsilon_greedy

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_joint_index_decodes_as_numpy_and_gymnasium_do():
    branches = (3, 4, 2)
    joint = torch.arange(24)
    per_dim = joint_to_branches(joint, branches)
    np.testing.assert_array_equal(per_dim.numpy(), np.stack(np.unravel_index(np.arange(24), branches), axis=1))
    assert torch.equal(branches_to_joint(per_dim, branches), joint)
    assert torch.equal(joint_to_branches(torch.tensor([-1]), branches), torch.tensor([[-1, -1, -1]]))
    # gymnasium's flat DiscretizeAction sends joint index a to the same torques as the vector of per-dimension indices
    reacher = PlanarReacherEnv(links=3)
    flat, multi = DiscretizeAction(reacher, bins=4), DiscretizeAction(reacher, bins=4, multidiscrete=True)
    for a in (0, 5, 37, 63):
        np.testing.assert_array_equal(flat.action(a), multi.action(joint_to_branches(torch.tensor(a), (4,) * 3).numpy()))


def test_discretize_actions_wraps_box_and_multidiscrete_and_rejects_bad_bins():
    env = make_env("Pendulum-v1", action_bins=5)
    assert env.action_space == gym.spaces.Discrete(5)
    np.testing.assert_allclose([env.action(a)[0] for a in range(5)], [-1.6, -0.8, 0.0, 0.8, 1.6], atol=1e-6)
    assert make_env(PLANAR_REACHER_ID, links=3, action_bins=4).action_space.n == 64
    with pytest.raises(ValueError, match="--action-bins"):  # a Box left continuous: the error names the flag
        e = make_env("Pendulum-v1")
        check_spaces(e.observation_space, e.action_space)
    for bins in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match="integer >= 2"):
            make_env("Pendulum-v1", action_bins=bins)
    with pytest.raises(ValueError, match="already Discrete"):
        make_env("CartPole-v1", action_bins=3)

    class Multi(gym.Env):
        observation_space = gym.spaces.Box(-1, 1, (2,))
        action_space = gym.spaces.MultiDiscrete([3, 3])

    joint = discretize_actions(Multi(), None)
    assert joint.action_space.n == 9 and list(joint.action(5)) == [1, 2]
    assert discretize_actions(Multi(), 3).action_space.n == 9
    with pytest.raises(ValueError, match="does not match"):
        discretize_actions(Multi(), 4)


def test_config_rejects_branching_without_bins_and_with_conv():
    with pytest.raises(ValueError, match="needs action_bins"):
        TrainConfig(action_head="branching")
    with pytest.raises(ValueError, match="action_head"):
        TrainConfig(action_head="tree")
    with pytest.raises(ValueError, match="action_bins"):
        TrainConfig(action_bins=1)
    with pytest.raises(ValueError, match="needs action_bins"):
        TrainConfig.board(action_head="branching", action_bins=3)
    with pytest.raises(ValueError, match="does not match|do not all have"):
        build_agent(TrainConfig(action_head="branching", action_bins=3), 2, 10, torch.device("cpu"))


@pytest.mark.parametrize("cell", ["mlp", "lstm"])
def test_branching_network_has_k_times_d_outputs_and_per_dimension_previous_actions(cell):
    torch.manual_seed(0)
    branches = (5, 5, 5)
    kw = dict(obs_dim=4, n_actions=125, hidden_size=8, encoder_sizes=(8,), prev_action_input=True,
              action_branches=branches)
    net = MLPQNetwork(**kw) if cell == "mlp" else RecurrentQNetwork(**kw)
    assert net.in_dim == 4 + 15 and net.n_outputs == 15
    obs = torch.randn(2, 3, 4)
    prev = torch.tensor([[-1, 0, 124], [7, 31, 62]])
    x = net.inputs(obs, prev)
    assert x.shape == (2, 3, 19)
    assert torch.all(x[0, 0, 4:] == 0)  # no previous action: all zeros
    for t, b in ((0, 2), (1, 1)):  # 124 = (4, 4, 4); 31 = (1, 1, 1)
        hot = x[t, b, 4:].view(3, 5).argmax(-1)
        np.testing.assert_array_equal(hot.numpy(), np.unravel_index(int(prev[t, b]), branches))
        assert x[t, b, 4:].sum() == 3
    q, _ = net(obs, None, None, prev)
    assert q.shape == (2, 3, 15)
    greedy = net.greedy_actions(q)
    expected = [[int(np.ravel_multi_index(tuple(int(q[t, b, 5 * i:5 * i + 5].argmax()) for i in range(3)), branches))
                 for b in range(3)] for t in range(2)]
    assert greedy.tolist() == expected


def test_branching_head_dueling_shares_one_value():
    torch.manual_seed(0)
    head = BranchingQHead(6, 8, (3, 4), dueling=True)
    q = head(torch.randn(5, 6))
    a, b = q[:, :3], q[:, 3:]
    # both branches centre their advantages on the same value V
    torch.testing.assert_close(a.mean(-1), b.mean(-1))
    with pytest.raises(ValueError, match=">= 2 choices"):
        check_branches((3, 1))


def test_branching_bootstrap_and_taken_values_against_loops():
    torch.manual_seed(1)
    branches = (3, 2, 4)
    T, B = 4, 5
    q_t, q_o = torch.randn(T, B, 9), torch.randn(T, B, 9)
    got_double = branching_bootstrap(q_t, q_o, branches)
    got_max = branching_bootstrap(q_t, None, branches)
    actions = torch.randint(24, (T, B))
    taken = branching_q_taken(q_t, actions, branches)
    offsets = np.cumsum((0,) + branches)
    for t in range(T):
        for b in range(B):
            dbl, mx = [], []
            idx = np.unravel_index(int(actions[t, b]), branches)
            for i, k in enumerate(branches):
                lo = offsets[i]
                best = int(q_o[t, b, lo:lo + k].argmax())
                dbl.append(float(q_t[t, b, lo + best]))
                mx.append(float(q_t[t, b, lo:lo + k].max()))
                assert float(taken[t, b, i]) == pytest.approx(float(q_t[t, b, lo + idx[i]]))
            assert float(got_double[t, b]) == pytest.approx(np.mean(dbl), abs=1e-6)
            assert float(got_max[t, b]) == pytest.approx(np.mean(mx), abs=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_branching_update_regresses_every_branch_on_the_shared_target(alpha):
    """One update of a memoryless branching agent equals a loss written out per window and per branch
    (with advantage learning, each branch's target is lowered by alpha times its own action gap)."""
    torch.manual_seed(0)
    cfg = TrainConfig.memoryless(action_bins=3, action_head="branching", gamma=0.9, n_steps=1, batch_size=6,
                                 loss="mse", hidden_size=8, encoder_sizes=(8,), normalize_obs=False, max_grad_norm=0,
                                 learning_rate=1e-2, advantage_learning=alpha)
    agent = build_agent(cfg, 3, 9, torch.device("cpu"))
    with torch.no_grad():
        for p in agent.target.parameters():
            p.add_(0.3 * torch.randn_like(p))
    from rdqn_core.types import SequenceBatch
    B = 6
    obs = torch.randn(3, B, 3)  # W + 1 rows: W = burn-in 0 + one trained step + one look-ahead step
    actions = torch.randint(9, (2, B))
    rewards = torch.randn(2, B)
    terminated = torch.tensor([[0, 1, 0, 0, 0, 0], [0] * 6], dtype=torch.float32)
    zeros = torch.zeros(2, B)
    batch = SequenceBatch(obs=obs, prev_actions=torch.full((3, B), -1), actions=actions, rewards=rewards,
                          terminated=terminated, truncated=zeros, valid=torch.ones(2, B),
                          loss_mask=torch.tensor([[1.0] * B, [0.0] * B]), episode_starts=torch.zeros(3, B),
                          initial_state=None, stored_state=None, burn_in_lengths=torch.zeros(B, dtype=torch.long),
                          return_parts=None, parts_gamma=None)
    online = [p.detach().clone() for p in agent.online.parameters()]
    ref = __import__("copy").deepcopy(agent.online)
    # the reference loss, by loops
    q_now, q_next_on, q_next_tg = ref(obs[:1])[0][0], ref(obs[1:2])[0][0].detach(), agent.target(obs[1:2])[0][0]
    q_tg_now = agent.target(obs[:1])[0][0]
    terms = []
    for b in range(B):
        boot = np.mean([float(q_next_tg[b, 3 * i + int(q_next_on[b, 3 * i:3 * i + 3].argmax())]) for i in range(2)])
        y = float(rewards[0, b]) + 0.9 * (1 - float(terminated[0, b])) * boot
        for i, a_i in enumerate(np.unravel_index(int(actions[0, b]), (3, 3))):
            gap = float(q_tg_now[b, 3 * i:3 * i + 3].max() - q_tg_now[b, 3 * i + int(a_i)])
            terms.append((q_now[b, 3 * i + int(a_i)] - (y - alpha * gap)) ** 2)
    ref_loss = torch.stack(terms).mean()
    metrics = agent.update(batch)
    assert float(metrics["losses/td_loss"]) == pytest.approx(float(ref_loss.detach()), rel=1e-5)
    ref_loss.backward()
    opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    opt.step()
    for p_ref, p in zip(ref.parameters(), agent.online.parameters()):
        torch.testing.assert_close(p_ref, p)
    assert any(not torch.equal(a, b) for a, b in zip(online, agent.online.parameters()))


def test_epsilon_greedy_with_branches_is_the_per_branch_argmax_and_explores_the_joint_grid():
    torch.manual_seed(0)
    net = MLPQNetwork(2, 16, 8, (8,), action_branches=(4, 4))
    obs = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    starts, prev = np.ones(64), np.full(64, -1)
    actions, _, q = act_epsilon_greedy(net, obs, None, starts, prev, 0.0, np.random.default_rng(0))
    assert q.shape == (64, 8)
    np.testing.assert_array_equal(actions, 4 * q[:, :4].argmax(1) + q[:, 4:].argmax(1))
    random_actions, _, _ = act_epsilon_greedy(net, np.repeat(obs[:1], 4000, 0), None, np.ones(4000), np.full(4000, -1),
                                              1.0, np.random.default_rng(1))
    counts = np.bincount(random_actions, minlength=16)
    assert counts.min() > 150 and random_actions.max() == 15  # uniform over all 16 joint actions (250 expected)


@pytest.mark.parametrize("head", ["joint", "branching"])
def test_training_and_checkpoint_round_trip_on_the_reacher(tmp_path, head):
    cfg = TrainConfig(env_id=PLANAR_REACHER_ID, env_kwargs={"links": 2}, action_bins=3, action_head=head,
                      total_steps=600, learning_starts=200, eval_every=0, hidden_size=8, encoder_sizes=(8,),
                      progress=False, torch_threads=1)
    result = train(cfg)
    assert result.agent.online.n_actions == 9
    assert result.agent.online.n_outputs == (6 if head == "branching" else 9)
    path = save_checkpoint(tmp_path / "c.pt", result.agent, cfg)
    agent, loaded = load_checkpoint(path, "cpu")
    assert loaded.action_head == head and agent.online.action_branches == result.agent.online.action_branches
    obs = torch.randn(1, 3, 10)
    torch.testing.assert_close(agent.online(obs)[0], result.agent.online(obs)[0])


def test_cli_trains_a_discretized_pendulum_and_names_the_flag_when_bins_are_missing(capsys):
    assert main(["train", "--env", ANGLE_PENDULUM_ID, "--action-bins", "3", "--action-head", "branching",
                 "--total-steps", "300", "--learning-starts", "100", "--eval-every", "0", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["env_steps"] >= 300
    assert main(["train", "--env", ANGLE_PENDULUM_ID, "--total-steps", "100", "--quiet"]) == 2
    assert "--action-bins" in capsys.readouterr().err
    assert main(["train", "--env", "CartPole-v1", "--action-bins", "3", "--total-steps", "100", "--quiet"]) == 2
    assert "already Discrete" in capsys.readouterr().err


def test_angle_pendulum_hides_the_velocity_which_two_frames_recover_exactly():
    env = angle_pendulum()
    check_env(env.unwrapped, skip_render_check=True)
    obs0, _ = env.reset(seed=3)
    assert obs0.shape == (2,)
    obs1, *_ = env.step(np.array([0.7], np.float32))
    theta_dot = env.unwrapped.state[1]
    dtheta = math.atan2(obs1[1], obs1[0]) - math.atan2(obs0[1], obs0[0])
    assert dtheta / env.unwrapped.dt == pytest.approx(theta_dot, abs=1e-4)


def test_noisy_pendulum_noise_is_seeded_and_has_the_given_spread():
    a, b = make_env(NOISY_ANGLE_PENDULUM_ID), make_env(NOISY_ANGLE_PENDULUM_ID)
    obs_a = [a.reset(seed=5)[0]] + [a.step(np.zeros(1, np.float32))[0] for _ in range(199)]
    obs_b = [b.reset(seed=5)[0]] + [b.step(np.zeros(1, np.float32))[0] for _ in range(199)]
    np.testing.assert_array_equal(obs_a, obs_b)
    clean = angle_pendulum()
    ref = [clean.reset(seed=5)[0]] + [clean.step(np.zeros(1, np.float32))[0] for _ in range(199)]
    noise = np.asarray(obs_a) - np.asarray(ref)
    assert 0.085 < noise.std() < 0.115
    with pytest.raises(ValueError, match="sigma"):
        GaussianObservationNoise(clean, sigma=-1.0)


def test_planar_reacher_geometry_and_errors():
    env = PlanarReacherEnv(links=3)
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    env.q = np.zeros(3)
    np.testing.assert_allclose(env.tip(), [1.0, 0.0], atol=1e-12)  # stretched out along x: reach 1
    env.q = np.array([np.pi / 2, 0.0, 0.0])
    np.testing.assert_allclose(env.tip(), [0.0, 1.0], atol=1e-12)
    obs, reward, terminated, truncated, info = env.step(np.zeros(3, np.float32))
    assert reward == pytest.approx(-info["distance"]) and not terminated and not truncated
    for bad in (0, 13, 2.5):
        with pytest.raises(ValueError, match="links"):
            PlanarReacherEnv(links=bad)


@CUDA
def test_branching_agent_acts_and_updates_on_cuda():
    cfg = TrainConfig(env_id=PLANAR_REACHER_ID, action_bins=3, action_head="branching", total_steps=400,
                      learning_starts=100, eval_every=0, hidden_size=8, encoder_sizes=(8,), progress=False,
                      device="cuda")
    result = train(cfg)
    assert next(result.agent.online.parameters()).is_cuda


def test_actor_processes_build_the_branching_network_the_learner_publishes():
    """Chapter 7's actors act with the learner's weights: a branching head must be built the same way there."""
    from rdqn_core.parallel import train_actor_learner
    cfg = TrainConfig(env_id=PLANAR_REACHER_ID, env_kwargs={"links": 3}, action_bins=3, action_head="branching",
                      total_steps=800, learning_starts=200, eval_every=0, hidden_size=8, encoder_sizes=(8,),
                      batch_size=8, num_envs=2, chunk_len=8, sync_every=5, actors=1, updates_per_step=0.5,
                      progress=False, torch_threads=1)
    result = train_actor_learner(cfg)
    assert result.agent.online.n_outputs == 9 and result.summary["env_steps"] >= 800
