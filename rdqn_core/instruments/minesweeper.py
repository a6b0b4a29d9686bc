"""Minesweeper players to measure a learned agent against (Chapter 8).

* :func:`mine_probabilities`: the exact probability that each unopened cell holds a mine, given
  what is open and the mine count. Every mine placement consistent with the view is equally
  likely (the mines were placed uniformly among the cells the first-click rule allows, and
  every such cell that could matter is open). The frontier (unopened cells next to an open
  number) splits into components that share no constraint; each is enumerated by
  backtracking, giving, per number of mines ``s`` in it, how many assignments there are and
  in how many each cell is a mine. Components are combined by convolution, and each
  combination is weighted by ``C(interior, mines - S)``, the number of ways to place the
  remaining mines on the cells no number touches. Counts are Python integers, so the
  probabilities are exact ratios up to the final division.
* :func:`brute_force_probabilities`: the same by enumerating every placement (tiny boards; the
  test of the former).
* Players: :func:`random_player` (any unopened cell), :func:`logic_player` (a cell proven safe,
  P(mine) = 0, if there is one, else a uniformly random unopened cell) and
  :func:`greedy_player` (a proven-safe cell, else the lowest probability).
* :func:`win_rate`: games won with a Wilson 95% interval (statsmodels).
* :func:`auroc` and :func:`expected_calibration_error`: how well predicted mine probabilities
  (e.g. a gamma-0 DQN's ``(1 - Q) / 2``) rank and match what was under the cells.
* :class:`QNetworkPlayer`, :func:`record_forecast_game` and :func:`forecast_arrays`: a trained
  board Q-network as a player, and its forecasts beside the exact ones over the games it plays
  (the only part that needs torch, through the core's acting function, imported when used);
  with ``symmetric=True`` the player averages the network over the turned and mirrored views of a
  position (:func:`~rdqn_core.envs.board_symmetries`).
* The memory variant (``rdqn/MinesweeperMemory-v0``, which shows only the count under the cell
  just opened): players that differ in what they remember of their clicks,
  :func:`uniform_clicker` (nothing), :func:`fresh_cell_clicker` (where it clicked, not what it
  saw) and :func:`perfect_memory_player` (everything: it rebuilds the board with
  :func:`memory_view` and plays :func:`greedy_player`), and :func:`play_memory_env`, which scores
  any of them on the environment's own reward scale.

numpy (statsmodels for the interval, scipy for the rank statistic); torch only for the network player.
"""
from __future__ import annotations

import itertools
from math import comb
from typing import Callable

import numpy as np

from ..envs.minesweeper import (UNOPENED, MinesweeperGame, MinesweeperMemoryEnv, board_symmetries, board_tensor,
                                check_board, neighbour_counts)

__all__ = ["mine_probabilities", "brute_force_probabilities", "random_player", "logic_player", "greedy_player",
           "play_game", "win_rate", "PLAYERS", "auroc", "expected_calibration_error", "memory_view",
           "uniform_clicker", "fresh_cell_clicker", "perfect_memory_player", "MEMORY_PLAYERS", "play_memory_env", "WASTED",
           "QNetworkPlayer", "record_forecast_game", "forecast_arrays"]

Player = Callable[[np.ndarray, int, np.random.Generator], tuple[int, int]]


def _neighbours(r: int, c: int, rows: int, cols: int):
    for rr in range(max(r - 1, 0), min(r + 2, rows)):
        for cc in range(max(c - 1, 0), min(c + 2, cols)):
            if (rr, cc) != (r, c):
                yield rr, cc


def _check_view(view: np.ndarray, mines: int) -> np.ndarray:
    view = np.asarray(view)
    if view.ndim != 2:
        raise ValueError(f"view must be a (rows, cols) array, got shape {view.shape}")
    unopened = int((view == UNOPENED).sum())
    if not 0 <= mines <= unopened:
        raise ValueError(f"mines must be between 0 and the {unopened} unopened cells, got {mines}")
    return view


def _constraints(view: np.ndarray) -> list[tuple[list[tuple[int, int]], int]]:
    """(unopened neighbours, mines among them) for every open number that touches an unopened cell."""
    rows, cols = view.shape
    out = []
    for r, c in zip(*np.nonzero(view != UNOPENED)):
        cells = [(rr, cc) for rr, cc in _neighbours(int(r), int(c), rows, cols) if view[rr, cc] == UNOPENED]
        if cells:
            out.append((cells, int(view[r, c])))
    return out


def _components(constraints):
    """Group constraints that share cells (union-find over frontier cells)."""
    parent: dict = {}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for cells, _ in constraints:
        for cell in cells:
            parent.setdefault(cell, cell)
        for cell in cells[1:]:
            parent[find(cell)] = find(cells[0])
    groups: dict = {}
    for cells, k in constraints:
        groups.setdefault(find(cells[0]), []).append((cells, k))
    return list(groups.values())


def _enumerate(component) -> tuple[list[tuple[int, int]], dict[int, int], dict[int, np.ndarray]]:
    """Cells of a component; per mine count s: number of consistent assignments and per-cell mine counts."""
    cells = sorted({cell for cs, _ in component for cell in cs})
    index = {cell: i for i, cell in enumerate(cells)}
    cons = [([index[c] for c in cs], k) for cs, k in component]
    by_cell = [[j for j, (cs, _) in enumerate(cons) if i in cs] for i in range(len(cells))]
    need = [k for _, k in cons]          # mines still to place per constraint
    free = [len(cs) for cs, _ in cons]   # undecided cells per constraint
    assign = np.zeros(len(cells), np.int64)
    counts: dict[int, int] = {}
    per_cell: dict[int, np.ndarray] = {}

    def go(i: int, placed: int) -> None:
        if i == len(cells):
            counts[placed] = counts.get(placed, 0) + 1
            per_cell.setdefault(placed, np.zeros(len(cells), object))
            per_cell[placed] += assign
            return
        for value in (0, 1):
            ok = True
            for j in by_cell[i]:
                need[j] -= value
                free[j] -= 1
                if need[j] < 0 or need[j] > free[j]:
                    ok = False
            if ok:
                assign[i] = value
                go(i + 1, placed + value)
            for j in by_cell[i]:
                need[j] += value
                free[j] += 1
        assign[i] = 0

    go(0, 0)
    return cells, counts, per_cell


def _convolve(polys: list[dict[int, int]]) -> dict[int, int]:
    out = {0: 1}
    for poly in polys:
        new: dict[int, int] = {}
        for a, x in out.items():
            for b, y in poly.items():
                new[a + b] = new.get(a + b, 0) + x * y
        out = new
    return out


def mine_probabilities(view: np.ndarray, mines: int) -> np.ndarray:
    """Exact P(mine) per cell given the open numbers and the total mine count (NaN on opened cells).

    Args:
        view: ``(rows, cols)`` ints, ``-1`` on unopened cells, else the number shown (0..8); the
            ``view`` of a :class:`~rdqn_core.envs.minesweeper.MinesweeperGame`.
        mines: the board's total number of mines.

    Raises:
        ValueError: on a view no mine placement is consistent with, or a bad shape or mine count.
    """
    view = _check_view(view, mines)
    constraints = _constraints(view)
    comps = [_enumerate(comp) for comp in _components(constraints)]
    frontier = {cell for cells, _, _ in comps for cell in cells}
    unopened = list(zip(*np.nonzero(view == UNOPENED)))
    interior = [(int(r), int(c)) for r, c in unopened if (int(r), int(c)) not in frontier]
    n_int = len(interior)
    polys = [counts for _, counts, _ in comps]

    def weight(total: dict[int, int], extra: int = 0) -> int:
        """Sum over frontier totals S of ways(S) * C(interior, mines - S - extra)."""
        return sum(w * comb(n_int, mines - s - extra) for s, w in total.items() if 0 <= mines - s - extra <= n_int)

    everything = _convolve(polys)
    z = weight(everything)
    if z == 0:
        raise ValueError("no placement of the mines is consistent with this view")
    prob = np.full(view.shape, np.nan)
    for j, (cells, counts, per_cell) in enumerate(comps):
        rest = _convolve(polys[:j] + polys[j + 1:])
        numerators = np.zeros(len(cells), object)
        for s, cell_counts in per_cell.items():
            numerators = numerators + cell_counts * weight(rest, extra=s)
        for (r, c), num in zip(cells, numerators):
            prob[r, c] = num / z
    if n_int:
        # expected mines off the frontier, shared evenly by its cells
        expected = sum(w * comb(n_int, mines - s) * (mines - s)
                       for s, w in everything.items() if 0 <= mines - s <= n_int)
        for r, c in interior:
            prob[r, c] = expected / (z * n_int)
    return prob


def brute_force_probabilities(view: np.ndarray, mines: int, max_placements: int = 2_000_000) -> np.ndarray:
    """:func:`mine_probabilities` by enumerating every placement of ``mines`` on the unopened cells (tests)."""
    view = _check_view(view, mines)
    cells = [(int(r), int(c)) for r, c in zip(*np.nonzero(view == UNOPENED))]
    if comb(len(cells), mines) > max_placements:
        raise ValueError(f"{comb(len(cells), mines)} placements exceed max_placements={max_placements}")
    opened = view != UNOPENED
    hits = np.zeros(len(cells), np.int64)
    total = 0
    for chosen in itertools.combinations(range(len(cells)), mines):
        mine = np.zeros(view.shape, bool)
        for i in chosen:
            mine[cells[i]] = True
        if (neighbour_counts(mine)[opened] == view[opened]).all():  # the numbers this placement would show
            total += 1
            hits[list(chosen)] += 1
    if total == 0:
        raise ValueError("no placement of the mines is consistent with this view")
    prob = np.full(view.shape, np.nan)
    for (r, c), h in zip(cells, hits):
        prob[r, c] = h / total
    return prob


def _unopened(view: np.ndarray) -> np.ndarray:
    return np.argwhere(view == UNOPENED)


def random_player(view: np.ndarray, mines: int, rng: np.random.Generator) -> tuple[int, int]:
    """A uniformly random unopened cell."""
    cells = _unopened(view)
    r, c = cells[rng.integers(len(cells))]
    return int(r), int(c)


def logic_player(view: np.ndarray, mines: int, rng: np.random.Generator) -> tuple[int, int]:
    """A cell proven safe (exact P(mine) = 0) if there is one, else a uniformly random unopened cell."""
    prob = mine_probabilities(view, mines)
    safe = np.argwhere(prob == 0)
    if len(safe):
        r, c = safe[0]
        return int(r), int(c)
    return random_player(view, mines, rng)


def greedy_player(view: np.ndarray, mines: int, rng: np.random.Generator) -> tuple[int, int]:
    """The unopened cell of lowest exact P(mine) (ties: the first in row-major order)."""
    prob = mine_probabilities(view, mines)
    r, c = np.unravel_index(np.nanargmin(prob), prob.shape)
    return int(r), int(c)


PLAYERS: dict[str, Player] = {"random": random_player, "logic": logic_player, "greedy": greedy_player}
"""The reference players of Chapter 8's ladder, by name."""


def play_game(player: Player, rows: int, cols: int, mines: int, first_click: str = "safe",
              rng: np.random.Generator | None = None, first: tuple[int, int] | None = None) -> bool:
    """Play one game; the first click is ``first`` (default: the centre). Returns whether it was won."""
    rng = rng if rng is not None else np.random.default_rng()
    game = MinesweeperGame(rows, cols, mines, first_click, rng)
    r, c = first if first is not None else (rows // 2, cols // 2)
    game.open(r, c)
    while not game.done:
        r, c = player(game.view, mines, rng)
        game.open(r, c)
    return game.won


def win_rate(player: Player | str, rows: int, cols: int, mines: int, games: int = 1_000, first_click: str = "safe",
             seed: int = 0) -> dict[str, float]:
    """Share of ``games`` won, with a Wilson 95% interval: ``{"wins", "games", "rate", "low", "high"}``."""
    from statsmodels.stats.proportion import proportion_confint

    check_board(rows, cols, mines, first_click)
    if isinstance(player, str):
        if player not in PLAYERS:
            raise ValueError(f"unknown player {player!r}; choose one of {', '.join(PLAYERS)}")
        player = PLAYERS[player]
    if games < 1:
        raise ValueError(f"games must be >= 1, got {games}")
    rng = np.random.default_rng(seed)
    wins = sum(play_game(player, rows, cols, mines, first_click, rng) for _ in range(games))
    low, high = proportion_confint(wins, games, alpha=0.05, method="wilson")
    return dict(wins=int(wins), games=int(games), rate=wins / games, low=float(low), high=float(high))


def _check_scores(probabilities, outcomes) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probabilities, float).reshape(-1)
    y = np.asarray(outcomes).reshape(-1)
    if p.shape != y.shape or p.size == 0:
        raise ValueError(f"need as many probabilities as outcomes, at least one; got {p.size} and {y.size}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("outcomes must be 0 (safe) or 1 (mine)")
    if not np.isfinite(p).all():
        raise ValueError("probabilities must be finite")
    return p, y.astype(bool)


def auroc(probabilities, outcomes) -> float:
    """Area under the ROC curve: the chance that a random mine gets a higher probability than a random safe cell.

    Ties count one half (the Mann-Whitney U statistic divided by the number of mine-safe pairs;
    scipy computes U). Raises ``ValueError`` unless there is at least one mine and one safe cell.
    """
    from scipy.stats import mannwhitneyu

    p, y = _check_scores(probabilities, outcomes)
    if y.all() or not y.any():
        raise ValueError("auroc needs at least one mine and one safe cell among the outcomes")
    u = mannwhitneyu(p[y], p[~y], alternative="two-sided").statistic
    return float(u / (y.sum() * (~y).sum()))


def expected_calibration_error(probabilities, outcomes, bins: int = 10) -> float:
    """Expected calibration error: ``sum_b (n_b / n) |mean outcome_b - mean probability_b|``.

    Bins of equal width on [0, 1] (probabilities outside are clipped into the end bins); a
    perfectly calibrated predictor scores 0 up to sampling noise.
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    p, y = _check_scores(probabilities, outcomes)
    which = np.minimum((np.clip(p, 0.0, 1.0) * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(y[inside].mean() - p[inside].mean())
    return float(error)


# ------------------------------------------------------------------ a Q-network as a player and forecaster
class QNetworkPlayer:
    """A memoryless board Q-network (Chapter 8's :class:`~rdqn_core.networks.ConvQNetwork`) as a ``Player``.

    It clicks the unopened cell of highest Q (the first on ties: the masked greedy action of
    :func:`~rdqn_core.rollout.act_epsilon_greedy`), so ``win_rate(QNetworkPlayer(net), ...)`` scores it like
    the reference players, and :meth:`forecast` reads its Q-values as mine probabilities: trained with
    gamma = 0 on the rewards +1 (safe) and -1 (mine), a cell's Q is ``1 - 2 P(mine)``, so ``(1 - Q) / 2`` is
    the network's forecast. Greedy play draws no random numbers.

    A convolutional network is handed whole boards, ``(T, B, channels, rows, cols)``, so the same weights
    play every board size without changing the network (its ``board_shape`` stays as it was); any other
    memoryless network gets the flattened board its input size was built for.

    ``symmetric=True`` uses the board's symmetries: a board turned or mirrored is the same game
    with its cells moved, so the network is asked about every such view of the position (8 on a
    square board, 4 on a rectangle: see :func:`~rdqn_core.envs.board_symmetries`), each answer is moved back, and
    their mean is the Q-value (a test-time ensemble; no training changes). It needs a convolutional network.
    """

    def __init__(self, network, symmetric: bool = False):
        if getattr(network, "is_recurrent", False):
            raise ValueError("QNetworkPlayer plays memoryless board networks (cell 'conv' or 'mlp'); a recurrent "
                             "network needs its memory carried between clicks (use the memory variant's rollout)")
        self.reads_boards = hasattr(network, "set_board_shape")  # ConvQNetwork: (T, B, C, H, W) of any size
        if symmetric and not self.reads_boards:
            raise ValueError("symmetric=True needs a convolutional board network (cell 'conv'), which reads turned "
                             f"boards; got {type(network).__name__}")
        self.network, self.symmetric = network, bool(symmetric)

    def q_values(self, view: np.ndarray) -> np.ndarray:
        """The network's Q-value of every cell of ``view`` (``(rows, cols)``; with ``symmetric``, the mean over views)."""
        import torch  # imported only by the one player that needs it

        view = np.asarray(view)
        if view.ndim != 2:
            raise ValueError(f"view must be a (rows, cols) board, got shape {view.shape}")
        board = board_tensor(view)  # (channels, rows, cols)
        moves = board_symmetries(*view.shape) if self.symmetric else [(lambda b: b, lambda b: b)]
        boards = np.stack([move(board) for move, _ in moves])  # (n, channels, rows, cols): every shape equal
        param = next(self.network.parameters())
        x = torch.as_tensor(boards, dtype=param.dtype, device=param.device)[None]  # (1, n, C, H, W)
        if not self.reads_boards:
            x = x.flatten(2)
        n = len(moves)
        starts = torch.ones(1, n, device=param.device)
        no_action = torch.full((1, n), -1, dtype=torch.long, device=param.device)
        with torch.no_grad():
            q, _ = self.network(x, None, starts, no_action)
        q = q[0].reshape(n, *view.shape).cpu().numpy()
        return np.mean([back(q_i[None])[0] for (_, back), q_i in zip(moves, q)], axis=0)

    def forecast(self, view: np.ndarray) -> tuple[int, np.ndarray]:
        """The greedy cell index for ``view`` and the implied mine probabilities ``(1 - Q) / 2``, shaped like the board."""
        q = self.q_values(view)
        action = int(np.where(np.asarray(view) == UNOPENED, q, -np.inf).argmax())
        return action, (1.0 - q) / 2.0

    def __call__(self, view: np.ndarray, mines: int, rng: np.random.Generator) -> tuple[int, int]:
        return divmod(self.forecast(view)[0], view.shape[1])


def record_forecast_game(player: QNetworkPlayer, rows: int, cols: int, mines: int, rng: np.random.Generator,
                         first_click: str = "safe") -> dict:
    """Play one game with ``player`` from the centre and keep every position with both forecasts.

    Returns ``{"steps", "mine_map", "won"}``; each step is ``{"view", "implied", "exact", "action"}``: the
    board before the click, the network's ``(1 - Q) / 2``, :func:`mine_probabilities` of the same view, and
    the clicked cell index. Chapter 8 scores and replays these games; its calibration benchmark plays the
    same ones.
    """
    check_board(rows, cols, mines, first_click)
    game = MinesweeperGame(rows, cols, mines, first_click, rng)
    game.open(rows // 2, cols // 2)
    steps = []
    while not game.done:
        view = game.view.copy()
        action, implied = player.forecast(view)
        steps.append(dict(view=view, implied=implied, exact=mine_probabilities(view, mines), action=action))
        game.open(*divmod(action, cols))
    return dict(steps=steps, mine_map=game.mine_map.copy(), won=game.won)


def forecast_arrays(games: list[dict], player: QNetworkPlayer | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(implied, exact, truth)`` over every unopened cell of every position of :func:`record_forecast_game`'s games.

    ``player`` (optional) re-scores the same recorded positions with another player's forecasts (Chapter 8 compares
    the network averaged over the board's symmetries with the one that played), in the same order.
    """
    implied, exact, truth = [], [], []
    for g in games:
        for s in g["steps"]:
            cells = s["view"] == UNOPENED
            forecast = s["implied"] if player is None else player.forecast(s["view"])[1]
            implied.append(forecast[cells])
            exact.append(s["exact"][cells])
            truth.append(g["mine_map"][cells])
    if not implied:
        raise ValueError("no positions to score: pass at least one recorded game")
    return np.concatenate(implied), np.concatenate(exact), np.concatenate(truth)


# ------------------------------------------------------------------ the memory variant (Chapter 8)
WASTED = -1
"""The count recorded in a memory player's history for a click that changed nothing (an opened cell)."""

MemoryPlayer = Callable[[list[tuple[int, int]], tuple[int, int], int, np.random.Generator], int]
"""``player(history, shape, mines, rng) -> cell index``; ``history`` is every (cell, count) pair of the game so far,
oldest first (count ``WASTED`` for an opened cell), ``shape`` is ``(rows, cols)``. What a player ignores of its
history is what it does not remember."""


def memory_view(history: list[tuple[int, int]], rows: int, cols: int) -> np.ndarray:
    """The board a player with perfect memory knows: ``-1`` where never opened, else the count seen there.

    Without flood reveal a safe click opens exactly the clicked cell, so the (cell, count) pairs of a
    game rebuild its ``MinesweeperGame.view`` exactly. Raises
    ``ValueError`` on a cell outside the board or a count outside 0..8 (``WASTED`` entries are skipped).
    """
    view = np.full((rows, cols), UNOPENED, np.int8)
    for cell, count in history:
        if not 0 <= int(cell) < rows * cols:
            raise ValueError(f"cell {cell} is outside a {rows}x{cols} board (cells 0..{rows * cols - 1})")
        if count == WASTED:
            continue
        if not 0 <= int(count) <= 8:
            raise ValueError(f"count {count} of cell {cell} is not a Minesweeper number 0..8 (or WASTED = -1)")
        view[divmod(int(cell), cols)] = count
    return view


def uniform_clicker(history: list[tuple[int, int]], shape: tuple[int, int], mines: int,
                    rng: np.random.Generator) -> int:
    """Remembers nothing: any cell of the board, opened or not, uniformly."""
    return int(rng.integers(shape[0] * shape[1]))


def fresh_cell_clicker(history: list[tuple[int, int]], shape: tuple[int, int], mines: int,
                       rng: np.random.Generator) -> int:
    """Remembers where it clicked, not what it saw: a uniformly random cell it has not clicked yet."""
    clicked = {int(cell) for cell, _ in history}
    fresh = [cell for cell in range(shape[0] * shape[1]) if cell not in clicked]
    return int(fresh[rng.integers(len(fresh))])


def perfect_memory_player(history: list[tuple[int, int]], shape: tuple[int, int], mines: int,
                          rng: np.random.Generator) -> int:
    """Remembers every click and count: rebuilds the board (:func:`memory_view`) and clicks the cell of lowest
    exact mine probability (:func:`greedy_player`; the first click, with nothing open, is the top-left corner)."""
    view = memory_view(history, *shape)
    r, c = greedy_player(view, mines, rng)
    return r * shape[1] + c


MEMORY_PLAYERS: dict[str, MemoryPlayer] = {"random": uniform_clicker, "remembers where": fresh_cell_clicker,
                                           "perfect memory": perfect_memory_player}
"""The reference players of the memory variant, by what they remember."""


def play_memory_env(player: MemoryPlayer | str, episodes: int, seed: int = 0, rows: int = 4, cols: int = 4,
                    mines: int = 2, first_click: str = "safe") -> dict[str, np.ndarray]:
    """Play ``episodes`` games of :class:`~rdqn_core.envs.minesweeper.MinesweeperMemoryEnv` with a memory player.

    Episode ``i`` resets the environment with seed ``seed + i`` (the seeds :func:`~rdqn_core.trainer.evaluate`
    gives a vector of ``episodes`` environments); the player's own random choices come from
    ``np.random.default_rng(seed)``. The player sees only what an agent sees: its clicks and the count each showed.

    Returns:
        ``{"returns", "wins", "lengths"}``, arrays of ``episodes`` entries: the episode return on the environment's
        scale (``+1/L`` per safe cell, ``-0.5 - 1/L`` for a mine, ``-1/L`` per wasted click; 1.0 is a win without
        a wasted click), whether the game was won, and its number of clicks.
    """
    if isinstance(player, str):
        if player not in MEMORY_PLAYERS:
            raise ValueError(f"unknown memory player {player!r}; choose one of {', '.join(MEMORY_PLAYERS)}")
        player = MEMORY_PLAYERS[player]
    if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    env = MinesweeperMemoryEnv(rows, cols, mines, first_click)
    rng = np.random.default_rng(seed)
    returns, wins, lengths = np.zeros(episodes), np.zeros(episodes, bool), np.zeros(episodes, np.int64)
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        history: list[tuple[int, int]] = []
        done = False
        while not done:
            cell = player(history, (rows, cols), mines, rng)
            obs, reward, terminated, truncated, info = env.step(cell)
            counts = obs[:9]  # one-hot count of the opened cell; all zero for a wasted click (or a mine)
            history.append((cell, int(counts.argmax()) if counts.any() else WASTED))
            returns[episode] += reward
            done = terminated or truncated
        wins[episode], lengths[episode] = info["won"], len(history)
    return {"returns": returns, "wins": wins, "lengths": lengths}
