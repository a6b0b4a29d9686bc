"""What the experiment scripts in ``book/scripts/`` share: run their jobs, one torch thread each, in spawned workers."""
from __future__ import annotations

import multiprocessing as mp
from typing import Any, Callable


def run_jobs(run_one: Callable[[Any], dict], jobs: list, n_jobs: int) -> list[dict]:
    """``[run_one(job) for job in jobs]``, with ``n_jobs`` spawned worker processes when ``n_jobs > 1`` (in order)."""
    if n_jobs > 1:
        with mp.get_context("spawn").Pool(n_jobs) as pool:
            return pool.map(run_one, jobs, chunksize=1)
    return [run_one(job) for job in jobs]


def machine(n_jobs: int) -> str:
    """How the runs shared the machine, for a result file."""
    return f"1 torch thread per run, {n_jobs} runs at a time, {mp.cpu_count()} CPUs"
