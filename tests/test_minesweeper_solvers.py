"""Chapter 8's reference players: exact mine probabilities equal brute force; the players behave as documented."""
import numpy as np
import pytest
import torch

from rdqn_core.envs import MinesweeperGame
from rdqn_core.envs.minesweeper import BOARD_CHANNELS
from rdqn_core.instruments.minesweeper import (QNetworkPlayer, auroc, brute_force_probabilities, forecast_arrays,
                                               greedy_player, logic_player, mine_probabilities, play_game,
                                               random_player, record_forecast_game, win_rate)


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


class ExactQNetwork(torch.nn.Module):
    """A stand-in for a trained gamma-0 board network: Q = 1 - 2 P(mine) exactly, masked like ConvQNetwork."""

    is_recurrent = False

    def __init__(self, rows, cols, mines):
        super().__init__()
        self.shape, self.mines = (rows, cols), mines
        self.dummy = torch.nn.Parameter(torch.zeros(1))  # act_epsilon_greedy reads the device from a parameter

    def _views(self, obs):
        boards = obs.reshape(-1, BOARD_CHANNELS, *self.shape).argmax(1) - 1  # channel 0: unopened (-1)
        return boards.numpy()

    def forward(self, obs, state=None, episode_starts=None, prev_actions=None):
        q = [1 - 2 * mine_probabilities(v, self.mines).reshape(-1) for v in self._views(obs)]
        return torch.as_tensor(np.stack(q), dtype=torch.float32).reshape(*obs.shape[:2], -1), state

    def action_mask(self, obs):
        return torch.as_tensor(self._views(obs) == -1).reshape(*obs.shape[:2], -1)


def test_network_player_with_exact_q_values_forecasts_the_exact_probabilities():
    rows, cols, mines = 5, 5, 3
    player = QNetworkPlayer(ExactQNetwork(rows, cols, mines))
    games = [record_forecast_game(player, rows, cols, mines, np.random.default_rng([3, i])) for i in range(20)]
    for g in games:
        for s in g["steps"]:
            assert s["view"][divmod(s["action"], cols)] == -1, "the player clicks unopened cells only"
            np.testing.assert_allclose(s["implied"], s["exact"], atol=1e-6)
    implied, exact, truth = forecast_arrays(games)
    assert implied.shape == exact.shape == truth.shape and truth.dtype == bool
    assert implied.size == sum(int((s["view"] == -1).sum()) for g in games for s in g["steps"])
    assert auroc(implied, truth) == pytest.approx(auroc(exact, truth), abs=1e-6)
    # it plays the lowest-probability cell, so it wins as often as the greedy solver, well above random
    rate = win_rate(player, rows, cols, mines, games=200, seed=1)["rate"]
    assert rate > win_rate("random", rows, cols, mines, games=200, seed=1)["rate"] + 0.4


def test_network_player_rejects_recurrent_networks_and_empty_records():
    net = ExactQNetwork(3, 3, 1)
    net.is_recurrent = True
    with pytest.raises(ValueError, match="memoryless board networks"):
        QNetworkPlayer(net)
    with pytest.raises(ValueError, match="no positions to score"):
        forecast_arrays([])


@pytest.mark.parametrize("rows,cols,mines,count", [(5, 5, 3, 8), (4, 6, 3, 4)])
def test_board_symmetries_move_the_exact_probabilities_with_the_board(rows, cols, mines, count):
    from rdqn_core.instruments.minesweeper import board_symmetries

    moves = board_symmetries(rows, cols)
    assert len(moves) == count
    for view in _views(6, rows, cols, mines, seed=4):
        exact = mine_probabilities(view, mines)
        seen = set()
        for move, undo in moves:
            moved = move(view)
            assert moved.shape == view.shape  # a rectangle is never turned by a quarter
            np.testing.assert_array_equal(undo(moved), view)
            np.testing.assert_allclose(mine_probabilities(np.ascontiguousarray(moved), mines), move(exact))
            seen.add(moved.tobytes())
        assert len(seen) > 1
    with pytest.raises(ValueError, match="positive rows and cols"):
        board_symmetries(0, 3)


def test_symmetric_network_player_averages_over_the_turned_boards():
    from rdqn_core import ConvQNetwork
    from rdqn_core.envs.minesweeper import board_tensor
    from rdqn_core.instruments.minesweeper import board_symmetries

    torch.manual_seed(0)
    rows, cols, mines = 5, 5, 3
    net = ConvQNetwork(BOARD_CHANNELS, (rows, cols), conv_channels=(8, 8)).eval()  # untrained: not symmetric
    plain = QNetworkPlayer(net)
    sym = QNetworkPlayer(net, symmetric=True)
    view = _views(1, rows, cols, mines, seed=5)[0]
    moves = board_symmetries(rows, cols)
    # by hand: the mean over the eight views of Q, each moved back
    with torch.no_grad():
        qs = [net(torch.as_tensor(np.ascontiguousarray(move(board_tensor(view))))[None, None])[0]
              .reshape(rows, cols).numpy() for move, _ in moves]
    mean_q = np.mean([undo(q) for (_, undo), q in zip(moves, qs)], axis=0)
    action, implied = sym.forecast(view)
    np.testing.assert_allclose(implied, (1 - mean_q) / 2, atol=1e-6)
    assert view[divmod(action, cols)] == -1
    assert action == int(np.where(view == -1, mean_q, -np.inf).argmax())
    # the averaged forecast moves with the board; the plain one of an untrained network does not
    for move, _ in moves[1:]:
        turned = np.ascontiguousarray(move(view))
        np.testing.assert_allclose(sym.forecast(turned)[1], move(implied), atol=1e-6)
    assert max(np.abs(plain.forecast(np.ascontiguousarray(move(view)))[1] - move(plain.forecast(view)[1])).max()
               for move, _ in moves[1:]) > 1e-3
    rate = win_rate(sym, rows, cols, mines, games=30, seed=2)
    assert rate["games"] == 30
    with pytest.raises(ValueError, match="convolutional board network"):
        QNetworkPlayer(ExactQNetwork(rows, cols, mines), symmetric=True)


def test_network_player_plays_any_board_size_without_changing_the_network():
    """A 6x6 network clicks on 9x9 and 4x7 boards: the player hands it whole boards, its board_shape stays."""
    from rdqn_core import ConvQNetwork
    from rdqn_core.envs.minesweeper import board_tensor

    torch.manual_seed(1)
    net = ConvQNetwork(BOARD_CHANNELS, (6, 6), conv_channels=(8, 8)).eval()
    player = QNetworkPlayer(net)
    for rows, cols, mines in [(9, 9, 10), (4, 7, 3)]:
        for view in _views(3, rows, cols, mines, seed=6):
            action, implied = player.forecast(view)
            with torch.no_grad():
                q = net(torch.as_tensor(board_tensor(view))[None, None])[0].reshape(rows, cols).numpy()
            np.testing.assert_allclose(implied, (1 - q) / 2, atol=1e-6)
            assert action == int(np.where(view == -1, q, -np.inf).argmax()), "the unopened cell of highest Q"
            assert player(view, mines, None) == divmod(action, cols)
        assert win_rate(player, rows, cols, mines, games=5, seed=0)["games"] == 5
    assert net.board_shape == (6, 6), "playing other sizes must not change how the network reads flat boards"


def test_forecast_arrays_rescores_the_recorded_positions_with_another_player():
    from rdqn_core import ConvQNetwork

    torch.manual_seed(2)
    rows, cols, mines = 5, 5, 3
    net = ConvQNetwork(BOARD_CHANNELS, (rows, cols), conv_channels=(8, 8)).eval()
    plain, sym = QNetworkPlayer(net), QNetworkPlayer(net, symmetric=True)
    games = [record_forecast_game(plain, rows, cols, mines, np.random.default_rng([4, i])) for i in range(5)]
    implied, exact, truth = forecast_arrays(games)
    rescored, exact_again, truth_again = forecast_arrays(games, player=sym)
    by_hand = np.concatenate([sym.forecast(s["view"])[1][s["view"] == -1] for g in games for s in g["steps"]])
    np.testing.assert_array_equal(rescored, by_hand)
    np.testing.assert_array_equal(exact_again, exact)
    np.testing.assert_array_equal(truth_again, truth)
    assert np.abs(rescored - implied).max() > 1e-3, "an untrained network's views disagree"
