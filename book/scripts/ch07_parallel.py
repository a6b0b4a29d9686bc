"""Chapter 7's longer measurements: throughput, the Amdahl budget, actor-learner scaling, staleness, DDP, Ray.

    OMP_NUM_THREADS=1 nice -n 5 python book/scripts/ch07_parallel.py            # ~6 min on 2 busy cores
    python book/scripts/ch07_parallel.py --quick --out /tmp/ch07.json            # the CI budget (tests)

Writes ``book/data/ch07_results.json``, which ``book/07_parallel.ipynb`` loads and plots. Every
speed in it was measured on this machine with other jobs running: variants are run interleaved in
one pass and the page compares them by ratios; ``load`` records the 1-minute load average before
each run.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import torch

from rdqn_core import MASKED_CARTPOLE_ID, SLOW_MASKED_CARTPOLE, TrainConfig, train, train_actor_learner
from rdqn_core.instruments import (acting_and_update_times, hidden_state_staleness, scaling_run,
                                   vector_env_throughput)

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "book" / "data" / "ch07_results.json"

ENVS = {  # name -> (env id, env kwargs, updates per env step of the scaling runs)
    "cartpole": (MASKED_CARTPOLE_ID, {}, 0.5),  # learner-bound (the defaults' 1.0 is even more so)
    "slow_1ms": (SLOW_MASKED_CARTPOLE, {"delay": 0.001}, 0.02),  # a 1 ms (sleeping) step at a low ratio
}


def base_config(env: str, steps: int, quick: bool) -> TrainConfig:
    env_id, kwargs, ratio = ENVS[env]
    return TrainConfig(env_id=env_id, env_kwargs=kwargs, updates_per_step=ratio, total_steps=steps,
                       learning_starts=min(1_000, steps // 4), eval_every=0, progress=False, torch_threads=1,
                       buffer_size=20_000)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def measure_vector(quick: bool) -> list[dict]:
    sizes = (1, 2, 4) if quick else (1, 2, 4, 8)
    repeats = 1 if quick else 3
    rows = {}
    for rep in range(repeats):  # interleaved: every variant once per pass
        for env in ENVS:
            env_id, kwargs, _ = ENVS[env]
            steps = (400 if quick else 4_000) if env == "cartpole" else (80 if quick else 800)
            for n in sizes:
                for mode in ("sync", "async"):
                    rate = vector_env_throughput(env_id, n, mode == "async", steps=steps, env_kwargs=kwargs, seed=rep)
                    rows.setdefault((env, n, mode), []).append(rate)
    return [{"env": env, "num_envs": n, "vector": mode, "steps_per_s": round(float(np.median(r)), 1),
             "runs": [round(x, 1) for x in r]} for (env, n, mode), r in rows.items()]


def measure_split(quick: bool) -> list[dict]:
    out = []
    for env in ENVS:
        for vector in ("sync", "async"):
            cfg = dataclasses.replace(base_config(env, 1_000, quick), vector_env=vector)
            t = acting_and_update_times(cfg, blocks=2 if quick else 5, act_steps=40 if quick else 400,
                                        updates=3 if quick else 20, fill_steps=200 if quick else 1_500)
            out.append({"env": env, "vector": vector, "t_act": t["t_act"], "t_update": t["t_update"],
                        "acting_share": t["acting_share"], "updates_per_step": cfg.updates_per_step,
                        "amdahl_limit": 1.0 / (1.0 - t["acting_share"])})
    return out


def measure_scaling(quick: bool) -> list[dict]:
    rows = []
    steps = {"cartpole": 600 if quick else 2_000, "slow_1ms": 400 if quick else 4_000}
    envs = ("cartpole",) if quick else tuple(ENVS)
    vectors = ("sync",) if quick else ("sync", "async")
    for env in envs:
        for vector in vectors:
            cfg = dataclasses.replace(base_config(env, steps[env], quick), vector_env=vector)
            # the sleeping env leaves the cores free, so it also gets 4 actors: more than two cores' worth
            counts = (0, 1) if quick else ((0, 1, 2, 4) if env == "slow_1ms" else (0, 1, 2))
            for actors in counts:
                rows.append({"env": env, "vector": vector, "updates_per_step": cfg.updates_per_step,
                             **scaling_run(cfg, actors)})
                print(rows[-1], flush=True)
    cfg = base_config("cartpole", steps["cartpole"], quick)
    for actors in ((1,) if quick else (1, 2)):
        rows.append({"env": "cartpole", "vector": "sync", "updates_per_step": cfg.updates_per_step,
                     **scaling_run(cfg, actors, free_running=True)})
        print(rows[-1], flush=True)
    return rows


def measure_staleness(quick: bool) -> list[dict]:
    rows = []
    steps = 800 if quick else 3_000
    cfg = base_config("cartpole", steps, quick)
    for sync in ((0, 10) if quick else (0, 1, 10, 100, 400)):
        if sync == 0:  # the single process: actors act with the newest weights
            result = train(cfg, return_replay=True)
            replay, lag = result.replay, (0.0, 0)
        else:
            result = train_actor_learner(dataclasses.replace(cfg, actors=1, sync_every=sync), return_replay=True)
            replay, lag = result.replay.shards[0], (result.summary["weight_lag_mean"],
                                                     result.summary["weight_lag_max"])
        report = hidden_state_staleness(result.agent.online, replay, burn_ins=(0,), initial_states=("stored",),
                                        windows=64 if quick else 256, seed=0)
        row = report.row("stored", 0)
        rows.append({"sync_every": sync, "delta_q_first": round(float(row["delta_q_first"]), 5),
                     "delta_q_mean": round(float(row["delta_q_mean"]), 5),
                     "stored_state_gap": round(report.stored_state_gap, 5), "weight_lag_mean": lag[0],
                     "weight_lag_max": lag[1], "updates": result.agent.updates})
        print(rows[-1], flush=True)
    return rows


def measure_ddp(quick: bool) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "rdqn_core.parallel.data_parallel", "0", "10" if quick else "200"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"torchrun failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_ray(quick: bool) -> dict:
    try:
        import ray
    except ImportError:
        return {"installed": False, "version": "", "init_seconds": 0.0, "run": {}}
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    init_seconds = time.perf_counter() - t0
    try:
        cfg = dataclasses.replace(base_config("cartpole", 600 if quick else 3_000, quick), actors=2, engine="ray")
        s = train_actor_learner(cfg).summary
    finally:
        ray.shutdown()
    keep = ("env_steps_per_s", "updates_per_s", "updates_per_step_measured", "weight_lag_mean", "weight_lag_max",
            "wall_seconds")
    return {"installed": True, "version": ray.__version__, "init_seconds": round(init_seconds, 2),
            "run": {k: s[k] for k in keep}}


SECTIONS = ("vector", "split", "scaling", "staleness", "ddp", "ray")


def load_results(path: str | os.PathLike = DEFAULT_OUT) -> dict:
    """The result file, checked for every section the page reads (what is missing says how to make it)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; run python book/scripts/ch07_parallel.py to write it")
    results = json.loads(path.read_text())
    missing = [s for s in SECTIONS if s not in results]
    if missing:
        raise ValueError(f"{path} lacks the sections {missing}; re-run python book/scripts/ch07_parallel.py")
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets (the CI test)")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    parser.add_argument("--skip-ray", action="store_true", help="do not start Ray even if it is installed")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    command = "python book/scripts/ch07_parallel.py" + (" --quick" if args.quick else "")
    results = {"quick": args.quick, "command": command, "cpu_count": os.cpu_count(), "torch": torch.__version__,
               "load_at_start": load()}
    results["vector"] = measure_vector(args.quick)
    results["split"] = measure_split(args.quick)
    results["scaling"] = measure_scaling(args.quick)
    results["staleness"] = measure_staleness(args.quick)
    results["ddp"] = measure_ddp(args.quick)
    results["ray"] = ({"installed": False, "version": "", "init_seconds": 0.0, "run": {}} if args.skip_ray
                      else measure_ray(args.quick))
    results["load_at_end"] = load()
    results["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out} in {results['seconds']} s")
    return results


if __name__ == "__main__":
    main()
