"""What the experiment scripts in ``book/scripts/`` share: run their jobs, one torch thread each, in spawned workers."""
from __future__ import annotations

import multiprocessing as mp
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
