"""Chapter 8's memory variant: Minesweeper through a keyhole, three agents that differ only in what they remember.

``rdqn/MinesweeperMemory-v0`` on a 4x4 board with 2 mines (safe first click) shows only the count under the cell just
opened (no flood reveal); which cell that was is the agent's own previous action. Rewards: ``+1/L`` per safe cell
opened (``L`` = 14 safe cells), ``-0.5 - 1/L`` for a mine (the game ends), ``-1/L`` for clicking an opened cell, so a
game won without a wasted click returns exactly 1.0. Three agents, every setting the package default except the
budget, all with the previous action as input and the same number of TD terms per update (the DRQN 32 windows x 8
trained steps, a DQN a batch of 256 one-step windows, as in ``ch04_masked.py``):

* ``drqn``: the LSTM DRQN (``TrainConfig`` defaults): it can remember every click and count;
* ``dqn_stack4``: a memoryless DQN on the last 4 (click, count) pairs
  (``rdqn_core.envs.stacking:minesweeper_memory_stacked``): a fixed window of four clicks;
* ``dqn_memoryless``: the same DQN on the current count and the previous click only.

Each trains ``BUDGET`` env steps per seed (seeds 0, 1, 2; learning from 1,000 steps, epsilon over the first half, the
learning rate annealed over the whole run, 0.25 updates per env step), with a greedy evaluation of 100 episodes every
tenth of the budget. The final live learner (not a best checkpoint) plays ``EVAL_EPISODES`` greedy games on fixed
evaluation seeds (episode ``i`` of every run on seed ``EVAL_SEED + i``). Reported per run: mean return with a 95%
percentile-bootstrap interval over its episodes (``scipy.stats.bootstrap``), the share of games won and the clicks per
game; per agent the median and mean over seeds. Beside them, on the same seeds and scale, ``REFERENCE_GAMES`` games of
three reference players from :mod:`rdqn_core.instruments.minesweeper`: a uniform random clicker (remembers nothing), a
random clicker that never repeats a cell (remembers where it clicked, not what it saw) and the greedy exact-probability
solver with perfect memory (it rebuilds the board from its clicks and their counts).

Usage (from the repository root; 32 minutes with ``--jobs 1`` on two cores that another two-process experiment
was using, about 4.5 minutes per DRQN run, 3.5 per stacked and 2.5 per memoryless DQN)::

    OMP_NUM_THREADS=1 .venv/bin/python book/scripts/ch08_memory.py --jobs 1
    .venv/bin/python book/scripts/ch08_memory.py --quick --out /tmp/memory.json   # CI: tiny budget

Chapter 8 loads the result file (``book/data/ch08_memory.json``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

import numpy as np
import torch

from rdqn_core import MINESWEEPER_MEMORY_ID, Rollout, TrainConfig, make_vector_env, train
from rdqn_core.instruments.minesweeper import MEMORY_PLAYERS, play_memory_env

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # the scripts' shared helpers
from _runs import bootstrap_ci, machine, run_jobs  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "book" / "data" / "ch08_memory.json"
BOARD = {"rows": 4, "cols": 4, "mines": 2}
BUDGET = 150_000
SEEDS = (0, 1, 2)
STACK = 4
EVAL_EPISODES = 500
EVAL_SEED = 900_000
REFERENCE_GAMES = 2_000
STACKED_ENV = "rdqn_core.envs.stacking:minesweeper_memory_stacked"
METHODS = ("drqn", "dqn_stack4", "dqn_memoryless")
LABELS = {"drqn": "DRQN (LSTM)", "dqn_stack4": f"DQN, last {STACK} clicks", "dqn_memoryless": "DQN, memoryless"}


def configs(budget: int = BUDGET) -> dict[str, TrainConfig]:
    """The three agents (seed 0; the script sets the seed of each run)."""
    drqn = TrainConfig(env_id=MINESWEEPER_MEMORY_ID, env_kwargs=dict(BOARD), total_steps=budget,
                       learning_starts=1_000, eps_decay_steps=budget // 2, updates_per_step=0.25,
                       lr_decay_steps=budget, eval_every=budget // 10, eval_episodes=100, torch_threads=1,
                       progress=False, device="cpu")
    # a DQN update fits batch_size one-step windows; the DRQN's fits batch_size * seq_len trained steps
    dqn = dict(cell="mlp", seq_len=1, burn_in=0, initial_state="zero", prev_action_input=True,
               batch_size=drqn.batch_size * drqn.seq_len)
    return {
        "drqn": drqn,
        "dqn_stack4": dataclasses.replace(drqn, env_id=STACKED_ENV, env_kwargs={**BOARD, "k": STACK}, **dqn),
        "dqn_memoryless": dataclasses.replace(drqn, **dqn),
    }


def greedy_games(network: torch.nn.Module, cfg: TrainConfig, episodes: int, seed: int) -> dict[str, np.ndarray]:
    """``episodes`` greedy games side by side, each from a fresh memory, env ``i`` on seed ``seed + i``: their
    returns, whether each was won (it terminated on a safe click: the last safe cell) and their clicks.

    :func:`rdqn_core.evaluate` with wins: the same acting loop (:class:`rdqn_core.Rollout`), read step by step."""
    envs = make_vector_env(cfg.env_id, episodes, env_kwargs=cfg.env_kwargs)
    try:
        rollout = Rollout(envs, network, seed=[seed + i for i in range(episodes)])
        returns, wins = np.zeros(episodes), np.zeros(episodes, bool)
        clicks, running = np.zeros(episodes, np.int64), np.ones(episodes, bool)
        rng = np.random.default_rng(0)  # unused at epsilon 0
        while running.any():  # every game ends: a mine, a win, or the env's own limit of 4 L clicks
            step = rollout.step(0.0, rng)
            for env, episode_return, length in step.finished:
                if running[env]:
                    won = bool(step.terminated[env] and step.rewards[env] > 0)
                    returns[env], wins[env], clicks[env], running[env] = episode_return, won, length, False
        return {"returns": returns, "wins": wins, "clicks": clicks}
    finally:
        envs.close()


def describe(returns: np.ndarray, wins: np.ndarray, clicks: np.ndarray) -> dict:
    """Mean return with its bootstrap interval over episodes, share won, mean clicks (rounded for the file)."""
    low, high = bootstrap_ci(returns)
    return {"mean_return": round(float(returns.mean()), 4), "ci": [round(low, 4), round(high, 4)],
            "win_share": round(float(wins.mean()), 4), "mean_clicks": round(float(clicks.mean()), 2),
            "episodes": int(len(returns))}


def run_one(job: tuple[str, TrainConfig, int]) -> dict:
    method, cfg, episodes = job
    torch.set_num_threads(1)
    start = time.perf_counter()
    result = train(cfg)
    games = greedy_games(result.agent.greedy_network.eval(), cfg, episodes, EVAL_SEED)
    s, h = result.summary, result.history
    record = {"method": method, "seed": cfg.seed, **describe(games["returns"], games["wins"], games["clicks"]),
              "eval_steps": list(h.get("eval/step", [])),
              "eval_means": [round(float(x), 4) for x in h.get("eval/mean_return", [])],
              "env_steps": s["env_steps"], "updates": s["updates"],
              "train_seconds": round(s["wall_seconds"] - s["eval_seconds"], 1),
              "td_terms_per_update": cfg.batch_size * cfg.seq_len, "config": dataclasses.asdict(cfg)}
    print(f"{method:15s} seed {cfg.seed}: mean return {record['mean_return']:+.3f} "
          f"[{record['ci'][0]:+.3f}, {record['ci'][1]:+.3f}], won {record['win_share']:.1%} "
          f"({time.perf_counter() - start:4.0f} s)", flush=True)
    return record


def references(games: int) -> dict[str, dict]:
    """The reference players on the evaluation seeds, ``games`` games each."""
    out = {}
    for name in MEMORY_PLAYERS:
        played = play_memory_env(name, games, seed=EVAL_SEED, **BOARD)
        out[name] = describe(played["returns"], played["wins"], played["lengths"])
    return out


# ------------------------------------------------------------------ reading the file (the page uses this)
def summarize(data: dict) -> dict[str, dict]:
    """Per method: per-seed mean returns (with their intervals over episodes), win shares and clicks; the median
    and mean over seeds with a bootstrap interval over seeds (with three seeds it shows the spread, it is not a
    test); the evaluation curves during training."""
    out = {}
    for method in METHODS:
        runs = sorted((r for r in data["runs"] if r["method"] == method), key=lambda r: r["seed"])
        means = np.array([r["mean_return"] for r in runs])
        out[method] = dict(label=data["labels"][method], seeds=[r["seed"] for r in runs], means=means,
                           cis=np.array([r["ci"] for r in runs]), wins=np.array([r["win_share"] for r in runs]),
                           clicks=np.array([r["mean_clicks"] for r in runs]), median=float(np.median(means)),
                           mean=float(means.mean()), seed_ci=bootstrap_ci(means),
                           curves=(np.array(runs[0]["eval_steps"]), np.array([r["eval_means"] for r in runs])))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--budget", type=int, default=BUDGET, help="env steps per run")
    parser.add_argument("--quick", action="store_true", help="tiny budget and networks, one seed (CI)")
    args = parser.parse_args(argv)
    seeds = [0] if args.quick else list(SEEDS)
    budget = 1_500 if args.quick else args.budget
    episodes = 20 if args.quick else EVAL_EPISODES
    reference_games = 50 if args.quick else REFERENCE_GAMES
    jobs = []
    for method, cfg in configs(budget).items():
        if args.quick:
            cfg = dataclasses.replace(cfg, eval_episodes=5, learning_starts=200, hidden_size=16, encoder_sizes=(16,))
        jobs += [(method, dataclasses.replace(cfg, seed=seed), episodes) for seed in seeds]
    jobs.sort(key=lambda job: job[1].cell == "mlp")  # the slow recurrent runs first
    start = time.perf_counter()
    records = run_jobs(run_one, jobs, args.jobs)
    data = {"runs": records, "references": references(reference_games), "quick": args.quick, "seeds": seeds,
            "budget": budget, "board": BOARD, "stack": STACK, "eval_episodes": episodes, "eval_seed": EVAL_SEED,
            "reference_games": reference_games, "labels": LABELS,
            "reward_scale": {"safe_cell": "+1/L", "mine": "-0.5 - 1/L", "wasted_click": "-1/L",
                             "L": BOARD["rows"] * BOARD["cols"] - BOARD["mines"], "best_return": 1.0},
            "machine": machine(args.jobs), "command": " ".join(["python", *sys.argv]),
            "wall_seconds": round(time.perf_counter() - start, 1), "created": time.strftime("%Y-%m-%d")}
    print(f"\n{'agent':22s} {'per-seed mean return':32s} {'median':>7s} {'won (mean)':>10s}")
    for s in summarize(data).values():
        per_seed = ", ".join(f"{m:+.3f}" for m in s["means"])
        print(f"{s['label']:22s} {per_seed:32s} {s['median']:+7.3f} {s['wins'].mean():10.1%}")
    for name, r in data["references"].items():
        print(f"{name:22s} {'(' + str(r['episodes']) + ' games)':32s} {r['mean_return']:+7.3f} "
              f"{r['win_share']:10.1%}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1))
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
