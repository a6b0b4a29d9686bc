"""Chapter 8 beyond the page: the masked convolutional DQN on the expert-sized boards 8x8/10 and 9x9/10.

The page trains on 6x6 with 4 mines in under two minutes. Larger boards need longer runs than a page may take, so
this script trains them and writes a small result file that the page loads. Every run uses the page's configuration
(gamma 0, one-step targets, masked bootstrap-free MSE regression on +1/-1 rewards, the fully convolutional network)
with a longer budget; each is then scored like the page's agent: 1,000 games from the centre, safe first click, the
greedy exact-probability solver on the same boards beside it, Wilson 95% intervals. Like the page, it trains on
turned boards (``board_symmetries=True``) and also scores the network averaged over the eight views of each position.

Because the network is fully convolutional (one Q-value per cell, the same weights for any board size), the agent
trained on 6x6/4 can also be played on the larger boards without any training there: the script measures that too.

Usage (from the repository root; 35 minutes on two cores shared with other runs)::

    OMP_NUM_THREADS=1 .venv/bin/python book/scripts/ch08_boards.py --jobs 2
    .venv/bin/python book/scripts/ch08_boards.py --quick --out /tmp/boards.json   # CI: tiny budget
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

import torch

from rdqn_core import MINESWEEPER_ID, QNetworkPlayer, TrainConfig, train, win_rate

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # the scripts' shared helpers
from _runs import machine, run_jobs  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "book" / "data" / "ch08_boards.json"
BOARDS = {"6x6/4": (6, 6, 4), "8x8/10": (8, 8, 10), "9x9/10": (9, 9, 10)}
# steps per training board (6x6 as on the page; the larger boards get longer runs)
BUDGETS = {"6x6/4": 60_000, "8x8/10": 200_000, "9x9/10": 200_000}
TARGETS = {"8x8/10": 0.55, "9x9/10": 0.65}  # issue 15's aims; the greedy solver reaches about 73% and 84%
GAMES = 1_000
SEED = 0


def page_config(rows: int, cols: int, mines: int, steps: int) -> TrainConfig:
    """Chapter 8's in-page configuration (book/08_minesweeper.ipynb) on another board and budget."""
    return TrainConfig.board(
        env_id=MINESWEEPER_ID, env_kwargs={"rows": rows, "cols": cols, "mines": mines},
        encoder_sizes=(32, 32, 32, 32), gamma=0.0, n_steps=1, double_dqn=False, loss="mse", total_steps=steps,
        num_envs=16, batch_size=64, updates_per_step=0.1, buffer_size=min(steps, 100_000), learning_starts=1_000,
        eps_decay_steps=steps // 3, lr_decay_steps=steps, eval_every=0, board_symmetries=True, seed=SEED,
        torch_threads=1, progress=False, device="cpu")


def run_one(job: tuple[str, int, int]) -> dict:
    name, steps, games = job
    torch.set_num_threads(1)
    start = time.perf_counter()
    rows, cols, mines = BOARDS[name]
    result = train(page_config(rows, cols, mines, steps))
    net = result.agent.greedy_network.eval()
    train_seconds = time.perf_counter() - start
    played = [name] + ([other for other in BOARDS if other != name] if name == "6x6/4" else [])
    scores = {}
    for board in played:
        r, c, m = BOARDS[board]
        # dqn_sym: the same network averaged over the board's eight symmetries (QNetworkPlayer(..., symmetric=True))
        scores[board] = {"dqn": win_rate(QNetworkPlayer(net), r, c, m, games=games, seed=SEED),
                         "dqn_sym": win_rate(QNetworkPlayer(net, symmetric=True), r, c, m, games=games, seed=SEED),
                         "greedy": win_rate("greedy", r, c, m, games=games, seed=SEED)}
    record = {"trained_on": name, "env_steps": result.summary["env_steps"], "updates": result.summary["updates"],
              "train_seconds": round(train_seconds, 1), "games": games, "scores": scores,
              "config": dataclasses.asdict(page_config(rows, cols, mines, steps))}
    summary = ", ".join(f"on {b}: DQN {s['dqn']['rate']:.1%} (8 views {s['dqn_sym']['rate']:.1%}) vs greedy "
                        f"{s['greedy']['rate']:.1%}"
                        for b, s in scores.items())
    print(f"trained on {name} ({steps:,} steps, {train_seconds:.0f} s): {summary}", flush=True)
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny budgets, 20 games (CI checks the script runs)")
    args = parser.parse_args(argv)
    games = 20 if args.quick else GAMES
    # the long runs first, so that the two workers finish together
    jobs = [(name, 1_200 if args.quick else BUDGETS[name], games) for name in ("8x8/10", "9x9/10", "6x6/4")]
    start = time.perf_counter()
    records = run_jobs(run_one, jobs, args.jobs)
    data = {"runs": records, "quick": args.quick, "games": games, "targets": TARGETS, "seed": SEED,
            "machine": machine(args.jobs),
            "command": " ".join(["python", *sys.argv]), "wall_seconds": round(time.perf_counter() - start, 1),
            "created": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1))
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
