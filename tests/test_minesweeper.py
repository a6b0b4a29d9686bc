"""Chapter 8's environments: board checks, first-click rules, flood reveal, mask, rewards, memory variant."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rdqn_core.envs import (BOARD_CHANNELS, MINESWEEPER_ID, MINESWEEPER_MEMORY_ID, MinesweeperEnv, MinesweeperGame,
                            MinesweeperMemoryEnv, check_board, neighbour_counts)


@pytest.mark.parametrize("args, match", [
    ((0, 5, 1), "at least one row"),
    ((5, 5, 25), "does not fit"),
    ((3, 3, 1, "zero"), "does not fit"),
    ((5.0, 5, 3), "must be an integer"),
    ((5, 5, 3, "corner"), "first_click"),
])
def test_bad_boards_are_rejected_with_what_is_allowed(args, match):
    with pytest.raises(ValueError, match=match):
        check_board(*args)


def test_largest_boards_that_fit_are_accepted():
    assert check_board(5, 5, 24, "safe") == (5, 5, 24)
    assert check_board(4, 4, 7, "zero") == (4, 4, 7)


def test_neighbour_counts_match_a_loop():
    rng = np.random.default_rng(0)
    mines = rng.random((5, 7)) < 0.3
    counts = neighbour_counts(mines)
    for r in range(5):
        for c in range(7):
            block = mines[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2]
            assert counts[r, c] == block.sum() - mines[r, c]


@pytest.mark.parametrize("rule", ["safe", "zero"])
def test_first_click_rule_holds_over_many_games(rule):
    rng = np.random.default_rng(1)
    for _ in range(200):
        game = MinesweeperGame(6, 6, 10, rule, rng)
        row, col = rng.integers(0, 6, size=2)
        assert game.open(int(row), int(col)) > 0
        if rule == "zero":
            assert not game.mine_map[max(row - 1, 0):row + 2, max(col - 1, 0):col + 2].any()
            assert game.view[row, col] == 0


def test_flood_opens_the_zero_region_and_its_border():
    game = MinesweeperGame(4, 4, 1, "safe", np.random.default_rng(0))
    mine_map = np.zeros((4, 4), bool)
    mine_map[3, 3] = True
    game.set_mines(mine_map)
    opened = game.open(0, 0)
    assert opened == 15 and game.won and not game.lost  # everything but the mine
    assert game.view[3, 3] == -1 and game.view[2, 2] == 1


def test_env_mask_rewards_and_termination():
    env = MinesweeperEnv(3, 3, 1)
    obs, info = env.reset(seed=0)
    assert obs.shape == (BOARD_CHANNELS, 3, 3) and obs[0].all() and info["action_mask"].all()
    mine_map = np.zeros((3, 3), bool)
    mine_map[1, 1] = True  # every other cell shows 1: no flood
    env.game.set_mines(mine_map)
    obs, reward, terminated, truncated, info = env.step(0)
    np.testing.assert_array_equal(info["action_mask"], obs[0].reshape(-1))
    assert info["action_mask"].sum() == 8 and obs[2, 0, 0] == 1.0  # channel 1 + 1: shows a 1
    assert reward == 1.0 and not terminated and not truncated
    _, reward, terminated, _, _ = env.step(0)  # an opened cell: nothing changes
    assert reward == env.invalid_reward and not terminated
    _, reward, terminated, _, info = env.step(4)
    assert reward == -1.0 and terminated and not info["won"]


def test_flooding_click_that_opens_every_safe_cell_wins():
    env = MinesweeperEnv(3, 3, 1)
    env.reset(seed=0)
    mine_map = np.zeros((3, 3), bool)
    mine_map[0, 0] = True
    env.game.set_mines(mine_map)
    _, reward, terminated, _, info = env.step(8)  # (2, 2) shows 0 and floods the other seven
    assert reward == 1.0 and terminated and info["won"]


def test_env_hits_a_mine_with_minus_one():
    env = MinesweeperEnv(2, 2, 1)
    env.reset(seed=0)
    env.game.set_mines(np.array([[False, True], [False, False]]))
    _, reward, terminated, _, info = env.step(0)
    assert reward == 1.0 and not terminated
    _, reward, terminated, _, info = env.step(1)
    assert reward == -1.0 and terminated and not info["won"]


def test_env_rejects_a_bad_action():
    env = MinesweeperEnv(3, 3, 1)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="cell index"):
        env.step(9)


def test_memory_env_best_return_is_one():
    env = MinesweeperMemoryEnv(3, 3, 2)
    env.reset(seed=0)
    mine_map = np.zeros((3, 3), bool)
    mine_map[0, 0] = mine_map[2, 2] = True
    env.game.set_mines(mine_map)
    total, terminated = 0.0, False
    for cell in range(1, 8):
        obs, reward, terminated, _, info = env.step(cell)
        total += reward
        row, col = divmod(cell, 3)
        assert obs[env.game.counts[row, col]] == 1.0 and obs.sum() == 1.0  # only the count under the click
    assert terminated and info["won"] and total == pytest.approx(1.0)


def test_memory_env_mine_and_repeat_penalties():
    env = MinesweeperMemoryEnv(3, 3, 2)
    env.reset(seed=0)
    env.game.set_mines(np.array([[True, False, False], [False, False, False], [False, False, True]]))
    unit = 1.0 / 7
    assert env.step(1)[1] == pytest.approx(unit)
    obs, reward, terminated, _, _ = env.step(1)
    assert reward == pytest.approx(-unit) and obs[9] == 1.0 and not terminated
    _, reward, terminated, _, _ = env.step(0)
    assert reward == pytest.approx(-0.5 - unit) and terminated


@pytest.mark.parametrize("env_id", [MINESWEEPER_ID, MINESWEEPER_MEMORY_ID])
def test_registered_envs_pass_gymnasiums_checker(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_same_seed_same_game():
    boards = []
    for _ in range(2):
        env = MinesweeperEnv(6, 6, 4)
        env.reset(seed=7)
        env.step(14)
        boards.append(env.game.mine_map.copy())
    np.testing.assert_array_equal(*boards)
