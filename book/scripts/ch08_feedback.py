"""Chapter 8 beyond the page: what limits the DQN's mine forecasts, its feedback or its network and budget?

The page's DQN (gamma = 0, squared loss) learns ``Q = 1 - 2 P(mine)`` from one reward per position, the reward of
the cell it clicked, and its forecasts rank mines less well than the exact probabilities do on the same positions.
This script trains the page's network (``ConvQNetwork``, four 3x3 convolutions of width 32, with the page's Adam,
learning-rate anneal 1e-3 -> 1e-4, batch size and random board symmetries) by regression on one fixed set of
positions, with three kinds of targets:

* ``one cell``: for each position one unopened cell drawn at random when the position was recorded, and its reward,
  +1 safe or -1 mine: the DQN's feedback, one label per position (spread evenly over the cells instead of on the
  cells the learner believes safe);
* ``all cells``: every unopened cell of the same positions labelled +1 / -1 from the true mine map (what the game
  shows when it ends): full information;
* ``exact``: every unopened cell's target is ``1 - 2 P_exact``: the network asked to copy the exact solver.

Two budgets: the page's (60,000 positions, as many as its run has transitions, and 5,900 updates, as many as it
makes) and four times both. The positions come from games of the greedy exact-probability player that clicks a
random unopened cell instead with probability 0.2. Each network is scored like the page's: wins over 1,000 games
and the AUROC / ECE of its forecasts on the positions of 300 games it plays itself, beside the exact probabilities'
AUROC on the same positions and the mean ``|P_net - P_exact|``.

Usage (from the repository root; about 35 minutes on two cores)::

    OMP_NUM_THREADS=1 .venv/bin/python book/scripts/ch08_feedback.py --jobs 2
    .venv/bin/python book/scripts/ch08_feedback.py --quick --out /tmp/feedback.json   # CI: tiny budget
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # the scripts' shared helpers
from _runs import machine, run_jobs  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "book" / "data" / "ch08_feedback.json"
ROWS, COLS, MINES = 6, 6, 4
TARGETS = ("one cell", "all cells", "exact")
SEEDS = (0, 1)
EXPLORE = 0.2  # the recording player clicks a random unopened cell with this probability
PAGE = dict(conv_channels=(32, 32, 32, 32), batch_size=64, updates=5_900, learning_rate=1e-3, lr_end=1e-4,
            positions=60_000)  # the page's run: 60,000 env steps, 0.1 updates per step after 1,000
BUDGETS = {"page": PAGE, "4x": {**PAGE, "updates": 4 * PAGE["updates"], "positions": 4 * PAGE["positions"]}}
QUICK = dict(conv_channels=(8, 8), batch_size=16, updates=40, learning_rate=1e-3, lr_end=1e-4, positions=300)
GAMES, SCORED_GAMES = 1_000, 300


def record_positions(n: int, seed: int, explore: float) -> dict[str, np.ndarray]:
    """``n`` positions of 6x6/4 games: boards, true mines, exact probabilities, one random unopened cell each."""
    from rdqn_core.envs.minesweeper import UNOPENED, MinesweeperGame, board_tensor
    from rdqn_core.instruments.minesweeper import mine_probabilities

    rng = np.random.default_rng([seed, 9])
    boards, mines, exact, unopened, one = [], [], [], [], []
    while len(boards) < n:
        game = MinesweeperGame(ROWS, COLS, MINES, "safe", rng)
        game.open(ROWS // 2, COLS // 2)
        while not game.done and len(boards) < n:
            view = game.view.copy()
            prob = mine_probabilities(view, MINES)
            closed = np.flatnonzero(view.reshape(-1) == UNOPENED)
            boards.append(board_tensor(view).reshape(-1))
            mines.append(game.mine_map.reshape(-1))
            exact.append(np.nan_to_num(prob.reshape(-1)))
            unopened.append(view.reshape(-1) == UNOPENED)
            one.append(rng.choice(closed))
            cell = rng.choice(closed) if rng.random() < explore else int(np.nanargmin(prob))
            game.open(*divmod(int(cell), COLS))
    return dict(boards=np.array(boards, np.float32), mines=np.array(mines, bool), exact=np.array(exact, np.float32),
                unopened=np.array(unopened, bool), one=np.array(one, np.int64))


def train_network(data: dict[str, np.ndarray], target: str, seed: int, settings: dict[str, Any]):
    """The page's network fitted to ``target`` labels on ``data`` with the page's optimizer and schedule."""
    import torch

    from rdqn_core import seed_everything
    from rdqn_core.envs.minesweeper import BOARD_CHANNELS, symmetry_permutations
    from rdqn_core.networks import ConvQNetwork

    seed_everything(seed)
    net = ConvQNetwork(BOARD_CHANNELS, (ROWS, COLS), tuple(settings["conv_channels"]))
    optim = torch.optim.Adam(net.parameters(), lr=settings["learning_rate"])
    updates, batch = settings["updates"], settings["batch_size"]
    boards = torch.as_tensor(data["boards"]).reshape(len(data["boards"]), BOARD_CHANNELS, ROWS * COLS)
    mines, exact = torch.as_tensor(data["mines"]).float(), torch.as_tensor(data["exact"])
    unopened = torch.as_tensor(data["unopened"])
    one = torch.zeros_like(unopened)
    one[torch.arange(len(one)), torch.as_tensor(data["one"])] = True
    # targets 1 - 2 P(mine) and the cells each loss term covers
    y = 1.0 - 2.0 * (exact if target == "exact" else mines)
    weight = (one if target == "one cell" else unopened).float()
    perms = torch.as_tensor(symmetry_permutations(ROWS, COLS))
    generator = torch.Generator().manual_seed(seed)
    for u in range(updates):
        for group in optim.param_groups:  # the page's linear anneal, over the run's updates
            group["lr"] = settings["learning_rate"] + (settings["lr_end"] - settings["learning_rate"]) * u / updates
        idx = torch.randint(len(boards), (batch,), generator=generator)
        perm = perms[torch.randint(len(perms), (batch,), generator=generator)]  # a random view of each board
        x = torch.gather(boards[idx], 2, perm[:, None, :].expand(-1, BOARD_CHANNELS, -1))
        q = net(x.reshape(1, batch, BOARD_CHANNELS, ROWS, COLS))[0][0]  # (batch, cells)
        w = torch.gather(weight[idx], 1, perm)
        loss = ((q - torch.gather(y[idx], 1, perm)) ** 2 * w).sum() / w.sum()
        optim.zero_grad()
        loss.backward()
        optim.step()
    return net.eval()


def run_one(job: tuple[int, str, dict[str, Any], int, int]) -> list[dict[str, Any]]:
    """One seed and budget: record the positions once, then train and score one network per target."""
    seed, budget, settings, games, scored_games = job
    import torch

    from rdqn_core import (QNetworkPlayer, auroc, expected_calibration_error, forecast_arrays, record_forecast_game,
                           win_rate)

    torch.set_num_threads(1)
    data = record_positions(settings["positions"], seed, EXPLORE)
    records = []
    for target in TARGETS:
        t0 = time.perf_counter()
        net = train_network(data, target, seed, settings)
        train_seconds = time.perf_counter() - t0
        player = QNetworkPlayer(net)
        wins = win_rate(player, ROWS, COLS, MINES, games=games, seed=seed)
        recorded = [record_forecast_game(player, ROWS, COLS, MINES, np.random.default_rng([seed, 8, i]))
                    for i in range(scored_games)]  # the page's positions: its games' seeds
        implied, exact, truth = forecast_arrays(recorded)
        records.append(dict(
            target=target, seed=seed, budget=budget, updates=settings["updates"], positions=len(data["boards"]),
            train_seconds=round(train_seconds, 1), win_rate=round(wins["rate"], 4), auroc=round(auroc(implied, truth), 4),
            ece=round(expected_calibration_error(np.clip(implied, 0, 1), truth), 4),
            exact_auroc=round(auroc(exact, truth), 4), mean_abs_gap=round(float(np.abs(implied - exact).mean()), 4),
            forecasts=int(truth.size)))
        r = records[-1]
        print(f"seed {seed} {budget:4s} {target:9s}: win {r['win_rate']:.1%}, AUROC {r['auroc']:.3f} (exact "
              f"{r['exact_auroc']:.3f}), ECE {r['ece']:.3f}, |gap| {r['mean_abs_gap']:.3f}, {train_seconds:.0f} s",
              flush=True)
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny network and budgets, few games (CI: the format)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    budgets = {name: QUICK for name in BUDGETS} if args.quick else BUDGETS
    games, scored = (20, 3) if args.quick else (GAMES, SCORED_GAMES)
    # the long runs first, so that the workers finish together
    jobs = [(seed, name, budgets[name], games, scored) for name in reversed(list(BUDGETS)) for seed in SEEDS]
    start = time.perf_counter()
    records = [r for job_records in run_jobs(run_one, jobs, args.jobs) for r in job_records]
    data = {"records": records, "quick": args.quick, "targets": list(TARGETS), "seeds": list(SEEDS),
            "budgets": {name: {k: list(v) if isinstance(v, tuple) else v for k, v in b.items()}
                        for name, b in budgets.items()},
            "explore": EXPLORE, "games": games, "scored_games": scored, "machine": machine(args.jobs),
            "command": " ".join(["python", *sys.argv]), "wall_seconds": round(time.perf_counter() - start, 1),
            "created": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1))
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
