"""Chapter 4's headline comparison on velocity-masked CartPole: ten seeds, like for like, sustained metrics.

The four agents of ``ch04_flicker.py``, on the task chapter 4 is about, with the same rules: every agent
gets the previous action as input and fits the same number of TD terms per update (the DRQN 32 windows x 8
trained steps, a DQN a batch of 256 one-step windows), every other setting is the package default, so what
differs is only what the Q-network can know:

* ``drqn``: the package defaults (LSTM) on ``rdqn/MaskedCartPole-v0`` (positions only);
* ``dqn_stack4``: a memoryless DQN on the last 4 masked observations stacked;
* ``dqn_memoryless``: the same DQN on the current masked observation only;
* ``oracle``: the DRQN on ``CartPole-v1``, which shows the velocities: the same learner with full
  information, the upper reference;
* ``drqn_seq2``: the sequence-length ablation without its confound: the DRQN with windows of 2 trained steps
  (after the same burn-in) and 128 of them per update, so that it fits the same 256 TD terms per update as the
  defaults' 32 windows of 8; what changes is only how far back the gradient reaches within a window.

Each agent trains for ``BUDGET`` env steps without early stopping, with a greedy evaluation (20 episodes,
each from a fresh memory) every 2,500 steps. Reported per run: the first evaluation >= 475 (first solve),
the share of evaluations after it that are >= 475 (does it *stay* solved?) and the final greedy mean of the
live learner over 100 fresh episodes (not a best checkpoint). The page reports means over seeds with
percentile-bootstrap intervals (``scipy.stats.bootstrap``) and every seed's value.

Usage (from the repository root; about an hour on two cores)::

    OMP_NUM_THREADS=1 .venv/bin/python book/scripts/ch04_masked.py --jobs 2
    .venv/bin/python book/scripts/ch04_masked.py --quick --out /tmp/masked.json   # CI: tiny budget

Chapter 4 loads the result file (``book/data/ch04_masked.json``) and plots it.
"""
from __future__ import annotations

import dataclasses
import pathlib
import sys
import time
from typing import Any

import numpy as np

from rdqn_core import MASKED_CARTPOLE_ID, STACKED_MASKED_CARTPOLE_ID, TrainConfig, evaluate

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # the scripts' shared helpers
from _runs import bootstrap_ci, comparison_main, memoryless_dqn, train_and_score  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "book" / "data" / "ch04_masked.json"
BUDGET = 30_000
FINAL_EPISODES = 100
SEEDS = tuple(range(10))
SOLVE = 475.0
METHODS = ("drqn", "dqn_stack4", "dqn_memoryless", "oracle", "drqn_seq2")
LABELS = {"drqn": "DRQN (LSTM)", "dqn_stack4": "DQN, last 4 observations", "dqn_memoryless": "DQN, memoryless",
          "oracle": "DRQN, full observation", "drqn_seq2": "DRQN, windows of 2 (x128)"}


def configs(budget: int = BUDGET) -> dict[str, TrainConfig]:
    """The agents (seed 0; the script sets the seed of each run)."""
    drqn = TrainConfig(env_id=MASKED_CARTPOLE_ID, total_steps=budget, eval_every=2_500, eval_episodes=20,
                       torch_threads=1, progress=False, device="cpu")
    dqn = memoryless_dqn(drqn)
    return {
        "drqn": drqn,
        "dqn_stack4": dataclasses.replace(drqn, env_id=STACKED_MASKED_CARTPOLE_ID, **dqn),
        "dqn_memoryless": dataclasses.replace(drqn, **dqn),
        "oracle": dataclasses.replace(drqn, env_id="CartPole-v1"),
        "drqn_seq2": dataclasses.replace(drqn, seq_len=2, batch_size=drqn.batch_size * drqn.seq_len // 2),
    }


def run_one(job: tuple[str, TrainConfig, int]) -> dict:
    method, cfg, final_episodes = job

    def final(agent) -> float:
        return round(float(evaluate(agent, cfg.env_id, final_episodes, seed=700_000 + 1_000 * cfg.seed).mean()), 1)

    record, seconds = train_and_score(method, cfg, SOLVE, final)
    print(f"{method:15s} seed {cfg.seed}: first solve {record['steps_to_solve']}, final {record['final']:6.1f} "
          f"({seconds:4.0f} s)", flush=True)
    return record


# ------------------------------------------------------------------ reading the file (the page uses these)
def summarize(data: dict) -> dict[str, dict]:
    """Per method: per-seed finals, their mean and bootstrap interval, first solves, shares after solving."""
    out = {}
    for method in METHODS:
        runs = sorted((r for r in data["runs"] if r["method"] == method), key=lambda r: r["seed"])
        finals = np.array([r["final"] for r in runs])
        shares = [r["share_after_solve"] for r in runs if r["share_after_solve"] is not None]
        out[method] = dict(label=data["labels"][method], seeds=len(runs), finals=finals, mean=float(finals.mean()),
                           ci=bootstrap_ci(finals), final_solved=int((finals >= data["solve"]).sum()),
                           steps_to_solve=[r["steps_to_solve"] for r in runs],
                           solved=sum(r["steps_to_solve"] is not None for r in runs),
                           share_after=float(np.mean(shares)) if shares else float("nan"),
                           curves=(np.array(runs[0]["eval_steps"]), np.array([r["eval_means"] for r in runs])))
    return out


def plot_masked(data: dict, axes: Any, methods: tuple[str, ...] = METHODS[:4]) -> None:
    """Left: greedy evaluations during training (mean over seeds, thin lines per seed). Right: every seed's
    final greedy return of the live learner, with the mean and its bootstrap interval."""
    summary = {m: s for m, s in summarize(data).items() if m in methods}
    for k, (method, s) in enumerate(summary.items()):
        color = f"C{k}"
        steps, curves = s["curves"]
        for curve in curves:
            axes[0].plot(steps, curve, color=color, lw=0.5, alpha=0.3)
        axes[0].plot(steps, curves.mean(0), color=color, lw=2, label=s["label"])
        jitter = np.linspace(-0.15, 0.15, len(s["finals"]))
        axes[1].scatter(k + jitter, s["finals"], color=color, s=10, alpha=0.7)
        low, high = s["ci"]
        axes[1].errorbar(k + 0.3, s["mean"], yerr=[[s["mean"] - low], [high - s["mean"]]], color=color, marker="D",
                         ms=5, capsize=3)
    axes[0].axhline(data["solve"], color="0.6", lw=0.8, ls=":")
    axes[0].set(xlabel="environment steps", ylabel="greedy return", ylim=(0, 520), title="during training")
    axes[0].legend(fontsize=7, loc="center right")  # between the curves that rise and the one that stays low
    axes[1].axhline(data["solve"], color="0.6", lw=0.8, ls=":")
    axes[1].set(xticks=range(len(summary)), ylabel="final greedy return (100 episodes)", ylim=(0, 520),
                title=f"at {data['budget']:,} steps")
    axes[1].set_xticklabels([s["label"].replace(", ", ",\n") for s in summary.values()], fontsize=7)


def main(argv: list[str] | None = None) -> None:
    start = time.perf_counter()
    data, out = comparison_main(argv, __doc__, OUT, len(SEEDS), BUDGET, FINAL_EPISODES, configs, run_one,
                                solve=SOLVE, labels=LABELS)
    for method, s in summarize(data).items():
        print(f"{s['label']:28s} finals {s['finals'].tolist()}  mean {s['mean']:.1f} "
              f"[{s['ci'][0]:.1f}, {s['ci'][1]:.1f}]  solved {s['solved']}/{s['seeds']}")
    print(f"wrote {out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
