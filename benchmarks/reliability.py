"""Does the learner solve and *stay* solved, on every seed? A per-seed table for one or more variants.

Each run trains for a fixed budget without early stopping (``TrainConfig()`` defaults plus the variant's
overrides), evaluates greedily every ``--eval-every`` env steps (20 episodes, each from a fresh memory), and
measures the live learner's final greedy mean over 100 episodes at each step in ``--checkpoints`` (default
30,000 and 50,000). The criteria of the reliable-learner issue:

* first solve: the first evaluation with a mean >= 475, within 30k env steps;
* final 100-episode greedy mean >= 475 at 30k and at 50k;
* the share of evaluations after the first solve that are >= 475 (>= 90%).

Usage (from the repository root; one torch thread per run, ``--jobs`` runs at a time)::

    python benchmarks/reliability.py --seeds 10 --jobs 2
    python benchmarks/reliability.py --seeds 4 --variant ln='{"layer_norm": true}' --variant base='{}'
    python benchmarks/reliability.py --env rdqn/FlickerCartPole-v0 --seeds 3 --checkpoints 50000

It prints one table per variant and, with ``--out``, writes every run's record as JSON (rewritten after each run).

With ``--online-too``, a variant with weight averaging (``average_tau > 0``) also has its online net scored at
every evaluation and checkpoint, on the same episode seeds: averaging does not change training, so one run per
seed gives both learners (a second table, ``NAME/online``).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import numpy as np

SOLVE = 475.0


def _score_online_too(online_means: list[float]) -> None:
    """Make every in-training evaluation of an averaged agent also score its online net (appended to the list)."""
    import rdqn_core.trainer as trainer

    evaluate = trainer.evaluate

    def both(agent, *args, **kwargs):
        if agent.average is not None:
            average, agent.average = agent.average, None  # greedy_network is the online net while it is None
            try:
                online_means.append(float(evaluate(agent, *args, **kwargs).mean()))
            finally:
                agent.average = average
        return evaluate(agent, *args, **kwargs)

    trainer.evaluate = both  # this worker process only: the trainer looks the name up at every evaluation


def _summary(steps: list[int], means: list[float], seconds: list[float], threshold: float) -> dict[str, Any]:
    first = next((s for s, m in zip(steps, means) if m >= threshold), None)
    after = [m for s, m in zip(steps, means) if first is not None and s > first]
    return dict(eval_steps=steps, eval_means=[round(m, 1) for m in means], first_solve=first,
                train_seconds_to_first_solve=next((t for m, t in zip(means, seconds) if m >= threshold), None),
                share_after_first_solve=(float(np.mean(np.array(after) >= threshold)) if after else None))


def run_one(args: tuple[str, dict[str, Any], int, tuple[int, ...], int, float, bool]) -> list[dict[str, Any]]:
    name, overrides, seed, checkpoints, eval_every, threshold, online_too = args
    import torch

    torch.set_num_threads(1)
    from rdqn_core import TrainConfig, evaluate, train

    online_too = online_too and overrides.get("average_tau", 0) > 0
    online_means: list[float] = []
    if online_too:
        _score_online_too(online_means)

    # One run per seed, stopped at each checkpoint and resumed from its resume.pt (bit-exact on a CPU): the
    # live learner is measured at every checkpoint without a callback reaching into the trainer.
    t0 = time.perf_counter()
    finals: dict[int, float] = {}
    online_finals: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as out:
        for k, steps in enumerate(sorted(checkpoints)):
            cfg = TrainConfig(**{**dict(progress=False, torch_threads=1, eval_every=eval_every), **overrides,
                                 "seed": seed, "total_steps": steps})
            result = train(cfg, out_dir=out, resume=k > 0)
            returns = evaluate(result.agent, cfg.env_id, 100, seed=777_000 + seed, env_kwargs=cfg.env_kwargs)
            finals[steps] = float(np.mean(returns))
            if online_too:
                agent = result.agent
                average, agent.average = agent.average, None
                online_finals[steps] = float(np.mean(evaluate(agent, cfg.env_id, 100, seed=777_000 + seed,
                                                              env_kwargs=cfg.env_kwargs)))
                agent.average = average
    h = result.history
    common = dict(seed=seed, wall_seconds=round(time.perf_counter() - t0, 1), updates=result.summary["updates"])
    records = [dict(variant=name, **_summary(h["eval/step"], h["eval/mean_return"], h["eval/train_seconds"],
                                             threshold),
                    finals={str(k): round(v, 1) for k, v in sorted(finals.items())}, **common)]
    if online_too:  # a resumed run re-scores nothing: one online mean per evaluation, in order
        assert len(online_means) == len(h["eval/step"]), (len(online_means), len(h["eval/step"]))
        records.append(dict(variant=f"{name}/online", **_summary(h["eval/step"], online_means,
                                                                 h["eval/train_seconds"], threshold),
                            finals={str(k): round(v, 1) for k, v in sorted(online_finals.items())}, **common))
    return records


def table(records: list[dict[str, Any]], checkpoints: tuple[int, ...], threshold: float) -> str:
    lines = [f"{'seed':>4}  {'first solve':>11}  " + "  ".join(f"{'final@' + str(c // 1000) + 'k':>9}" for c in checkpoints)
             + f"  {'share>=thr after':>16}  {'s to solve':>10}  {'wall s':>7}"]
    for r in sorted(records, key=lambda r: r["seed"]):
        share = "-" if r["share_after_first_solve"] is None else f"{100 * r['share_after_first_solve']:.0f}%"
        lines.append(f"{r['seed']:>4}  {str(r['first_solve'] or 'never'):>11}  "
                     + "  ".join(f"{r['finals'].get(str(c), float('nan')):>9.1f}" for c in checkpoints)
                     + f"  {share:>16}  {str(r['train_seconds_to_first_solve'] or '-'):>10}  {r['wall_seconds']:>7}")
    solved = [r for r in records if r["first_solve"] is not None and r["first_solve"] <= 30_000]
    lines.append(f"solved within 30k: {len(solved)}/{len(records)}; " + "; ".join(
        f"final@{c // 1000}k >= {threshold:g}: {sum(r['finals'].get(str(c), -1e9) >= threshold for r in records)}"
        f"/{len(records)}" for c in checkpoints))
    shares = [r["share_after_first_solve"] for r in records if r["share_after_first_solve"] is not None]
    if shares:
        lines.append(f"evaluations >= {threshold:g} after the first solve: {100 * np.mean(shares):.0f}% (mean over seeds), "
                     f"min {100 * min(shares):.0f}%")
    firsts = [r["first_solve"] for r in records if r["first_solve"] is not None]
    if firsts:
        lines.append(f"median first solve {np.median(firsts):,.0f} env steps (worst {max(firsts):,}); median training "
                     f"s to first solve {np.median([r['train_seconds_to_first_solve'] for r in records if r['first_solve']]):.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--env", default=None, help="env id (default: the TrainConfig default)")
    parser.add_argument("--checkpoints", default="30000,50000", help="env steps at which to measure the final mean")
    parser.add_argument("--eval-every", type=int, default=2_500)
    parser.add_argument("--threshold", type=float, default=SOLVE)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=JSON",
                        help="a variant: name=JSON overrides of TrainConfig() (repeatable; default: defaults)")
    parser.add_argument("--online-too", action="store_true",
                        help="variants with average_tau > 0: also score the online net (table NAME/online)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    checkpoints = tuple(int(c) for c in args.checkpoints.split(","))
    variants = {}
    for spec in args.variant or ["defaults={}"]:
        name, _, text = spec.partition("=")
        variants[name] = json.loads(text or "{}")
    if args.env:
        variants = {k: {"env_id": args.env, **v} for k, v in variants.items()}
    jobs = [(name, ov, seed, checkpoints, args.eval_every, args.threshold, args.online_too) for seed in
            range(args.first_seed, args.first_seed + args.seeds) for name, ov in variants.items()]
    records: list[dict[str, Any]] = []
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        for run in pool.map(run_one, jobs):
            for record in run:
                records.append(record)
                print(f"[{record['variant']} seed {record['seed']}] first solve {record['first_solve']}, finals "
                      f"{record['finals']}, evals {record['eval_means']}", flush=True)
            if args.out:  # after every run, so that a screen stopped early keeps what it measured
                with open(args.out, "w") as f:
                    json.dump({"variants": variants, "records": records}, f, indent=1)
    for name in dict.fromkeys(r["variant"] for r in records):
        base = name.split("/")[0]
        print(f"\n== {name}: {json.dumps(variants[base])}{' (the online net)' if name != base else ''}")
        print(table([r for r in records if r["variant"] == name], checkpoints, args.threshold))


if __name__ == "__main__":
    main()
