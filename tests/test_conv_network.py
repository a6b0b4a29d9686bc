"""Chapter 8's board network: per-cell Q-values on any board size, and action masking in acting and bootstrap."""
import numpy as np
import pytest
import torch
from torch import nn

import rdqn_core.agent as agent_module
from rdqn_core import (ConvQNetwork, MINESWEEPER_ID, MinesweeperGame, TrainConfig, board_tensor, build_agent,
                       load_checkpoint, save_checkpoint, train)
from rdqn_core.losses import double_q_bootstrap, max_q_bootstrap
from rdqn_core.networks import build_q_network
from rdqn_core.rollout import act_epsilon_greedy


def random_boards(rows: int, cols: int, mines: int, count: int, seed: int = 0) -> np.ndarray:
    """(count, 10, rows, cols) board tensors of games a random player is part-way through."""
    rng = np.random.default_rng(seed)
    boards = []
    while len(boards) < count:
        game = MinesweeperGame(rows, cols, mines, "safe", rng)
        game.open(rows // 2, cols // 2)
        for _ in range(int(rng.integers(0, 4))):
            if game.done:
                break
            r, c = np.argwhere(game.view == -1)[rng.integers((game.view == -1).sum())]
            game.open(int(r), int(c))
        if not game.done:
            boards.append(board_tensor(game.view))
    return np.stack(boards)


def test_shapes_flat_and_board_inputs_agree():
    torch.manual_seed(0)
    net = ConvQNetwork(10, (6, 6), conv_channels=(8, 8))
    boards = torch.as_tensor(random_boards(6, 6, 4, 6)).reshape(2, 3, 10, 6, 6)  # (T, B, C, H, W)
    q_board, state = net(boards)
    q_flat, _ = net(boards.reshape(2, 3, -1))  # (T, B, C * H * W), as replay and rollout store them
    assert q_board.shape == (2, 3, 36) and state is None
    torch.testing.assert_close(q_flat, q_board)


def test_same_weights_play_two_board_sizes():
    torch.manual_seed(0)
    net = ConvQNetwork(10, (6, 6), conv_channels=(8, 8))
    small = torch.as_tensor(random_boards(6, 6, 4, 2))[None]  # (1, 2, 10, 6, 6)
    large = torch.as_tensor(random_boards(9, 9, 10, 2))[None]  # (1, 2, 10, 9, 9)
    assert net(small)[0].shape == (1, 2, 36)
    assert net(large)[0].shape == (1, 2, 81)
    # a translation moves the Q-values with the board (away from the edge, where padding differs):
    # the filters are the same everywhere, whatever the board's size
    empty = np.zeros((10, 9, 9), np.float32)
    empty[1] = 1.0  # every cell opened showing 0 ...
    one, two = empty.copy(), empty.copy()
    one[:, 3, 3], two[:, 4, 5] = 0.0, 0.0
    one[0, 3, 3], two[0, 4, 5] = 1.0, 1.0  # ... but one unopened cell
    q = net(torch.as_tensor(np.stack([one, two]))[None])[0].reshape(2, 9, 9)
    torch.testing.assert_close(q[0, 3, 3], q[1, 4, 5])


def test_action_mask_is_channel_zero():
    net = ConvQNetwork(10, (5, 5), conv_channels=(4,))
    boards = random_boards(5, 5, 3, 4)
    mask = net.action_mask(torch.as_tensor(boards).reshape(1, 4, -1))
    assert mask.dtype == torch.bool and mask.shape == (1, 4, 25)
    np.testing.assert_array_equal(mask[0].numpy(), boards[:, 0].reshape(4, 25) > 0.5)
    assert ConvQNetwork(10, (5, 5), mask_channel=None).action_mask(torch.zeros(1, 1, 250)) is None


@pytest.mark.parametrize("make, match", [
    (lambda: ConvQNetwork(0), "channels must be a positive"),
    (lambda: ConvQNetwork(10, (6,)), "board_shape must be"),
    (lambda: ConvQNetwork(10, (0, 6)), "two positive sizes"),
    (lambda: ConvQNetwork(10, (6, 6), conv_channels=()), "conv_channels"),
    (lambda: ConvQNetwork(10, (6, 6), mask_channel=10), "mask_channel must be"),
    (lambda: build_q_network("conv", 360, 36, obs_shape=(360,)), "needs a \\(channels, rows, cols\\)"),
    (lambda: build_q_network("conv", 360, 36, obs_shape=(10, 6, 6), dueling=True), "dueling"),
])
def test_bad_construction_says_what_is_allowed(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_say_what_is_expected():
    net = ConvQNetwork(10, (6, 6), conv_channels=(4,))
    with pytest.raises(ValueError, match=r"\(T, B, 360\)"):
        net(torch.zeros(1, 2, 250))  # a 5x5 board flattened, for a 6x6 network
    with pytest.raises(ValueError, match="needs 10 channels"):
        net(torch.zeros(1, 2, 9, 6, 6))
    with pytest.raises(ValueError, match="obs must be"):
        net(torch.zeros(2, 360))
    with pytest.raises(ValueError, match="need the board size"):
        ConvQNetwork(10, None, conv_channels=(4,))(torch.zeros(1, 2, 360))


class PrefersOpenedCells(nn.Module):
    """A Q-network that rates every opened cell 10 and every unopened one 0: masking must overrule it."""

    def __init__(self, masked: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))
        self.masked = masked

    def initial_state(self, batch_size, device="cpu"):
        return None

    def action_mask(self, obs):
        return obs[..., :36] > 0.5 if self.masked else None

    def forward(self, obs, state=None, episode_starts=None, prev_actions=None):
        return 10.0 * (obs[..., :36] < 0.5).float() + self.weight, None


@pytest.mark.parametrize("epsilon", [0.0, 0.5, 1.0])
def test_acting_never_picks_an_opened_cell(epsilon):
    boards = random_boards(6, 6, 4, 200, seed=1).reshape(200, -1)
    allowed = boards[:, :36] > 0.5
    assert (~allowed).any(axis=1).all()  # every board has opened cells the network prefers
    rng = np.random.default_rng(0)
    for _ in range(5):
        actions, _, _ = act_epsilon_greedy(PrefersOpenedCells(), boards, None, np.zeros(200), np.full(200, -1),
                                           epsilon, rng)
        assert allowed[np.arange(200), actions].all()
    # the same network without its mask does pick opened cells: the check above can fail
    actions, _, _ = act_epsilon_greedy(PrefersOpenedCells(masked=False), boards, None, np.zeros(200),
                                       np.full(200, -1), 0.0, rng)
    assert not allowed[np.arange(200), actions].any()


def test_random_actions_are_uniform_over_allowed_cells():
    board = random_boards(6, 6, 4, 1, seed=3).reshape(1, -1)
    allowed = np.flatnonzero(board[0, :36] > 0.5)
    boards = np.repeat(board, 4000, axis=0)
    actions, _, _ = act_epsilon_greedy(PrefersOpenedCells(), boards, None, np.zeros(4000), np.full(4000, -1), 1.0,
                                       np.random.default_rng(0))
    counts = np.bincount(actions, minlength=36)
    assert set(np.flatnonzero(counts)) == set(allowed)
    expected = 4000 / len(allowed)
    assert np.all(np.abs(counts[allowed] - expected) < 5 * np.sqrt(expected))


def test_masked_bootstraps_by_hand():
    q_target = torch.tensor([[[1.0, 5.0, 3.0], [2.0, 0.0, -1.0]]])  # (T=1, B=2, A=3)
    q_online = torch.tensor([[[0.0, 9.0, 1.0], [7.0, 0.0, 3.0]]])
    mask = torch.tensor([[[True, False, True], [False, False, False]]])
    # env 0: max over actions 0 and 2 is 3 (not 5); env 1: nothing allowed, bootstraps 0
    torch.testing.assert_close(max_q_bootstrap(q_target, mask), torch.tensor([[3.0, 0.0]]))
    # env 0: the online argmax over {0, 2} is action 2, valued 3 by the target net
    torch.testing.assert_close(double_q_bootstrap(q_target, q_online, mask), torch.tensor([[3.0, 0.0]]))
    # unmasked, as before
    torch.testing.assert_close(max_q_bootstrap(q_target), torch.tensor([[5.0, 2.0]]))
    torch.testing.assert_close(double_q_bootstrap(q_target, q_online), torch.tensor([[5.0, 2.0]]))


def test_bad_masks_are_rejected():
    q = torch.zeros(1, 2, 3)
    with pytest.raises(ValueError, match="bool tensor shaped like the Q-values"):
        max_q_bootstrap(q, torch.ones(1, 2, 3))  # float, not bool
    with pytest.raises(ValueError, match="bool tensor shaped like the Q-values"):
        double_q_bootstrap(q, q, torch.ones(1, 2, 4, dtype=torch.bool))


def board_config(**overrides) -> TrainConfig:
    base = dict(env_id=MINESWEEPER_ID, env_kwargs={"rows": 5, "cols": 5, "mines": 3}, total_steps=240,
                num_envs=4, learning_starts=80, batch_size=16, buffer_size=2_000, n_steps=2, gamma=0.9,
                encoder_sizes=(8, 8), eval_every=0, torch_threads=1, progress=False, updates_per_step=0.25)
    return TrainConfig.board(**{**base, **overrides})


@pytest.mark.parametrize("double_dqn", [True, False])
def test_update_bootstraps_over_unopened_cells_only(monkeypatch, double_dqn):
    seen = []
    name = "double_q_bootstrap" if double_dqn else "max_q_bootstrap"
    original = getattr(agent_module, name)

    def recording(*args):
        seen.append(args[-1])
        return original(*args)

    monkeypatch.setattr(agent_module, name, recording)
    result = train(board_config(double_dqn=double_dqn), return_replay=True)
    assert len(seen) == result.agent.updates > 0
    for mask in seen:
        assert mask is not None and mask.dtype == torch.bool and mask.shape[-1] == 25
        assert mask.any(-1).float().mean() > 0.5  # real boards, not only padding rows
    assert np.isfinite(result.history["losses/td_loss"]).all()


def test_masked_bootstrap_differs_from_the_unmasked_one():
    """On replayed boards the masked target really is another number: the mask reaches the update."""
    torch.manual_seed(0)
    result = train(board_config(), return_replay=True)
    agent, batch = result.agent, result.replay.sample(32, np.random.default_rng(0))
    with torch.no_grad():
        q, _ = agent.target(batch.obs)  # (W + 1, B, 25)
        allowed = agent.online.action_mask(batch.obs)
        masked = max_q_bootstrap(q, allowed)
        assert not torch.equal(masked, max_q_bootstrap(q))
        picked = q.masked_fill(~allowed, -torch.inf).argmax(-1)
        assert allowed.gather(-1, picked.unsqueeze(-1))[allowed.any(-1)].all()


def test_trained_board_agent_never_clicks_an_opened_cell():
    result = train(board_config(total_steps=120, learning_starts=40))
    env_steps = 0
    for seed in range(20):
        from rdqn_core import make_env

        env = make_env(MINESWEEPER_ID, rows=5, cols=5, mines=3)
        obs, info = env.reset(seed=seed)
        done = False
        while not done:
            action, _, _ = act_epsilon_greedy(result.agent.online, obs.reshape(1, -1), None, np.zeros(1),
                                              np.full(1, -1), 0.0, np.random.default_rng(seed))
            assert info["action_mask"][action[0]] == 1
            obs, reward, terminated, truncated, info = env.step(int(action[0]))
            assert reward != -1.0 or terminated  # never the invalid-click penalty
            done = terminated or truncated
            env_steps += 1
    assert env_steps > 20


def test_config_and_command_line_choose_the_board_network(capsys):
    from rdqn_core.cli import _config_from_args, build_parser, main

    def config(*flags):
        return _config_from_args(build_parser().parse_args(["train", *flags]))

    assert config("--env", MINESWEEPER_ID) == TrainConfig.board(env_id=MINESWEEPER_ID)
    assert config("--env", MINESWEEPER_ID, "--cell", "mlp").cell == "mlp"  # a flag given explicitly wins
    assert config("--cell", "conv", "--env", MINESWEEPER_ID, "--encoder-sizes", "16").encoder_sizes == (16,)
    assert config().cell == "lstm"  # CartPole's vector observation keeps the DRQN defaults
    with pytest.raises(ValueError, match="has no memory"):
        TrainConfig(cell="conv")
    with pytest.raises(ValueError, match="normalize_obs=False"):
        TrainConfig.board(normalize_obs=True)
    assert main(["train", "--cell", "conv", "--quiet", "--total-steps", "10"]) == 2  # CartPole is no board
    assert "(channels, rows, cols)" in capsys.readouterr().err


def test_checkpoint_brings_the_board_size_back(tmp_path):
    config = board_config()
    agent = build_agent(config, 250, 25, torch.device("cpu"), obs_shape=(10, 5, 5))
    save_checkpoint(tmp_path / "c.pt", agent, config)
    loaded, loaded_config = load_checkpoint(tmp_path / "c.pt", "cpu")
    obs = torch.as_tensor(random_boards(5, 5, 3, 3)).reshape(1, 3, -1)
    assert loaded.online.board_shape == (5, 5) and loaded.n_actions == 25 and loaded_config == config
    torch.testing.assert_close(loaded.online(obs)[0], agent.online(obs)[0])


def test_command_line_trains_minesweeper_with_the_board_network(tmp_path, capsys):
    from rdqn_core.cli import main

    assert main(["train", "--env", MINESWEEPER_ID, "--total-steps", "300", "--learning-starts", "100",
                 "--eval-every", "150", "--eval-episodes", "4", "--torch-threads", "1", "--quiet",
                 "--out", str(tmp_path)]) == 0
    agent, config = load_checkpoint(tmp_path / "checkpoint.pt", "cpu")
    assert config.cell == "conv" and isinstance(agent.online, ConvQNetwork)
    assert agent.online.board_shape == (6, 6)


def test_command_line_trains_minesweeper_with_actors(tmp_path):
    """The parallel trainers take the board network too (they once refused it: their learners built flat ones)."""
    from rdqn_core.cli import main

    assert main(["train", "--env", MINESWEEPER_ID, "--env-kwargs", '{"rows": 4, "cols": 4, "mines": 2}',
                 "--actors", "1", "--total-steps", "300", "--learning-starts", "100", "--batch-size", "8",
                 "--eval-every", "0", "--quiet", "--out", str(tmp_path)]) == 0
    agent, config = load_checkpoint(tmp_path / "checkpoint.pt", "cpu")
    assert config.cell == "conv" and config.actors == 1 and agent.online.board_shape == (4, 4)


def test_benchmark_runs_the_board_network():
    from rdqn_core.benchmark import benchmark

    result = benchmark(board_config(), num_envs=(2,), act_steps=5, updates=3, fill_steps=200)
    assert result["update_ms"] > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_masked_acting_and_bootstrap_on_cuda():
    net = ConvQNetwork(10, (6, 6), conv_channels=(8,)).to("cuda")
    boards = random_boards(6, 6, 4, 64, seed=2).reshape(64, -1)
    allowed = boards[:, :36] > 0.5
    for epsilon in (0.0, 1.0):
        actions, _, _ = act_epsilon_greedy(net, boards, None, np.zeros(64), np.full(64, -1), epsilon,
                                           np.random.default_rng(0))
        assert allowed[np.arange(64), actions].all()
    obs = torch.as_tensor(boards, device="cuda")[None]
    q, _ = net(obs)
    mask = net.action_mask(obs)
    picked = q.masked_fill(~mask, -torch.inf).argmax(-1)
    torch.testing.assert_close(max_q_bootstrap(q, mask), q.gather(-1, picked.unsqueeze(-1)).squeeze(-1))


def test_turned_boards_move_observations_and_actions_together():
    """board_symmetries: each window is one symmetry of itself, its clicks follow their cells, draws are seeded."""
    from rdqn_core.envs.minesweeper import board_symmetries

    result = train(board_config(board_symmetries=True, env_kwargs={"rows": 5, "cols": 5, "mines": 3}),
                   return_replay=True)
    agent, batch = result.agent, result.replay.sample(64, np.random.default_rng(1))
    assert agent.updates > 0 and np.isfinite(result.history["losses/td_loss"]).all()
    turned = agent.turn_boards(batch)
    assert torch.equal(turned.rewards, batch.rewards) and torch.equal(turned.valid, batch.valid)
    moves = board_symmetries(5, 5)
    before = batch.obs.reshape(*batch.obs.shape[:2], 10, 5, 5).numpy()
    after = turned.obs.reshape(before.shape).numpy()
    used = set()
    for b in range(before.shape[1]):
        def fits(move):  # every board of the window moved by `move`, and every click moved with its cell
            if not np.array_equal(move(before[:, b]), after[:, b]):
                return False
            for t in range(batch.actions.shape[0]):
                cell = np.zeros((5, 5))
                cell.flat[int(batch.actions[t, b])] = 1
                if move(cell).flat[int(turned.actions[t, b])] != 1:
                    return False
            return True

        fitting = [i for i, (move, _) in enumerate(moves) if fits(move)]
        assert fitting, f"window {b} is no symmetry of itself"
        if len(fitting) == 1:  # boards with a symmetry of their own fit several moves
            used.add(fitting[0])
        assert torch.equal(turned.prev_actions[:, b] < 0, batch.prev_actions[:, b] < 0)
    assert len(used) > 3  # 64 windows draw most of the eight moves
    again = agent.turn_boards(batch)  # same (seed, updates): the same moves
    assert torch.equal(again.obs, turned.obs) and torch.equal(again.actions, turned.actions)
    agent.updates += 1
    assert not torch.equal(agent.turn_boards(batch).obs, turned.obs)


def test_board_symmetries_need_the_board_network():
    with pytest.raises(ValueError, match="needs cell='conv'"):
        TrainConfig(board_symmetries=True)
    assert TrainConfig.board(board_symmetries=True).board_symmetries
