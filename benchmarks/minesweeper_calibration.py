"""Chapter 8's page network on 6x6/4, trained with variants: win rate and how good its implied mine probabilities are.

Chapter 8 trains a masked CNN DQN with gamma = 0 and a squared loss, so that Q = 1 - 2 P(mine) and
``(1 - Q) / 2`` is the network's forecast of each unopened cell. The page scores those forecasts (AUROC, expected
calibration error) over the positions of 300 games the network plays itself; the issue's target is AUROC >= 0.95,
close to what the exact probabilities reach on the same positions. This script asks what would close the gap:
it trains the page's configuration (``PAGE_CONFIG``, the same values as the page's training cell) with each
variant's overrides and prints, per run, the win rate over 1,000 games, the AUROC and ECE of the network's
forecasts, those of the exact probabilities on the same positions, and the mean |P_net - P_exact|; then the same
for the network averaged over the board's eight symmetries (``QNetworkPlayer(..., symmetric=True)``): its win rate
on the same 1,000 boards and its forecasts on the same positions (columns "sym ..."). The scored network is the
agent's greedy one: the online net, or its weight average in a variant with ``average_tau``.

Usage (from the repository root; one torch thread per run, about 3-8 minutes per run on one core)::

    python benchmarks/minesweeper_calibration.py --variant page='{}' --variant ups02='{"updates_per_step": 0.2}'
    python benchmarks/minesweeper_calibration.py --quick    # a tiny smoke run (tests)
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import numpy as np

ROWS, COLS, MINES = 6, 6, 4
PAGE_CONFIG: dict[str, Any] = dict(  # chapter 8's training cell, seed and device aside
    env_kwargs={"rows": ROWS, "cols": COLS, "mines": MINES}, encoder_sizes=(32, 32, 32, 32), gamma=0.0, n_steps=1,
    double_dqn=False, loss="mse", total_steps=60_000, num_envs=16, batch_size=64, updates_per_step=0.1,
    buffer_size=60_000, learning_starts=1_000, eps_decay_steps=20_000, lr_decay_steps=60_000, eval_every=0,
    board_symmetries=True)
QUICK: dict[str, Any] = dict(total_steps=400, learning_starts=100, eps_decay_steps=200, lr_decay_steps=400,
                             encoder_sizes=(8, 8), batch_size=16)


def run_one(job: tuple[str, dict[str, Any], int, int, int]) -> dict[str, Any]:
    name, overrides, seed, games, scored_games = job
    import torch

    from rdqn_core import (MINESWEEPER_ID, QNetworkPlayer, TrainConfig, auroc, expected_calibration_error,
                           forecast_arrays, record_forecast_game, seed_everything, train, win_rate)

    seed_everything(seed)
    torch.set_num_threads(1)
    settings = {**PAGE_CONFIG, **overrides}
    settings["encoder_sizes"] = tuple(settings["encoder_sizes"])
    t0 = time.perf_counter()
    net = train(TrainConfig.board(env_id=MINESWEEPER_ID, seed=seed, torch_threads=1, progress=False, device="cpu",
                                  **settings)).agent.greedy_network.eval()
    train_seconds = time.perf_counter() - t0
    player = QNetworkPlayer(net)
    wins = win_rate(player, ROWS, COLS, MINES, games=games, seed=seed)
    # the page's positions: its games' seeds, first click at the centre
    recorded = [record_forecast_game(player, ROWS, COLS, MINES, np.random.default_rng([seed, 8, i]))
                for i in range(scored_games)]
    implied, exact, truth = forecast_arrays(recorded)
    # the same network averaged over the board's eight symmetries: its own games, and its forecasts on the positions above
    sym_player = QNetworkPlayer(net, symmetric=True)
    sym_wins = win_rate(sym_player, ROWS, COLS, MINES, games=games, seed=seed)
    sym, _, _ = forecast_arrays(recorded, player=sym_player)
    return dict(variant=name, seed=seed, train_seconds=round(train_seconds, 1), win_rate=round(wins["rate"], 4),
                auroc=round(auroc(implied, truth), 4),
                ece=round(expected_calibration_error(np.clip(implied, 0, 1), truth), 4),
                exact_auroc=round(auroc(exact, truth), 4), exact_ece=round(expected_calibration_error(exact, truth), 4),
                mean_abs_gap=round(float(np.abs(implied - exact).mean()), 4), forecasts=int(truth.size),
                sym_win_rate=round(sym_wins["rate"], 4), sym_auroc=round(auroc(sym, truth), 4),
                sym_ece=round(expected_calibration_error(np.clip(sym, 0, 1), truth), 4),
                sym_mean_abs_gap=round(float(np.abs(sym - exact).mean()), 4))


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=JSON",
                        help="name=JSON overrides of the page's configuration (repeatable; default: the page's)")
    parser.add_argument("--quick", action="store_true", help="tiny budget and network, few games (a smoke run)")
    parser.add_argument("--out", default=None, help="write every run's record here as JSON")
    args = parser.parse_args(argv)
    variants = {}
    for spec in args.variant or ["page={}"]:
        name, _, text = spec.partition("=")
        variants[name] = {**(QUICK if args.quick else {}), **json.loads(text or "{}")}
    games, scored = (20, 3) if args.quick else (1_000, 300)
    jobs = [(name, ov, seed, games, scored) for seed in range(args.seeds) for name, ov in variants.items()]
    if args.jobs == 1:
        records = [run_one(job) for job in jobs]
    else:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            records = list(pool.map(run_one, jobs))
    print(f"{'variant':12s} {'seed':>4} {'win':>6} {'AUROC':>6} {'ECE':>6} {'exact AUROC':>11} {'|gap|':>6} "
          f"{'sym win':>7} {'sym AUROC':>9} {'sym ECE':>7} {'sym |gap|':>9} {'train s':>7}")
    for r in records:
        print(f"{r['variant']:12s} {r['seed']:>4} {r['win_rate']:>6.1%} {r['auroc']:>6.3f} {r['ece']:>6.3f} "
              f"{r['exact_auroc']:>11.3f} {r['mean_abs_gap']:>6.3f} {r['sym_win_rate']:>7.1%} {r['sym_auroc']:>9.3f} "
              f"{r['sym_ece']:>7.3f} {r['sym_mean_abs_gap']:>9.3f} {r['train_seconds']:>7.0f}", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"variants": variants, "records": records}, f, indent=1)
    return records


if __name__ == "__main__":
    main()
