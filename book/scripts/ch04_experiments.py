"""Chapter 4's multi-seed experiments: DRQN against three DQNs, the recurrent-replay ablation, staleness.

These runs take tens of minutes on a laptop CPU, too long for a page that executes at every
build, so this script runs them once and writes a small JSON file that the chapter
(``book/04_drqn.ipynb``) loads and plots. The same module also *reads* the file
(:func:`load_results`, the ``summarize``/``plot_*`` helpers): one place defines the format.

Usage (from the repository root)::

    python book/scripts/ch04_experiments.py                      # the full run behind the chapter
    python book/scripts/ch04_experiments.py --quick --out /tmp/ch04.json   # a 1-minute smoke run (CI)

What it runs, every run with ``TrainConfig()`` defaults plus the overrides listed in the file:

* ``comparison``: on velocity-masked CartPole, a DRQN (the defaults), a memoryless DQN
  (``TrainConfig.memoryless``), a DQN on the last 4 observations stacked
  (``rdqn_core.STACKED_MASKED_CARTPOLE``), and a DQN on the full observation (``CartPole-v1``).
* ``ablation``: DRQNs that differ in one replay choice: zero or stored initial state, with or
  without burn-in, and a shorter trained sequence. These runs stop at their first
  greedy evaluation >= 475 (what is compared is when they solve).
* ``staleness``: for each DRQN of the comparison, after training: fill a replay with its own
  experience (so the stored states are exact), keep training it on that replay, and measure
  after 0, 100, 300 and 1000 updates how far the stored states and the Q-values computed from
  them are from what the current weights compute (``rdqn_core.hidden_state_staleness``).

Each run uses one torch thread; ``--jobs`` runs that many in parallel (default 2).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 1
SOLVE_THRESHOLD = 475.0
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "data" / "ch04_results.json"
STALENESS_UPDATES = (0, 100, 300, 1000)
STALENESS_BURN_INS = (0, 2, 4, 8)

# The keys every file has (checked by load_results and by tests/test_ch04_script.py).
RUN_KEYS = ("seed", "eval_steps", "eval_returns", "eval_std", "solved", "steps_to_solve", "best_eval_return",
            "final_eval_return", "env_steps", "wall_seconds")
VARIANT_KEYS = ("label", "overrides", "config", "runs")
STALENESS_ROW_KEYS = ("initial_state", "burn_in", "delta_q_first", "delta_q_mean", "state_gap_first",
                      "delta_q_by_step")


# ----------------------------------------------------------------------------------------- what to run
def _budget(quick: bool, budget: int | None) -> dict[str, Any]:
    """Overrides shared by every run: the budget, evaluation schedule, and (quick) a tiny network."""
    if quick:
        return dict(total_steps=budget or 400, learning_starts=200, eval_every=200, eval_episodes=2, batch_size=8,
                    hidden_size=16, encoder_sizes=(16,), buffer_size=4000, progress=False, torch_threads=1)
    return dict(total_steps=budget or 25_000, eval_every=1_000, eval_episodes=10, progress=False, torch_threads=1)


def variants(quick: bool = False, budget: int | None = None
             ) -> tuple[dict[str, tuple[str, dict]], dict[str, tuple[str, dict]]]:
    """``(comparison, ablation)``: name -> (label, overrides of ``TrainConfig()`` defaults), seeds excluded.

    Comparison runs use the whole budget (their curves are plotted); ablation runs stop at their
    first evaluation >= 475 (what is compared is when they solve). Overrides are stored in the
    result file with the full config of each run.
    """
    from rdqn_core import MASKED_CARTPOLE_ID, STACKED_MASKED_CARTPOLE, TrainConfig

    common = _budget(quick, budget)
    memoryless = dict(cell="mlp", seq_len=1, burn_in=0, initial_state="zero", prev_action_input=False)
    comparison = {
        "drqn": ("DRQN (LSTM), masked", dict(env_id=MASKED_CARTPOLE_ID, **common)),
        "dqn_memoryless": ("DQN, masked", dict(env_id=MASKED_CARTPOLE_ID, **memoryless, **common)),
        "dqn_frame_stack": ("DQN, masked, 4 frames stacked", dict(env_id=STACKED_MASKED_CARTPOLE, **memoryless, **common)),
        "dqn_full_obs": ("DQN, full observation", dict(env_id="CartPole-v1", **memoryless, **common)),
    }
    defaults = TrainConfig()
    common = dict(common, solve_threshold=SOLVE_THRESHOLD)
    burn = defaults.burn_in or 4  # "with burn-in" means the default, or 4 if the default has none
    seq = defaults.seq_len
    short = max(1, seq // 4)  # (a longer sequence was left out to keep the script under an hour on 2 cores)
    ablation = {}
    for initial in ("stored", "zero"):
        for burn_in in (burn, 0):
            name = f"{initial}_burn{burn_in}_seq{seq}"
            label = f"{initial} state, burn-in {burn_in}, seq {seq}"
            ablation[name] = (label, dict(env_id=MASKED_CARTPOLE_ID, initial_state=initial, burn_in=burn_in,
                                          seq_len=seq, **common))
    for seq_len in (short,):
        name = f"{defaults.initial_state}_burn{burn}_seq{seq_len}"
        ablation[name] = (f"{defaults.initial_state} state, burn-in {burn}, seq {seq_len}",
                          dict(env_id=MASKED_CARTPOLE_ID, initial_state=defaults.initial_state, burn_in=burn,
                               seq_len=seq_len, **common))
    return comparison, ablation


# --------------------------------------------------------------------------------------------- one run
def _run_record(result: Any, seed: int) -> dict[str, Any]:
    h, s = result.history, result.summary
    steps, exact = list(h.get("eval/step", [])), list(h.get("eval/mean_return", []))
    solved_at = next((st for st, r in zip(steps, exact) if r >= SOLVE_THRESHOLD), None)  # as the trainer decides
    returns = [round(r, 2) for r in exact]
    return dict(seed=seed, eval_steps=steps, eval_returns=returns,
                eval_std=[round(r, 2) for r in h.get("eval/std_return", [])],
                solved=solved_at is not None, steps_to_solve=solved_at,
                best_eval_return=max(returns) if returns else None,
                final_eval_return=returns[-1] if returns else None,
                env_steps=s["env_steps"], wall_seconds=s["wall_seconds"])


def _staleness(result: Any, quick: bool, seed: int) -> list[dict[str, Any]]:
    """Controlled staleness: exact stored states, then U more updates on them; measured after each U."""
    from rdqn_core import SequenceReplay, collect_experience, hidden_state_staleness

    agent, cfg = result.agent, result.agent.config
    network = agent.online
    replay = SequenceReplay(cfg.buffer_size, cfg.num_envs, network.obs_dim, seq_len=cfg.seq_len, burn_in=cfg.burn_in,
                            n_steps=cfg.n_steps, hidden_size=cfg.hidden_size, lstm=cfg.cell == "lstm",
                            initial_state=cfg.initial_state)
    collect_experience(network, cfg.env_id, replay, 400 if quick else 4_000, epsilon=cfg.eps_end, seed=seed + 500)
    rng = np.random.default_rng(seed)
    rows, done = [], 0
    for updates in ((0, 10) if quick else STALENESS_UPDATES):
        while done < updates:
            agent.update(replay.sample(cfg.batch_size, rng, agent.device))
            done += 1
        report = hidden_state_staleness(network, replay, burn_ins=STALENESS_BURN_INS, windows=16 if quick else 256,
                                        seed=seed)
        rows.append(dict(updates=updates, **report.to_dict()))
    return rows


def run_one(task: dict[str, Any]) -> dict[str, Any]:
    """Train one config (a worker process); for DRQNs of the comparison also measure staleness."""
    import torch

    from rdqn_core import config_from_dict, train

    torch.set_num_threads(1)
    config = config_from_dict(task["config"])
    t0 = time.perf_counter()
    result = train(config)
    record = _run_record(result, config.seed)
    if task.get("staleness"):
        record["staleness"] = _staleness(result, task["quick"], config.seed)
    record["task_seconds"] = round(time.perf_counter() - t0, 1)
    print(f"[{task['section']}/{task['name']} seed {config.seed}] best {record['best_eval_return']} "
          f"solved at {record['steps_to_solve']} in {record['task_seconds']} s", flush=True)
    return dict(section=task["section"], name=task["name"], record=record)


# -------------------------------------------------------------------------------------------- the file
def run_all(quick: bool, seeds: list[int], jobs: int, budget: int | None, command: str) -> dict[str, Any]:
    from rdqn_core import TrainConfig, __version__

    import torch

    comparison, ablation = variants(quick, budget)
    results: dict[str, Any] = {"meta": {}, "comparison": {}, "ablation": {}, "staleness": {}}
    tasks = []
    for section, table in (("comparison", comparison), ("ablation", ablation)):
        for name, (label, overrides) in table.items():
            config = TrainConfig(**overrides)
            as_dict = dataclasses.asdict(config)
            as_dict.pop("seed")
            results[section][name] = dict(label=label, overrides={k: v for k, v in overrides.items()},
                                          config=as_dict, runs=[])
            for seed in seeds:
                tasks.append(dict(section=section, name=name, quick=quick,
                                  config=dataclasses.asdict(dataclasses.replace(config, seed=seed)),
                                  staleness=section == "comparison" and name == "drqn"))
    # The default DRQN is also an ablation variant: reuse its runs instead of training it twice. It ran the
    # whole budget instead of stopping at 475, which changes nothing before its first evaluation >= 475.
    defaults = TrainConfig()
    reuse = f"{defaults.initial_state}_burn{defaults.burn_in}_seq{defaults.seq_len}"
    if reuse in ablation:
        tasks = [t for t in tasks if not (t["section"] == "ablation" and t["name"] == reuse)]
        results["ablation"][reuse]["same_runs_as"] = "comparison/drqn"
        results["ablation"][reuse]["config"] = dict(results["comparison"]["drqn"]["config"])
    # longest first, so the parallel workers finish together
    tasks.sort(key=lambda t: (t["config"]["cell"] == "mlp", t["name"]))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        outcomes = list(pool.map(run_one, tasks))
    for out in outcomes:
        record = out["record"]
        stale = record.pop("staleness", None)
        results[out["section"]][out["name"]]["runs"].append(record)
        if stale is not None:
            results["staleness"].setdefault("runs", []).append(dict(seed=record["seed"], by_updates=stale))
    if reuse in ablation:
        results["ablation"][reuse]["runs"] = results["comparison"]["drqn"]["runs"]
    for section in ("comparison", "ablation"):
        for entry in results[section].values():
            entry["runs"].sort(key=lambda r: r["seed"])
    results["staleness"]["runs"].sort(key=lambda r: r["seed"])
    results["staleness"].update(burn_ins=list(STALENESS_BURN_INS), method="comparison/drqn",
                                what="after training: exact stored states, then U more updates on that replay")
    results["meta"] = dict(
        format=FORMAT, command=command, quick=quick, seeds=seeds, solve_threshold=SOLVE_THRESHOLD,
        wall_seconds=round(time.perf_counter() - t0, 1), jobs=jobs,
        created=time.strftime("%Y-%m-%d %H:%M:%S"), rdqn_core=__version__, torch=torch.__version__,
        python=platform.python_version(), machine=f"{platform.machine()}, {_cpu_count()} CPU cores",
        defaults=dataclasses.asdict(defaults),
    )
    return results


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def check_results(results: dict[str, Any]) -> dict[str, Any]:
    """Raise ``ValueError`` naming the first missing piece if ``results`` is not a chapter-4 result file."""
    def need(mapping: Any, keys: tuple[str, ...] | list[str], where: str) -> None:
        if not isinstance(mapping, dict):
            raise ValueError(f"{where} must be a JSON object, got {type(mapping).__name__}")
        missing = [k for k in keys if k not in mapping]
        if missing:
            raise ValueError(f"{where} lacks {missing}; was the file written by book/scripts/ch04_experiments.py?")

    need(results, ("meta", "comparison", "ablation", "staleness"), "the result file")
    need(results["meta"], ("format", "command", "seeds", "solve_threshold", "defaults"), "meta")
    if results["meta"]["format"] != FORMAT:
        raise ValueError(f"result file format {results['meta']['format']!r}; this script reads {FORMAT}")
    need(results["comparison"], ("drqn", "dqn_memoryless", "dqn_frame_stack", "dqn_full_obs"), "comparison")
    for section in ("comparison", "ablation"):
        for name, entry in results[section].items():
            need(entry, VARIANT_KEYS, f"{section}/{name}")
            if not entry["runs"]:
                raise ValueError(f"{section}/{name} has no runs")
            for run in entry["runs"]:
                need(run, RUN_KEYS, f"{section}/{name} run")
    need(results["staleness"], ("runs", "burn_ins"), "staleness")
    for run in results["staleness"]["runs"]:
        need(run, ("seed", "by_updates"), "staleness run")
        for point in run["by_updates"]:
            need(point, ("updates", "windows", "stored_state_gap", "strategies"), "staleness point")
            for row in point["strategies"]:
                need(row, STALENESS_ROW_KEYS, "staleness row")
    return results


def load_results(path: str | Path = DEFAULT_OUT) -> dict[str, Any]:
    """Read and check a result file written by this script."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no result file at {path}; run: python book/scripts/ch04_experiments.py")
    return check_results(json.loads(path.read_text()))


# ------------------------------------------------------------------------------------------- summaries
def eval_curves(entry: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(steps (E,), returns (seeds, E))`` over the union of evaluation steps; NaN after a run stopped."""
    steps = sorted({s for run in entry["runs"] for s in run["eval_steps"]})
    index = {s: i for i, s in enumerate(steps)}
    returns = np.full((len(entry["runs"]), len(steps)), np.nan)
    for i, run in enumerate(entry["runs"]):
        for s, r in zip(run["eval_steps"], run["eval_returns"]):
            returns[i, index[s]] = r
    return np.asarray(steps), returns


def summarize(entry: dict[str, Any]) -> dict[str, Any]:
    """Solve count, steps to solve and final/best evaluation returns over the seeds of one variant."""
    runs = entry["runs"]
    solve_steps = [r["steps_to_solve"] for r in runs if r["solved"]]
    final = np.array([r["final_eval_return"] for r in runs], float)
    best = np.array([r["best_eval_return"] for r in runs], float)
    _, curves = eval_curves(entry)
    return dict(label=entry["label"], seeds=len(runs), solved=len(solve_steps),
                steps_to_solve=[r["steps_to_solve"] for r in runs],
                median_steps_to_solve=float(np.median(solve_steps)) if solve_steps else None,
                final_mean=float(final.mean()), final_std=float(final.std()),
                best_mean=float(best.mean()), best_min=float(best.min()), best_max=float(best.max()),
                mean_over_training=float(np.nanmean(curves)))


def staleness_table(results: dict[str, Any]) -> dict[str, Any]:
    """Mean and std over seeds of Delta-Q (first trained step) per (updates, initial_state, burn_in), and stored gaps."""
    runs = results["staleness"]["runs"]
    updates = [p["updates"] for p in runs[0]["by_updates"]]
    table: dict[str, Any] = {"updates": updates, "burn_ins": results["staleness"]["burn_ins"],
                             "stored_state_gap": [], "delta_q_first": {}}
    for i, u in enumerate(updates):
        table["stored_state_gap"].append(float(np.mean([r["by_updates"][i]["stored_state_gap"] for r in runs])))
        for row_index, row in enumerate(runs[0]["by_updates"][i]["strategies"]):
            values = [r["by_updates"][i]["strategies"][row_index]["delta_q_first"] for r in runs]
            key = (row["initial_state"], row["burn_in"])
            table["delta_q_first"].setdefault(key, []).append((float(np.mean(values)), float(np.std(values))))
    return table


# -------------------------------------------------------------------------------------------- plotting
COLORS = {"drqn": "C0", "dqn_memoryless": "C3", "dqn_frame_stack": "C2", "dqn_full_obs": "0.35"}


def plot_comparison(results: dict[str, Any], ax: Any) -> None:
    """Greedy evaluation return against environment steps: mean over seeds, shaded +-1 std, per method."""
    for name, entry in results["comparison"].items():
        steps, curves = eval_curves(entry)
        mean, std = np.nanmean(curves, 0), np.nanstd(curves, 0)
        color = COLORS.get(name)
        ax.plot(steps, mean, color=color, label=f"{entry['label']} ({len(entry['runs'])} seeds)")
        ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
    ax.axhline(results["meta"]["solve_threshold"], color="k", lw=0.8, ls=":", label="solved (475)")
    ax.set(xlabel="environment steps", ylabel="greedy evaluation return", ylim=(0, 520))
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)


def solved_fraction(entry: dict[str, Any], steps: np.ndarray) -> np.ndarray:
    """Fraction of the variant's seeds whose first evaluation >= 475 came at or before each of ``steps``."""
    solve = np.array([r["steps_to_solve"] if r["solved"] else np.inf for r in entry["runs"]], float)
    return (solve[None, :] <= np.asarray(steps, float)[:, None]).mean(1)


def plot_ablation(results: dict[str, Any], axes: Any) -> None:
    """Left: fraction of seeds solved against environment steps; right: each seed's steps to solve."""
    ax_fraction, ax_points = axes
    names = list(results["ablation"])
    budget = max(e["config"]["total_steps"] for e in results["ablation"].values())
    steps = np.linspace(0, budget, 201)
    for k, name in enumerate(names):
        entry = results["ablation"][name]
        offset = (k - (len(names) - 1) / 2) * budget / 400  # keeps coinciding steps apart
        ax_fraction.step(steps + offset, solved_fraction(entry, steps), where="post", color=f"C{k}",
                         label=entry["label"])
        solve = np.array([r["steps_to_solve"] if r["solved"] else np.nan for r in entry["runs"]], float)
        jitter = np.linspace(-0.15, 0.15, len(solve)) if len(solve) > 1 else np.zeros(1)
        ax_points.scatter(solve, k + jitter, color=f"C{k}", s=22, zorder=3)
        unsolved = np.isnan(solve)
        ax_points.scatter(np.full(unsolved.sum(), budget), k + jitter[unsolved], facecolor="none",
                          edgecolor=f"C{k}", s=22, zorder=3)
    ax_fraction.set(xlabel="environment steps", ylabel="fraction of seeds solved", ylim=(-0.03, 1.03), xlim=(0, budget))
    ax_fraction.legend(fontsize=7, loc="upper left")
    ax_points.axvline(budget, color="0.6", lw=0.8, ls=":")
    ax_points.set_yticks(range(len(names)), [results["ablation"][n]["label"] for n in names], fontsize=8)
    ax_points.invert_yaxis()
    ax_points.set(xlabel="environment steps to the first evaluation >= 475\n(filled: a seed; open: not solved within the budget)",
                  xlim=(0, budget * 1.05))


def plot_staleness(results: dict[str, Any], ax: Any) -> None:
    """Delta-Q on the first trained step against burn-in length, one line per (initial state, updates since storing).

    Lines: mean over seeds; bands: min to max over seeds (a log scale cannot show a band of +-1 std below 0).
    """
    runs = results["staleness"]["runs"]
    burn_ins = results["staleness"]["burn_ins"]
    for u_index, point in enumerate(runs[0]["by_updates"]):
        if point["updates"] == 0:
            continue  # exactly 0: nothing to draw on a log scale
        for initial, style in (("stored", "-"), ("zero", "--")):
            values = np.array([[next(row["delta_q_first"] for row in run["by_updates"][u_index]["strategies"]
                                     if row["initial_state"] == initial and row["burn_in"] == b) for b in burn_ins]
                               for run in runs])  # (seeds, burn-ins)
            color = f"C{u_index}"
            ax.plot(burn_ins, values.mean(0), style, marker="o", color=color,
                    label=f"{initial} state, {point['updates']} updates later")
            ax.fill_between(burn_ins, values.min(0), values.max(0), color=color, alpha=0.1, linewidth=0)
    ax.set(xlabel="burn-in steps", ylabel=r"$\Delta Q$ on the first trained step", yscale="log", xticks=burn_ins)
    ax.legend(fontsize=7, ncol=2)


# -------------------------------------------------------------------------------------------------- CLI
def _command_line(argv: list[str]) -> str:
    """The command as a reader would retype it: the script and its options, without ``--out`` (a local path)."""
    kept, skip = [], False
    for arg in map(str, argv):
        if skip:
            skip = False
        elif arg == "--out":
            skip = True
        elif not arg.startswith("--out="):
            kept.append(arg)
    return " ".join(["python book/scripts/ch04_experiments.py", *kept])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny budget and networks, one seed (about a minute; CI)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per method/variant (default 3; quick: 1)")
    parser.add_argument("--budget", type=int, default=None, help="environment steps per run (default 25000; quick: 400)")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel, one torch thread each (default 2)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"result file (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds if args.seeds is not None else (1 if args.quick else 3)))
    if not seeds or args.jobs < 1 or (args.budget is not None and args.budget < 1):
        parser.error("--seeds, --jobs and --budget must be positive")
    command = _command_line(argv if argv is not None else sys.argv[1:])
    t0 = time.perf_counter()
    results = run_all(args.quick, seeds, args.jobs, args.budget, command)
    check_results(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, separators=(",", ":"))
    args.out.write_text(text + "\n")
    print(f"wrote {args.out} ({len(text) / 1024:.0f} KB) in {time.perf_counter() - t0:.0f} s")
    for section in ("comparison", "ablation"):
        for name, entry in results[section].items():
            s = summarize(entry)
            print(f"{section:10s} {name:22s} solved {s['solved']}/{s['seeds']}  best {s['best_mean']:.0f}  "
                  f"final {s['final_mean']:.0f} +- {s['final_std']:.0f}  mean over training {s['mean_over_training']:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
