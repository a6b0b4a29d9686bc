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

import dataclasses
import pathlib
import sys
import time
from typing import Any

import numpy as np

from rdqn_core import FLICKER_CARTPOLE_ID, TrainConfig, evaluate

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # the scripts' shared helpers
from _runs import bootstrap_ci, comparison_main, memoryless_dqn, train_and_score  # noqa: E402

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
    dqn = memoryless_dqn(base)
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

    def final(agent) -> dict[str, float]:
        """The live learner's mean return at every test flicker probability."""
        means = {}
        for p in TEST_PS:
            env_id, kwargs = test_env(method, p)
            returns = evaluate(agent, env_id, final_episodes, seed=700_000 + 1_000 * cfg.seed, env_kwargs=kwargs)
            means[str(p)] = round(float(returns.mean()), 1)
        return means

    record, seconds = train_and_score(method, cfg, SOLVE, final)
    print(f"{method:15s} seed {cfg.seed}: final@p={TRAIN_P} {record['final'][str(TRAIN_P)]:6.1f}  all "
          f"{record['final']}  ({seconds:4.0f} s)", flush=True)
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
    start = time.perf_counter()
    data, out = comparison_main(argv, __doc__, OUT, len(SEEDS), BUDGET, FINAL_EPISODES, configs, run_one,
                                train_p=TRAIN_P, test_ps=list(TEST_PS), solve=SOLVE, labels=LABELS)
    for method in METHODS:
        finals = [r["final"][str(TRAIN_P)] for r in data["runs"] if r["method"] == method]
        print(f"{LABELS[method]:30s} final@p={TRAIN_P}: {finals}")
    print(f"wrote {out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
