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


def test_auroc_by_hand_and_with_ties():
    from rdqn_core.instruments.minesweeper import auroc

    # mine scores 0.35 and 0.8 against safe 0.1 and 0.4: 3 of the 4 pairs are ranked right
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert auroc([0.5, 0.5], [0, 1]) == pytest.approx(0.5)  # a tie counts one half
    assert auroc([0.9, 0.1], [0, 1]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="at least one mine and one safe"):
        auroc([0.2, 0.3], [1, 1])
    with pytest.raises(ValueError, match="0 \\(safe\\) or 1 \\(mine\\)"):
        auroc([0.2, 0.3], [0, 2])


def test_expected_calibration_error_by_hand():
    from rdqn_core.instruments.minesweeper import expected_calibration_error as ece

    # two bins used: [0.1, 0.1] with outcomes [0, 1] (|0.5 - 0.1| = 0.4) and [0.9, 0.9] with [1, 1] (0.1)
    assert ece([0.1, 0.1, 0.9, 0.9], [0, 1, 1, 1], bins=10) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    assert ece([0.25, 0.75], [0, 1], bins=1) == pytest.approx(0.0)  # one bin: only the means compared
    rng = np.random.default_rng(0)
    p = rng.random(200_000)
    assert ece(p, rng.random(p.size) < p) < 0.01  # calibrated by construction
    assert ece(p, rng.random(p.size) < p**2) > 0.1  # overconfident about mines
    with pytest.raises(ValueError, match="bins must be a positive integer"):
        ece([0.5], [1], bins=0)
    with pytest.raises(ValueError, match="as many probabilities as outcomes"):
        ece([0.5, 0.2], [1])
