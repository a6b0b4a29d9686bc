"""What the experiment scripts in ``book/scripts/`` share: run their jobs, one torch thread each, in spawned workers;
and the frame of chapter 4's like-for-like comparisons (``ch04_masked.py``, ``ch04_flicker.py``)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import pathlib
import sys
import time
from typing import Any, Callable

import numpy as np


def run_jobs(run_one: Callable[[Any], dict], jobs: list, n_jobs: int) -> list[dict]:
    """``[run_one(job) for job in jobs]``, with ``n_jobs`` spawned worker processes when ``n_jobs > 1`` (in order)."""
    if n_jobs > 1:
        with mp.get_context("spawn").Pool(n_jobs) as pool:
            return pool.map(run_one, jobs, chunksize=1)
    return [run_one(job) for job in jobs]


def machine(n_jobs: int) -> str:
    """How the runs shared the machine, for a result file."""
    at_a_time = "one run at a time" if n_jobs == 1 else f"{n_jobs} runs at a time"
    return f"1 torch thread per run, {at_a_time}, {mp.cpu_count()} CPUs"


def solve_record(history: dict, solve: float) -> dict:
    """From a run's history: its evaluation curve, the first evaluation >= ``solve`` (env steps, None if never)
    and the share of the evaluations from that one on that stayed >= ``solve`` (None if never solved)."""
    steps = list(history.get("eval/step", []))
    means = [float(x) for x in history.get("eval/mean_return", [])]
    first = next((i for i, r in enumerate(means) if r >= solve), None)
    return {"eval_steps": steps, "eval_means": [round(x, 1) for x in means],
            "steps_to_solve": None if first is None else steps[first],
            "share_after_solve": None if first is None else round(sum(r >= solve for r in means[first:])
                                                                  / len(means[first:]), 3)}


def bootstrap_ci(values: Any, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (``scipy.stats.bootstrap``, 10,000 resamples, fixed seed); over
    as few seeds as the scripts run it shows the spread, it is not a test."""
    from scipy.stats import bootstrap

    values = np.asarray(values, float)
    if np.ptp(values) == 0:  # all the same: the interval is that value
        return float(values[0]), float(values[0])
    ci = bootstrap((values,), np.mean, confidence_level=confidence, n_resamples=10_000, method="percentile",
                   rng=np.random.default_rng(0)).confidence_interval
    return float(ci.low), float(ci.high)


# ------------------------------------------------------------------ chapter 4's like-for-like comparisons
QUICK_NETWORK = dict(eval_every=300, eval_episodes=2, learning_starts=200, hidden_size=16, encoder_sizes=(16,))
"""What a comparison's ``--quick`` run changes in every agent (CI: the file format, not the result)."""


def memoryless_dqn(drqn: Any) -> dict[str, Any]:
    """Overrides that turn a DRQN configuration into a memoryless DQN fitting the same TD terms per update: a
    DQN update fits ``batch_size`` one-step windows, the DRQN's ``batch_size * seq_len`` trained steps."""
    return dict(cell="mlp", seq_len=1, burn_in=0, initial_state="zero", prev_action_input=True,
                batch_size=drqn.batch_size * drqn.seq_len)


def train_and_score(method: str, cfg: Any, solve: float, final: Callable[[Any], Any]) -> tuple[dict, float]:
    """Train ``cfg`` (one torch thread); return its record (the evaluation curve and solve, see
    :func:`solve_record`; ``final(agent)`` of the live learner; counts, seconds and the whole configuration)
    and the seconds the run took in all."""
    import torch

    from rdqn_core import train

    torch.set_num_threads(1)
    start = time.perf_counter()
    result = train(cfg)
    s = result.summary
    record = {"method": method, "seed": cfg.seed, **solve_record(result.history, solve), "final": final(result.agent),
              "env_steps": s["env_steps"], "updates": s["updates"],
              "train_seconds": round(s["wall_seconds"] - s["eval_seconds"], 1),
              "td_terms_per_update": cfg.batch_size * cfg.seq_len, "config": dataclasses.asdict(cfg)}
    return record, time.perf_counter() - start


def comparison_main(argv: list[str] | None, doc: str, out: pathlib.Path, seeds: int, budget: int,
                    final_episodes: int, configs: Callable[[int], dict[str, Any]], run_one: Callable[[Any], dict],
                    **fields: Any) -> tuple[dict, pathlib.Path]:
    """Command line of a comparison script: every agent of ``configs(budget)`` on every seed (``--quick``: one
    seed, 600 steps, small networks, 5 final episodes), the recurrent runs first so that the workers finish
    together; writes the result file (runs, budget, machine, command, time and ``fields``) and returns it."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path, default=out)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=seeds)
    parser.add_argument("--quick", action="store_true", help="tiny budget and networks, one seed (CI)")
    args = parser.parse_args(argv)
    seed_list = [0] if args.quick else list(range(args.seeds))
    budget = 600 if args.quick else budget
    final_episodes = 5 if args.quick else final_episodes
    jobs = []
    for method, cfg in configs(budget).items():
        if args.quick:
            cfg = dataclasses.replace(cfg, **QUICK_NETWORK)
        jobs += [(method, dataclasses.replace(cfg, seed=seed), final_episodes) for seed in seed_list]
    jobs.sort(key=lambda job: job[1].cell == "mlp")
    start = time.perf_counter()
    records = run_jobs(run_one, jobs, args.jobs)
    data = {"runs": records, "quick": args.quick, "seeds": seed_list, "budget": budget, **fields,
            "final_episodes": final_episodes, "machine": machine(args.jobs),
            "command": " ".join(["python", *sys.argv]), "wall_seconds": round(time.perf_counter() - start, 1),
            "created": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1))
    return data, args.out
