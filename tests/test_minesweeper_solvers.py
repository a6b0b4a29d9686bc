"""Chapter 8's reference players: exact mine probabilities equal brute force; the players behave as documented."""
import numpy as np
import pytest

from rdqn_core.envs import MinesweeperGame
from rdqn_core.instruments.minesweeper import (brute_force_probabilities, greedy_player, logic_player,
                                               mine_probabilities, play_game, random_player, win_rate)


def _views(n, rows, cols, mines, seed):
    """Views of random games after 1-4 random safe clicks (the positions a solver meets)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        game = MinesweeperGame(rows, cols, mines, "safe", rng)
        game.open(int(rng.integers(rows)), int(rng.integers(cols)))
        for _ in range(int(rng.integers(0, 4))):
            safe = np.argwhere((game.view == -1) & ~game.mine_map)
            if game.done or not len(safe):
                break
            game.open(*map(int, safe[rng.integers(len(safe))]))
        if not game.done:
            out.append(game.view.copy())
    return out


@pytest.mark.parametrize("rows, cols, mines, seed", [(4, 4, 3, 0), (5, 4, 4, 1), (5, 5, 5, 2), (3, 6, 2, 3)])
def test_exact_probabilities_equal_brute_force(rows, cols, mines, seed):
    for view in _views(25, rows, cols, mines, seed):
        exact = mine_probabilities(view, mines)
        brute = brute_force_probabilities(view, mines)
        np.testing.assert_array_equal(np.isnan(exact), view != -1)
        np.testing.assert_allclose(exact, brute, rtol=0, atol=1e-12)
        assert np.nansum(exact) == pytest.approx(mines)  # expected mines = the mine count


def test_a_forced_cell_and_a_proven_safe_cell():
    # three 1s around the one unopened corner: it is the mine
    view = np.array([[1, -1], [1, 1]])
    prob = mine_probabilities(view, 1)
    assert prob[0, 1] == 1.0
    view = np.array([[0, 1, -1], [0, 1, -1], [0, 1, -1]])  # only (1, 2) touches all three 1s
    prob = mine_probabilities(view, 1)
    np.testing.assert_allclose(prob, brute_force_probabilities(view, 1))
    assert prob[1, 2] == 1.0 and prob[0, 2] == 0.0 and prob[2, 2] == 0.0
    assert logic_player(view, 1, np.random.default_rng(0)) in {(0, 2), (2, 2)}
    assert greedy_player(view, 1, np.random.default_rng(0)) in {(0, 2), (2, 2)}


def test_inconsistent_views_and_bad_counts_are_rejected():
    with pytest.raises(ValueError, match="consistent"):
        mine_probabilities(np.array([[3, -1], [-1, 0]]), 2)
    with pytest.raises(ValueError, match="mines must be"):
        mine_probabilities(np.array([[0, -1]]), 2)
    with pytest.raises(ValueError, match="unknown player"):
        win_rate("oracle", 4, 4, 2, games=1)


def test_players_pick_unopened_cells_and_games_end():
    rng = np.random.default_rng(0)
    for view in _views(10, 5, 5, 4, 7):
        for player in (random_player, logic_player, greedy_player):
            r, c = player(view, 4, rng)
            assert view[r, c] == -1
    assert isinstance(play_game(greedy_player, 5, 5, 3, rng=rng), bool)


def test_ladder_orders_the_players_on_a_small_board():
    rates = {name: win_rate(name, 5, 5, 3, games=300, seed=0) for name in ("random", "logic", "greedy")}
    for r in rates.values():
        assert 0.0 <= r["low"] <= r["rate"] <= r["high"] <= 1.0
    assert rates["random"]["rate"] < 0.3 < rates["logic"]["rate"] <= rates["greedy"]["rate"] + 0.05
