"""What an update costs with the passes its targets read: chapter 8's gamma-0 board update, timed interleaved.

An update skips the forward passes its targets do not read (``QAgent.update``): without Double DQN the online
look-ahead, with ``gamma = 0`` also the target network. ``gamma = 1e-9`` takes the path of any ``gamma > 0``, so
its rows time what a gamma-0 update ran before the skip (with Double DQN: all three passes). Each round times every
variant once (``rdqn_core.benchmark``: the median of ``--updates`` separately timed gradient steps), so a drift of the
shared machine's speed hits all of them alike; the table gives the median over rounds and the ratio to the
three-pass update.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/update_passes.py            # 5 rounds of 60 updates, a few minutes
    python benchmarks/update_passes.py --rounds 1 --updates 3       # a smoke run
"""
from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch

from rdqn_core import MINESWEEPER_ID, TrainConfig
from rdqn_core.benchmark import benchmark

PAGE = TrainConfig.board(  # chapter 8's training cell (book/08_minesweeper.ipynb), the parts an update sees
    env_id=MINESWEEPER_ID, env_kwargs={"rows": 6, "cols": 6, "mines": 4}, encoder_sizes=(32, 32, 32, 32), gamma=0.0,
    n_steps=1, double_dqn=False, loss="mse", batch_size=64, torch_threads=1, progress=False, device="cpu")
VARIANTS = {
    "gamma 0 (online pass only)": PAGE,
    "gamma 1e-9, no double (+ target pass)": dataclasses.replace(PAGE, gamma=1e-9),
    "gamma 1e-9, double (+ look-ahead: all three)": dataclasses.replace(PAGE, gamma=1e-9, double_dqn=True),
}


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--updates", type=int, default=60, help="timed updates per variant and round")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.updates < 1:
        parser.error(f"--rounds and --updates must be >= 1, got {args.rounds} and {args.updates}")
    torch.set_num_threads(1)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, config in VARIANTS.items():
            result = benchmark(config, num_envs=(16,), act_steps=20, updates=args.updates, fill_steps=2_000)
            times[name].append(result["update_ms"])
    reference = float(np.median(times[list(VARIANTS)[-1]]))
    print(f"torch {torch.__version__}, {args.rounds} rounds of {args.updates} updates, one thread")
    print(f"{'variant':46s} {'median ms/update':>16s} {'ratio':>6s}  rounds (ms)")
    for name, ms in times.items():
        print(f"{name:46s} {np.median(ms):16.2f} {np.median(ms) / reference:6.2f}  "
              + ", ".join(f"{m:.1f}" for m in ms))
    return times


if __name__ == "__main__":
    main()
