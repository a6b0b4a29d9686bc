"""Chapter 4, the task where a learned memory must beat a frame stack: flickering CartPole, like for like.

On velocity-masked CartPole two frames carry the velocity, so a frame stack can tie a DRQN there. On
``rdqn/FlickerCartPole-v0`` the whole observation (velocities included) is blanked with probability ``p`` at
every step, so how far back the last real frame lies is unbounded: a stack of four frames holds no real frame
at all in p**4 of the steps (6% at p = 0.5), a memory can keep the last one for as long as it needs.

Every agent here gets the same inputs and fits the same number of TD terms per update, so what differs is only
what the Q-network can keep:

* ``drqn``: the package defaults (LSTM, previous action as input, 32 windows x 8 trained steps per update);
* ``dqn_stack4``: a memoryless DQN on the last 4 observations stacked, previous action as input, batch 256
  (256 TD terms per update, as the DRQN), every other setting the same defaults;
* ``dqn_memoryless``: the same DQN on the current observation only;
* ``oracle``: the DRQN trained on the unflickered task (p = 0): the same learner with full information, the
  upper reference.

Each agent trains for ``BUDGET`` env steps at flicker probability ``TRAIN_P`` (the oracle at 0), without early
stopping, with greedy evaluations along the way; at the end the live learner (not a best checkpoint) plays
``FINAL_EPISODES`` greedy episodes at each test flicker probability in ``TEST_PS`` (Hausknecht & Stone 2015: does
a policy trained under one observability degrade gracefully under another?).

Usage (from the repository root; 22 minutes on two cores)::

    OMP_NUM_THREADS=1 .venv/bin/python book/scripts/ch04_flicker.py --jobs 2
    .venv/bin/python book/scripts/ch04_flicker.py --quick --out /tmp/flicker.json   # CI: tiny budget

Chapter 4 loads the result file (``book/data/ch04_flicker.json``) and plots it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time
from typing import Any

import numpy as np
import torch

from rdqn_core import FLICKER_CARTPOLE_ID, TrainConfig, evaluate, train

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # the scripts' shared helpers
from _runs import bootstrap_ci, machine, run_jobs, solve_record  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "book" / "data" / "ch04_flicker.json"
STACK = "rdqn_core.envs.stacking:flicker_cartpole_stacked"
BUDGET = 50_000
TRAIN_P = 0.5
TEST_PS = (0.0, 0.25, 0.5, 0.75)
FINAL_EPISODES = 100
SEEDS = (0, 1, 2)
SOLVE = 475.0
METHODS = ("drqn", "dqn_stack4", "dqn_memoryless", "oracle")
LABELS = {"drqn": "DRQN (LSTM)", "dqn_stack4": "DQN, last 4 observations", "dqn_memoryless": "DQN, memoryless",
          "oracle": "DRQN trained without flicker"}


def configs(budget: int = BUDGET) -> dict[str, TrainConfig]:
    """The four agents; ``env_kwargs`` hold the training flicker probability."""
    base = TrainConfig(total_steps=budget, eval_every=5_000, eval_episodes=20, torch_threads=1, progress=False,
                       device="cpu")
    drqn = dataclasses.replace(base, env_id=FLICKER_CARTPOLE_ID, env_kwargs={"p": TRAIN_P})
    # a DQN update fits batch_size one-step windows; the DRQN's fits batch_size * seq_len trained steps
    dqn = dict(cell="mlp", seq_len=1, burn_in=0, initial_state="zero", prev_action_input=True,
               batch_size=base.batch_size * base.seq_len)
    return {
        "drqn": drqn,
        "dqn_stack4": dataclasses.replace(base, env_id=STACK, env_kwargs={"k": 4, "p": TRAIN_P}, **dqn),
        "dqn_memoryless": dataclasses.replace(drqn, **dqn),
        "oracle": dataclasses.replace(drqn, env_kwargs={"p": 0.0}),
    }


def test_env(method: str, p: float) -> tuple[str, dict]:
    """The env (id, kwargs) on which ``method`` is tested at flicker probability ``p``."""
    return (STACK, {"k": 4, "p": p}) if method == "dqn_stack4" else (FLICKER_CARTPOLE_ID, {"p": p})


def run_one(job: tuple[str, TrainConfig, int]) -> dict:
    method, cfg, final_episodes = job
    torch.set_num_threads(1)
    start = time.perf_counter()
    result = train(cfg)
    final = {}
    for p in TEST_PS:
        env_id, kwargs = test_env(method, p)
        returns = evaluate(result.agent, env_id, final_episodes, seed=700_000 + 1_000 * cfg.seed, env_kwargs=kwargs)
        final[str(p)] = round(float(returns.mean()), 1)
    s = result.summary
    record = {"method": method, "seed": cfg.seed, **solve_record(result.history, SOLVE),
              "final": final, "env_steps": s["env_steps"], "updates": s["updates"],
              "train_seconds": round(s["wall_seconds"] - s["eval_seconds"], 1),
              "td_terms_per_update": cfg.batch_size * cfg.seq_len, "config": dataclasses.asdict(cfg)}
    print(f"{method:15s} seed {cfg.seed}: final@p={TRAIN_P} {final[str(TRAIN_P)]:6.1f}  all {final}  "
          f"({time.perf_counter() - start:4.0f} s)", flush=True)
    return record


# ------------------------------------------------------------------ reading the file (the page uses these)
def summarize(data: dict) -> dict[str, dict]:
    """Per method: final returns per seed at every test probability, their mean and interval, when it solved."""
    out = {}
    for method in METHODS:
        runs = sorted((r for r in data["runs"] if r["method"] == method), key=lambda r: r["seed"])
        by_p = {float(p): np.array([r["final"][str(p)] for r in runs]) for p in data["test_ps"]}
        train = by_p[float(data["train_p"])]
        out[method] = dict(label=data["labels"][method], seeds=len(runs), finals=train, by_p=by_p,
                           mean=float(train.mean()), ci=bootstrap_ci(train),
                           solved_final=int((train >= data["solve"]).sum()),
                           steps_to_solve=[r["steps_to_solve"] for r in runs],
                           share_after=[r["share_after_solve"] for r in runs],
                           curves=(np.array(runs[0]["eval_steps"]), np.array([r["eval_means"] for r in runs])))
    return out


def plot_flicker(data: dict, axes: Any) -> None:
    """Left: greedy evaluations during training (mean over seeds, thin lines per seed). Right: the final
    return of the live learner at each test flicker probability (mean over seeds; bars: lowest to highest)."""
    summary = summarize(data)
    for k, (method, s) in enumerate(summary.items()):
        color = f"C{k}"
        steps, curves = s["curves"]
        for curve in curves:
            axes[0].plot(steps, curve, color=color, lw=0.6, alpha=0.35)
        axes[0].plot(steps, curves.mean(0), color=color, lw=2, label=s["label"])
        ps = np.array(sorted(s["by_p"]))
        values = np.array([s["by_p"][p] for p in ps])
        mean = values.mean(1)
        axes[1].errorbar(ps + (k - 1.5) * 0.012, mean, yerr=[mean - values.min(1), values.max(1) - mean],
                         color=color, marker="o", ms=4, capsize=2, lw=1.2)
    axes[0].set(xlabel="environment steps", ylabel="greedy return", ylim=(0, 520),
                title=f"training at flicker p = {data['train_p']} (reference: 0)")
    axes[1].axvline(data["train_p"], color="0.6", lw=0.8, ls=":")
    axes[1].set(xlabel="test flicker probability p", ylabel="final greedy return", ylim=(0, 520),
                xticks=data["test_ps"], title="after training")
    axes[0].legend(fontsize=7, loc="upper left")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=len(SEEDS))
    parser.add_argument("--quick", action="store_true", help="tiny budget and networks, one seed (CI)")
    args = parser.parse_args(argv)
    seeds = [0] if args.quick else list(range(args.seeds))
    budget = 600 if args.quick else BUDGET
    jobs = []
    for method, cfg in configs(budget).items():
        if args.quick:
            cfg = dataclasses.replace(cfg, eval_every=300, eval_episodes=2, learning_starts=200, hidden_size=16,
                                      encoder_sizes=(16,))
        jobs += [(method, dataclasses.replace(cfg, seed=seed), 5 if args.quick else FINAL_EPISODES) for seed in seeds]
    # the slow recurrent runs first, so that the two workers finish together
    jobs.sort(key=lambda job: job[1].cell == "mlp")
    start = time.perf_counter()
    records = run_jobs(run_one, jobs, args.jobs)
    data = {"runs": records, "quick": args.quick, "seeds": seeds, "budget": budget, "train_p": TRAIN_P,
            "test_ps": list(TEST_PS), "final_episodes": 5 if args.quick else FINAL_EPISODES, "solve": SOLVE,
            "labels": LABELS, "machine": machine(args.jobs),
            "command": " ".join(["python", *sys.argv]), "wall_seconds": round(time.perf_counter() - start, 1),
            "created": time.strftime("%Y-%m-%d")}
    for method in METHODS:
        finals = [r["final"][str(TRAIN_P)] for r in records if r["method"] == method]
        print(f"{LABELS[method]:30s} final@p={TRAIN_P}: {finals}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1))
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
