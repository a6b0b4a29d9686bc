"""The learner on a GPU, the actors on CPU cores (Chapter 7, issue 14's GPU table).

    python benchmarks/gpu_learner.py                      # ~5 min on a machine with one CUDA GPU (16 cores)
    python benchmarks/gpu_learner.py --quick --device cpu # seconds: checks the script itself

Two measurements, each printed as a table and written to ``--out`` (JSON):

1. **Update time against batch size**, on the CPU (one thread, as the actor-learner's learner runs)
   and on the GPU, interleaved in blocks so both see the same machine: median milliseconds per
   gradient update of the default recurrent agent (LSTM 64, 4 burn-in + 8 trained steps) for batch
   sizes 32 ... 1024 windows. A small LSTM update is bound by kernel launches on a GPU, so its time
   barely grows with the batch while the CPU's grows linearly: the GPU pays off in windows per second,
   not in updates per second at the default batch of 32.
2. **1/2/4/8 actor processes feeding a GPU learner** on masked CartPole, with the replay ratio held
   at ``--ratio`` updates per env step by the blocking rate limiter, and once free-running: env steps/s,
   updates/s, the measured ratio, the weight lag and the idle shares (the single process on the GPU,
   ``actors = 0``, is the baseline).

One GPU cannot host two NCCL ranks: data-parallel learners (``--ddp``) need one GPU per rank, so this
script measures the actor-learner split only.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np
import torch

from rdqn_core import MASKED_CARTPOLE_ID, TrainConfig
from rdqn_core.envs import check_spaces, make_vector_env
from rdqn_core.instruments import scaling_run
from rdqn_core.rollout import Rollout
from rdqn_core.trainer import build_agent, build_replay


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def update_times(devices: list[torch.device], batches: list[int], blocks: int, updates: int,
                 fill: int = 5_000) -> list[dict]:
    """Median ms per update for each (device, batch), interleaved block by block."""
    cfg = TrainConfig(env_id=MASKED_CARTPOLE_ID, buffer_size=50_000, progress=False)
    envs = make_vector_env(cfg.env_id, cfg.num_envs)
    try:
        obs_dim, n_actions = check_spaces(envs.single_observation_space, envs.single_action_space)
        filler = build_agent(cfg, obs_dim, n_actions, torch.device("cpu"))
        replay = build_replay(cfg, obs_dim, filler)
        rollout = Rollout(envs, filler.online, seed=0)
        rng = np.random.default_rng(0)
        for _ in range(fill // cfg.num_envs):  # enough windows for the largest batch
            s = rollout.step(0.5, rng)
            replay.add(s.obs, s.actions, s.rewards, s.terminated, s.truncated, s.next_obs, s.prev_actions, s.state)
    finally:
        envs.close()
    agents = {d: build_agent(cfg, obs_dim, n_actions, d) for d in devices}
    times: dict[tuple[str, int], list[float]] = {}
    rows: list[dict] = []
    for block in range(blocks + 1):  # block 0 warms up (CUDA context, cuDNN plans) and is not kept
        for batch in batches:
            for d in devices:
                samples = [replay.sample(batch, rng, d) for _ in range(updates)]  # sampling is not the update
                sync(d)
                t0 = time.perf_counter()
                for b in samples:
                    agents[d].update(b)
                sync(d)
                if block:
                    times.setdefault((str(d), batch), []).append((time.perf_counter() - t0) / updates * 1e3)
                    if block == blocks:  # the last pass: this (device, batch) is complete
                        ts = times[(str(d), batch)]
                        ms = float(np.median(ts))
                        rows.append({"device": str(d), "batch": batch, "ms_per_update": round(ms, 3),
                                     "windows_per_s": round(batch / ms * 1e3, 1),
                                     "blocks_ms": [round(t, 3) for t in ts]})
                        print(rows[-1], flush=True)
    return rows


def actor_table(device: str, actor_counts: list[int], steps: int, ratio: float, batch: int) -> list[dict]:
    base = TrainConfig(env_id=MASKED_CARTPOLE_ID, device=device, updates_per_step=ratio, total_steps=steps,
                       learning_starts=min(1_000, steps // 4), eval_every=0, progress=False, torch_threads=1,
                       buffer_size=50_000, batch_size=batch)
    rows = []
    for actors, free in [(n, False) for n in actor_counts] + [(max(actor_counts), True)]:
        rows.append({"device": device, "batch": batch, "ratio": ratio, **scaling_run(base, actors, free)})
        print(rows[-1], flush=True)
    return rows


def print_tables(results: dict) -> None:
    print(f"\n# update time against batch size ({results['gpu']})")
    print(f"{'device':>8} {'batch':>6} {'ms/update':>10} {'windows/s':>11}")
    for r in sorted(results["update_times"], key=lambda r: (r["batch"], r["device"])):
        print(f"{r['device']:>8} {r['batch']:>6} {r['ms_per_update']:>10.3f} {r['windows_per_s']:>11.1f}")
    print(f"\n# actors on CPU cores, learner on {results['actor_device']}")
    print(f"{'actors':>6} {'free':>5} {'env st/s':>9} {'upd/s':>8} {'ratio':>7} {'lag mean':>8} {'lag max':>7} "
          f"{'actor idle':>10} {'learner idle':>12}")
    for r in results["actors"]:
        print(f"{r['actors']:>6} {str(r['free_running']):>5} {r['env_steps_per_s']:>9.1f} {r['updates_per_s']:>8.1f} "
              f"{r['updates_per_step_measured']:>7.3f} {r['weight_lag_mean']:>8.2f} {r['weight_lag_max']:>7d} "
              f"{r['actor_idle_frac']:>10.3f} {r['learner_idle_frac']:>12.3f}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="the learner's device (default cuda)")
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks the script, measures nothing")
    parser.add_argument("--ratio", type=float, default=0.5, help="updates per env step of the held runs")
    parser.add_argument("--steps", type=int, default=12_000, help="env steps per actor-table run")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("gpu_learner.json"))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda but torch.cuda.is_available() is False; use --device cpu to check the script")
    torch.set_num_threads(1)
    batches = [8, 16] if args.quick else [32, 64, 128, 256, 512, 1024]
    devices = [torch.device("cpu")] + ([device] if device.type != "cpu" else [])
    results = {"command": " ".join(["python", "benchmarks/gpu_learner.py", *(argv or sys.argv[1:])]),
               "torch": torch.__version__, "cpu_count": os.cpu_count(),
               "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else "none",
               "actor_device": str(device)}
    t0 = time.perf_counter()
    # written after each section: a run cut short by a time limit keeps what it measured
    counts = [0, 1] if args.quick else [0, 1, 2, 4, 8]
    results["actors"] = actor_table(args.device, counts, 600 if args.quick else args.steps, args.ratio, 32)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    results["update_times"] = update_times(devices, batches, blocks=1 if args.quick else 2,
                                           updates=2 if args.quick else 20, fill=400 if args.quick else 5_000)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print_tables(results)
    print(f"\nwrote {args.out} in {results['seconds']} s")
    return results


if __name__ == "__main__":
    main()
