"""Chapter 6, beyond the page: LunarLanderContinuous-v3 with a branched 2 x 5 head against the joint 25 grid.

The lander has two continuous engines (main, lateral), each in [-1, 1]. ``--action-bins 5`` gives every engine
five levels; the joint head has one Q-value per combination (5**2 = 25), the branching head one per level per
engine (5 * 2 = 10) and regresses both branches on the mean-over-branches target
(``rdqn_core.losses.branching_bootstrap``). The lander is fully observed (positions, velocities, leg contacts),
so the network is a memoryless DQN. Three seeds per head, 300k env steps each; a final greedy evaluation of the
live learner over ``FINAL_EPISODES`` fresh episodes (seeds disjoint from training). The target from issue 13 is a
final mean >= 200 within 300k steps (rl-baselines3-zoo: TD3 207 after 300k; DQN on the 4-action lander 154 after
100k).

Box2D is needed by this script only, so it is not in ``requirements.txt``; install it with the benchmark extras::

    .venv/bin/pip install -r requirements-bench.txt
    OMP_NUM_THREADS=1 .venv/bin/python book/scripts/ch06_lunar.py --jobs 2      # 51 min on two cores (shared)
    .venv/bin/python book/scripts/ch06_lunar.py --quick --out /tmp/lunar.json    # a smoke run

Chapter 6 reads the result file (``book/data/ch06_lunar.json``) and shows its table.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import pathlib
import sys
import time

import torch

from rdqn_core import TrainConfig

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # the scripts' shared helpers
from _runs import machine, run_jobs  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "book" / "data" / "ch06_lunar.json"
ENV_ID = "LunarLanderContinuous-v3"
SEEDS = (0, 1, 2)
HEADS = ("joint", "branching")
TARGET = 200.0

# A DQN sized like rl-baselines3-zoo's LunarLander DQN (two layers of 256, batch 128, learning rate 6.3e-4 held
# constant, one update every 4 env steps, final epsilon 0.1 reached early), with the package's n-step Double DQN.
LUNAR = TrainConfig.memoryless(
    env_id=ENV_ID, action_bins=5, total_steps=300_000, encoder_sizes=(256,), hidden_size=256, batch_size=128,
    learning_rate=6.3e-4, lr_end=None, updates_per_step=0.25, n_steps=3, eps_end=0.1, eps_decay_steps=30_000,
    eval_every=25_000, eval_episodes=10, torch_threads=1, progress=False, device="cpu",
)


def _ch06():
    """The chapter's main script (its ``run_one`` trains, evaluates and records a run the same way)."""
    path = pathlib.Path(__file__).with_name("ch06_experiments.py")
    spec = importlib.util.spec_from_file_location("ch06_experiments", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def runs(quick: bool) -> list[tuple[str, str, dict, TrainConfig]]:
    """``(group, variant, facts, config)`` for every run, as ``ch06_experiments.run_one`` takes them."""
    out = []
    for head in HEADS:
        for seed in SEEDS[:1] if quick else SEEDS:
            cfg = dataclasses.replace(LUNAR, action_head=head, seed=seed)
            if quick:
                cfg = dataclasses.replace(cfg, total_steps=800, eval_every=400, eval_episodes=1,
                                          learning_starts=200, encoder_sizes=(16,), hidden_size=16, batch_size=16)
            out.append(("lunar", head, {"head": head, "seed": seed}, cfg))
    return out


def run_one(job: tuple[str, str, dict, TrainConfig]) -> dict:
    return _ch06().run_one(job)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny budget, one seed per head (a smoke run)")
    args = parser.parse_args(argv)
    try:
        import Box2D  # noqa: F401  (gymnasium's lander needs it; say how to get it rather than fail deep inside)
    except ImportError:
        parser.error("LunarLander needs Box2D: .venv/bin/pip install -r requirements-bench.txt")
    jobs = runs(args.quick)
    start = time.perf_counter()
    records = run_jobs(run_one, jobs, args.jobs)
    data = {"lunar": records, "quick": args.quick, "target": TARGET, "env_id": ENV_ID,
            "final_episodes": _ch06().FINAL_EPISODES, "seeds": list(SEEDS[:1] if args.quick else SEEDS),
            "machine": machine(args.jobs),
            "command": " ".join(["python", *sys.argv]), "wall_seconds": round(time.perf_counter() - start, 1)}
    for head in HEADS:
        finals = [r["final_mean"] for r in records if r["head"] == head]
        print(f"{head:9s} final greedy means {finals}  reached {TARGET:.0f}: "
              f"{sum(f >= TARGET for f in finals)}/{len(finals)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1))
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
