"""Why does a DRQN lose CartPole after it has solved it, and why do some seeds never solve it? Measured.

Chapter 4's section "Why DQN forgets on CartPole" reads the file this script writes
(``book/data/ch04_diagnosis.json``). For each configuration and seed it trains on masked CartPole
for a fixed budget without early stopping and, every ``--every`` env steps, stops, plays
``--episodes`` greedy episodes with the live learner (each from a fresh memory, the same episode
seeds every time) and records:

* the return, and **how each episode ended**: the pole fell (|theta| > 12 degrees), the cart left
  the track (|x| > 2.4) or the time limit (500 steps);
* the **Q scale** (mean of max_a Q over the visited states) and the **action gap** (mean of
  |Q(o, left) - Q(o, right)|): with truncation bootstrapping Q approaches 1 / (1 - gamma) = 100
  everywhere, while the choice rests on the small gap;
* the TD loss and the gradient norm averaged over the updates since the last measurement.

The run is stopped and resumed from its ``resume.pt`` (bit-exact on a CPU), so what is measured is
exactly the run that trains on. Usage (from the repository root; one torch thread per run)::

    python book/scripts/ch04_diagnosis.py --seeds 0,3,7 --jobs 2
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "data" / "ch04_diagnosis.json"
# "before": the 0.1 defaults (Polyak averaging after every update, constant learning rate); "now": TrainConfig()
VARIANTS = {"before": dict(target_tau=0.01, target_update_period=1, lr_end=None), "now": {}}
X_LIMIT, THETA_LIMIT = 2.4, 12 * 2 * np.pi / 360  # CartPole-v1's termination bounds


def end_reason(trace: dict) -> str:
    """'time' (truncated at 500), 'cart' (left the track) or 'pole' (fell), from the last simulator state."""
    if not trace["terminated"]:
        return "time"
    x, _, theta, _ = trace["final_env_state"]
    return "cart" if abs(x) > X_LIMIT else "pole"


def measure(network, env_id: str, episodes: int, seed: int) -> dict:
    """Greedy episodes of ``network``: returns, how they ended, Q scale and action gap."""
    from rdqn_core import make_env, trace_episode

    returns, reasons, q_max, gaps = [], [], [], []
    for i in range(episodes):
        env = make_env(env_id)
        trace = trace_episode(network, env, seed=seed + i)
        trace["final_env_state"] = np.array(env.unwrapped.state, dtype=np.float64)  # after the last step
        env.close()
        returns.append(trace["return"])
        reasons.append(end_reason(trace))
        q = trace["q"]
        q_max.append(float(q.max(axis=1).mean()))
        gaps.append(float(np.abs(q[:, 0] - q[:, 1]).mean()))
    return dict(mean_return=float(np.mean(returns)), ends={r: reasons.count(r) for r in ("pole", "cart", "time")},
                q_max=float(np.mean(q_max)), action_gap=float(np.mean(gaps)))


def run_one(args: tuple[str, dict, int, int, int, int]) -> dict:
    name, overrides, seed, total, every, episodes = args
    import torch

    torch.set_num_threads(1)
    from rdqn_core import TrainConfig, train

    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for k, steps in enumerate(range(every, total + 1, every)):
            cfg = TrainConfig(**{**dict(progress=False, torch_threads=1, eval_every=0), **overrides,
                                 "seed": seed, "total_steps": steps})
            result = train(cfg, out_dir=out, resume=k > 0)
            h = result.history
            start = rows[-1]["updates"] if rows else 0
            row = dict(step=steps, updates=result.agent.updates,
                       td_loss=float(np.mean(h["losses/td_loss"][start:])) if h.get("losses/td_loss") else None,
                       grad_norm=float(np.mean(h["losses/grad_norm"][start:])) if h.get("losses/grad_norm") else None)
            row.update(measure(result.agent.greedy_network, cfg.env_id, episodes, seed=900_000 + 1_000 * seed))
            rows.append(row)
    print(f"[{name} seed {seed}] returns {[round(r['mean_return']) for r in rows]} "
          f"cart exits {[r['ends']['cart'] for r in rows]} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return dict(variant=name, seed=seed, overrides=overrides, rows=rows)


def plot_diagnosis(results: dict, axes) -> None:
    """Three panels, one line per run: greedy return, share of episodes that end with the cart off the
    track, and the action gap relative to the Q scale."""
    colors = {"before": "C3", "now": "C0"}
    for run in results["runs"]:
        steps = [r["step"] for r in run["rows"]]
        n = sum(run["rows"][0]["ends"].values())
        style = dict(color=colors.get(run["variant"], "C2"), alpha=0.8, lw=1.2)
        axes[0].plot(steps, [r["mean_return"] for r in run["rows"]], **style)
        axes[1].plot(steps, [r["ends"]["cart"] / n for r in run["rows"]], **style)
        axes[2].plot(steps, [r["action_gap"] / max(r["q_max"], 1e-6) for r in run["rows"]], **style)
    episodes = results["meta"]["episodes"]
    for ax, title in zip(axes, (f"greedy return ({episodes} episodes)", "episodes ended by the cart leaving the track",
                                "action gap / Q scale")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("environment steps")
        ticks = np.linspace(0, results["meta"]["total"], 3)
        ax.set_xticks(ticks, [f"{t / 1000:.0f}k" for t in ticks])
    axes[0].axhline(475, color="k", ls=":", lw=1)
    axes[2].set_yscale("log")
    for name, color in colors.items():
        axes[0].plot([], [], color=color, label=name)
    axes[0].legend(fontsize=8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,3,7")
    parser.add_argument("--total", type=int, default=50_000)
    parser.add_argument("--every", type=int, default=5_000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(name, overrides, seed, args.total, args.every, args.episodes)
            for seed in seeds for name, overrides in VARIANTS.items()]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        runs = list(pool.map(run_one, jobs))
    import torch

    meta = dict(seeds=seeds, total=args.total, every=args.every, episodes=args.episodes, variants=VARIANTS,
                machine=f"{platform.machine()}, {platform.processor() or 'cpu'}", torch=torch.__version__,
                wall_seconds=round(time.perf_counter() - t0, 1))
    Path(args.out).write_text(json.dumps(dict(meta=meta, runs=runs), indent=1))
    print(f"wrote {args.out} ({meta['wall_seconds']} s)")


if __name__ == "__main__":
    main()
