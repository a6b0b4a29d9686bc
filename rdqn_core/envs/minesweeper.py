"""Minesweeper as a gymnasium environment, and its memory variant (Chapter 8).

:class:`MinesweeperGame` is the game itself (numpy, no gymnasium): a ``rows x cols`` board
with ``mines`` mines placed at the first click, never under it (``first_click="safe"``) or
never in its 3x3 neighbourhood (``first_click="zero"``, so the first click always opens a
zero region). Opening a zero cell opens its whole zero region and the region's border
(flood reveal). The solvers of :mod:`rdqn_core.instruments.minesweeper` play it directly;
the environments wrap it.

:class:`MinesweeperEnv` (``rdqn/Minesweeper-v0``) shows the whole board:

* observation: a ``(10, rows, cols)`` float32 board tensor in {0, 1}: channel 0 is 1 on
  unopened cells, channel ``1 + k`` is 1 on opened cells showing ``k`` (k = 0..8). Outside
  the board every channel is 0, so a zero-padded convolution can tell the edge apart;
* action: the cell ``row * cols + col`` to open (``Discrete(rows * cols)``); the action mask
  (1 = unopened, clickable) is channel 0 of the observation and ``info["action_mask"]``;
* reward: ``+1`` for opening a safe cell (however many cells its flood opens), ``-1`` for a
  mine (the episode terminates), ``win_reward`` (default 0) added when the last safe cell
  opens (it terminates too), ``invalid_reward`` (default -1) for clicking an opened cell,
  which changes nothing. With these rewards and gamma = 0 the optimal Q of an unopened
  cell is ``1 - 2 P(mine)``;
* truncation after ``rows * cols`` steps, which only invalid clicks can reach.

:class:`MinesweeperMemoryEnv` (``rdqn/MinesweeperMemory-v0``) shows only the number under the
cell just opened (a one-hot of 0..8, and a flag for "this click changed nothing"); no flood
reveal. Its rewards make 1.0 the best return: ``+1/L`` per safe cell opened (``L`` = safe
cells), ``-0.5 - 1/L`` for a mine, ``-1/L`` for clicking an opened cell; truncation after
``4 L`` steps. Where the cells are and what they showed must be remembered: a DRQN's task.

numpy and gymnasium only: nothing in ``rdqn_core.envs`` imports torch.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["MinesweeperGame", "MinesweeperEnv", "MinesweeperMemoryEnv", "FIRST_CLICK_RULES", "BOARD_CHANNELS",
           "check_board", "board_tensor", "neighbour_counts", "board_symmetries", "symmetry_permutations"]

FIRST_CLICK_RULES = ("safe", "zero")
"""``safe``: only the first clicked cell is mine-free; ``zero``: its 3x3 neighbourhood is too."""
BOARD_CHANNELS = 10
"""Channels of the board tensor: unopened, then opened-and-showing 0..8."""
UNOPENED = -1
"""The value :attr:`MinesweeperGame.view` holds on unopened cells."""


def check_board(rows: Any, cols: Any, mines: Any, first_click: str = "safe") -> tuple[int, int, int]:
    """Validate a board's size and mine count; return them as ints (Chapter 8).

    Raises ``ValueError`` saying what was given and what is allowed: sizes must be positive
    integers, mines an integer with ``1 <= mines <= rows * cols - 1`` (``- 9`` under the
    ``zero`` rule, whose first click keeps its 3x3 neighbourhood free; fewer near an edge,
    where that neighbourhood is smaller, but the bound must hold wherever the click lands).
    """
    for name, value in (("rows", rows), ("cols", cols), ("mines", mines)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    rows, cols, mines = int(rows), int(cols), int(mines)
    if rows < 1 or cols < 1:
        raise ValueError(f"the board needs at least one row and one column, got rows={rows}, cols={cols}")
    if first_click not in FIRST_CLICK_RULES:
        raise ValueError(f"first_click={first_click!r} is not allowed; choose one of {', '.join(FIRST_CLICK_RULES)}")
    free = 1 if first_click == "safe" else 9
    if not 1 <= mines <= rows * cols - free:
        raise ValueError(f"mines={mines} does not fit a {rows}x{cols} board under the {first_click!r} first-click "
                         f"rule: allowed 1 <= mines <= rows * cols - {free} = {rows * cols - free}")
    return rows, cols, mines


def neighbour_counts(mine_map: np.ndarray) -> np.ndarray:
    """Mines among each cell's (up to) 8 neighbours, for a boolean ``(rows, cols)`` mine map."""
    padded = np.pad(mine_map.astype(np.int8), 1)
    rows, cols = mine_map.shape
    total = sum(padded[1 + dr:1 + dr + rows, 1 + dc:1 + dc + cols]
                for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc)
    return np.asarray(total, np.int8)


def board_tensor(view: np.ndarray) -> np.ndarray:
    """The ``(10, rows, cols)`` float32 observation of a view (``-1`` unopened, else the count 0..8)."""
    view = np.asarray(view)
    out = np.zeros((BOARD_CHANNELS, *view.shape), np.float32)
    rows, cols = np.indices(view.shape)
    out[view.clip(min=UNOPENED) + 1, rows, cols] = 1.0
    return out


class MinesweeperGame:
    """One Minesweeper game (Chapter 8): mines placed at the first click, flood reveal.

    Attributes:
        view: ``(rows, cols)`` int8, ``-1`` on unopened cells, else the count shown (0..8).
        mine_map: ``(rows, cols)`` bool, ``None`` until the first click places the mines.
        lost, won: whether the game ended on a mine / with every safe cell open.
    """

    def __init__(self, rows: int = 6, cols: int = 6, mines: int = 4, first_click: str = "safe",
                 rng: np.random.Generator | None = None):
        self.rows, self.cols, self.mines = check_board(rows, cols, mines, first_click)
        self.first_click = first_click
        self.rng = rng if rng is not None else np.random.default_rng()
        self.reset()

    def reset(self) -> None:
        self.view = np.full((self.rows, self.cols), UNOPENED, np.int8)
        self.mine_map: np.ndarray | None = None
        self.counts: np.ndarray | None = None
        self.lost = self.won = False
        self.opened_safe = 0

    @property
    def safe_cells(self) -> int:
        return self.rows * self.cols - self.mines

    @property
    def done(self) -> bool:
        return self.lost or self.won

    def place_mines(self, row: int, col: int) -> None:
        """Place the mines uniformly among the cells the first-click rule allows, given a click at (row, col)."""
        allowed = np.ones((self.rows, self.cols), bool)
        if self.first_click == "zero":
            allowed[max(row - 1, 0):row + 2, max(col - 1, 0):col + 2] = False
        else:
            allowed[row, col] = False
        cells = np.flatnonzero(allowed)
        chosen = self.rng.choice(cells, size=self.mines, replace=False)
        self.set_mines(np.isin(np.arange(self.rows * self.cols), chosen).reshape(self.rows, self.cols))

    def set_mines(self, mine_map: np.ndarray) -> None:
        """Use a given boolean mine map (tests and replays of a recorded game)."""
        mine_map = np.asarray(mine_map, bool)
        if mine_map.shape != (self.rows, self.cols) or int(mine_map.sum()) != self.mines:
            raise ValueError(f"mine_map must be a ({self.rows}, {self.cols}) boolean array with {self.mines} mines, "
                             f"got shape {mine_map.shape} with {int(mine_map.sum())}")
        self.mine_map, self.counts = mine_map, neighbour_counts(mine_map)

    def open(self, row: int, col: int, flood: bool = True) -> int:
        """Open a cell: the number of safe cells opened (0 for an opened cell), or -1 for a mine."""
        if self.done:
            raise RuntimeError("the game is over; call reset()")
        if self.mine_map is None:
            self.place_mines(row, col)
        if self.view[row, col] != UNOPENED:
            return 0
        if self.mine_map[row, col]:
            self.lost = True
            return -1
        if not flood or self.counts[row, col] != 0:
            self.view[row, col] = self.counts[row, col]
            opened = 1
        else:
            opened = self._flood(row, col)
        self.opened_safe += opened
        self.won = self.opened_safe == self.safe_cells
        return opened

    def _flood(self, row: int, col: int) -> int:
        # breadth-first over zero cells; at most rows * cols visits, so a Python queue is fast enough
        view, counts, opened = self.view, self.counts, 0
        queue = deque([(row, col)])
        view[row, col] = counts[row, col]
        opened += 1
        while queue:
            r, c = queue.popleft()
            if counts[r, c] != 0:
                continue
            for rr in range(max(r - 1, 0), min(r + 2, self.rows)):
                for cc in range(max(c - 1, 0), min(c + 2, self.cols)):
                    if view[rr, cc] == UNOPENED:
                        view[rr, cc] = counts[rr, cc]
                        opened += 1
                        queue.append((rr, cc))
        return opened


class MinesweeperEnv(gym.Env):
    """Minesweeper with the whole board observed (Chapter 8); see the module docstring for spaces and rewards.

    Args:
        rows, cols, mines: board size and mine count (:func:`check_board` says what is allowed).
        first_click: ``"safe"`` or ``"zero"`` (``FIRST_CLICK_RULES``).
        win_reward: added to the reward of the click that wins (0 keeps Q = 1 - 2 P(mine) at gamma 0).
        invalid_reward: reward for clicking an opened cell (nothing else happens).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, rows: int = 6, cols: int = 6, mines: int = 4, first_click: str = "safe",
                 win_reward: float = 0.0, invalid_reward: float = -1.0, render_mode: str | None = None):
        self.rows, self.cols, self.mines = check_board(rows, cols, mines, first_click)
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode={render_mode!r} is not supported; use None or 'ansi'")
        self.first_click, self.render_mode = first_click, render_mode
        self.win_reward, self.invalid_reward = float(win_reward), float(invalid_reward)
        self.observation_space = spaces.Box(0.0, 1.0, (BOARD_CHANNELS, self.rows, self.cols), np.float32)
        self.action_space = spaces.Discrete(self.rows * self.cols)
        self.game = MinesweeperGame(self.rows, self.cols, self.mines, first_click, np.random.default_rng())
        self.steps = 0

    def _obs_info(self) -> tuple[np.ndarray, dict[str, Any]]:
        mask = (self.game.view.reshape(-1) == UNOPENED).astype(np.int8)
        return board_tensor(self.game.view), {"action_mask": mask}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.game.rng = self.np_random
        self.game.reset()
        self.steps = 0
        return self._obs_info()

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be a cell index in [0, {self.rows * self.cols}), got {action!r}")
        self.steps += 1
        row, col = divmod(int(action), self.cols)
        opened = self.game.open(row, col)
        if opened < 0:
            reward = -1.0
        elif opened == 0:
            reward = self.invalid_reward
        else:
            reward = 1.0 + (self.win_reward if self.game.won else 0.0)
        obs, info = self._obs_info()
        info["won"] = self.game.won
        truncated = not self.game.done and self.steps >= self.rows * self.cols
        return obs, reward, self.game.done, truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        symbols = {UNOPENED: "#", 0: "."}
        return "\n".join("".join(symbols.get(int(v), str(int(v))) for v in row) for row in self.game.view)


class MinesweeperMemoryEnv(gym.Env):
    """Minesweeper seen through a keyhole (Chapter 8): only the count under the cell just opened.

    Observation: 11 numbers, a one-hot of the count (0..8) of the cell just opened, a flag
    "the click changed nothing" (an opened cell), and a flag "no click yet" (the first
    observation). The previous action, which says *where*, comes from the agent's own
    ``prev_action_input``. No flood reveal. Rewards: ``+1/L`` per safe cell opened, ``-0.5 -
    1/L`` for a mine (terminates), ``-1/L`` for an opened cell; the win (every safe cell open)
    terminates with return 1.0. Truncation after ``4 L`` steps.
    """

    def __init__(self, rows: int = 4, cols: int = 4, mines: int = 2, first_click: str = "safe"):
        self.rows, self.cols, self.mines = check_board(rows, cols, mines, first_click)
        self.first_click = first_click
        self.observation_space = spaces.Box(0.0, 1.0, (11,), np.float32)
        self.action_space = spaces.Discrete(self.rows * self.cols)
        self.game = MinesweeperGame(self.rows, self.cols, self.mines, first_click, np.random.default_rng())
        self.safe_cells = self.rows * self.cols - self.mines
        self.steps = 0

    def _obs(self, count: int | None, wasted: bool) -> np.ndarray:
        obs = np.zeros(11, np.float32)
        if count is None:
            obs[10] = 1.0
        elif wasted:
            obs[9] = 1.0
        else:
            obs[count] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.game.rng = self.np_random
        self.game.reset()
        self.steps = 0
        return self._obs(None, False), {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be a cell index in [0, {self.rows * self.cols}), got {action!r}")
        self.steps += 1
        row, col = divmod(int(action), self.cols)
        opened = self.game.open(row, col, flood=False)
        unit = 1.0 / self.safe_cells
        if opened < 0:
            reward, obs = -0.5 - unit, self._obs(0, True)
        elif opened == 0:
            reward, obs = -unit, self._obs(0, True)
        else:
            reward, obs = unit, self._obs(int(self.game.view[row, col]), False)
        truncated = not self.game.done and self.steps >= 4 * self.safe_cells
        return obs, reward, self.game.done, truncated, {"won": self.game.won}


BoardMove = Callable[[np.ndarray], np.ndarray]


def board_symmetries(rows: int, cols: int) -> list[tuple[BoardMove, BoardMove]]:
    """The moves that map a ``rows x cols`` board onto itself, as ``(move, undo)`` pairs of array functions.

    Each function acts on the last two axes of an array ``(..., rows, cols)`` (a board tensor or a map
    of per-cell values). A square board has eight (four turns, each optionally mirrored), a
    rectangular one four (identity, both mirrors, the half turn). Minesweeper's rules do not change
    under any of them, so the exact mine probabilities move with the board. Chapter 8 uses them to
    average a network's answers over the views of one position (``QNetworkPlayer(..., symmetric=True)``)
    and to train on turned boards (``TrainConfig.board_symmetries``).
    """
    if int(rows) < 1 or int(cols) < 1:
        raise ValueError(f"a board needs positive rows and cols, got {rows} x {cols}")
    turns = (0, 1, 2, 3) if rows == cols else (0, 2)
    moves = []
    for mirror in (False, True):
        for k in turns:
            def move(x, k=k, mirror=mirror):
                return np.rot90(np.flip(x, -1) if mirror else x, k, axes=(-2, -1))

            def undo(x, k=k, mirror=mirror):
                y = np.rot90(x, -k, axes=(-2, -1))
                return np.flip(y, -1) if mirror else y
            moves.append((move, undo))
    return moves


def symmetry_permutations(rows: int, cols: int) -> np.ndarray:
    """``(S, rows * cols)`` int64: row ``s`` lists, for each cell of the moved board, the cell it came from.

    For the ``s``-th move of :func:`board_symmetries`, ``flat[..., perm[s]]`` moves a flattened
    ``(..., rows * cols)`` board and ``argsort(perm[s])[a]`` is where cell ``a`` (an action) goes.
    """
    cells = np.arange(int(rows) * int(cols)).reshape(int(rows), int(cols))
    return np.stack([np.ascontiguousarray(move(cells)).reshape(-1) for move, _ in board_symmetries(rows, cols)])
