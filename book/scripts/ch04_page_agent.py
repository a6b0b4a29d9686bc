"""How often does chapter 4's page agent do what the page needs? Count it over seeds.

Chapter 4 trains one DRQN in the page (``PAGE_OVERRIDES`` below, the seed from ``RDQN_BOOK_SEED``)
and later cells trace, probe and play it. For a reader on another machine or with another seed
the page must work too, so this script trains the page agent for many seeds and applies the
page's own checks to each:

* it solves: a greedy evaluation (10 episodes) reaches 475 within the page budget;
* the memory holds the velocities: the linear read-out of (cart velocity, pole angular velocity)
  from (h, c), fitted on 3 traced episodes and scored on 3 others, has R^2 > 0.5 for both and
  beats the read-out from the observation by 0.3 (the page's assert);
* the two reset bugs behave as the page says: Delta Q at step 0 above 0.05 and fading over the
  first 20 steps, returns within 20% of the correct ones.

Usage (from the repository root; one torch thread per run)::

    python book/scripts/ch04_page_agent.py --seeds 20 --jobs 2
"""
from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

# What the page trains (book/04_drqn.ipynb, "Training one DRQN on this page"); keep the two in step.
PAGE_OVERRIDES = dict(total_steps=30_000, eval_every=1_000, eval_episodes=10, solve_threshold=475.0)


def check_seed(seed: int) -> dict:
    import torch

    torch.set_num_threads(1)
    from rdqn_core import MASKED_CARTPOLE_ID, TrainConfig, linear_probe_r2, q_discrepancy, trace_episode, train

    config = TrainConfig(progress=False, torch_threads=1, seed=seed, **PAGE_OVERRIDES)
    result = train(config)
    net = result.agent.online
    record = dict(seed=seed, solved=result.summary["solved"], steps=result.summary["env_steps"],
                  best=result.summary["best_eval_return"])
    # the probe, as in the page
    fit = [trace_episode(net, MASKED_CARTPOLE_ID, seed=200 + i) for i in range(3)]
    test = [trace_episode(net, MASKED_CARTPOLE_ID, seed=300 + i) for i in range(3)]
    memory = lambda tr: np.hstack([tr["hidden"]] + ([tr["cell"]] if "cell" in tr else []))[1:]
    observed = lambda tr: tr["obs"][1:]
    velocities = lambda tr: tr["env_state"][1:, [1, 3]]
    both = lambda runs, f: np.concatenate([f(tr) for tr in runs])
    r2_memory = linear_probe_r2(both(fit, memory), both(fit, velocities), both(test, memory), both(test, velocities))
    r2_obs = linear_probe_r2(both(fit, observed), both(fit, velocities), both(test, observed), both(test, velocities))
    record["r2_memory"] = np.round(r2_memory, 2).tolist()
    record["probe_ok"] = bool(r2_memory.min() > 0.5 and r2_memory.min() > r2_obs.max() + 0.3)
    # the two bugs, as in the page
    seeds = [5_000 + i for i in range(8)]
    correct = [trace_episode(net, MASKED_CARTPOLE_ID, seed=s) for s in seeds]
    no_reset, carried = [], trace_episode(net, MASKED_CARTPOLE_ID, seed=4_999)
    for s in seeds:
        carried = trace_episode(net, MASKED_CARTPOLE_ID, seed=s, initial_state=carried["final_state"],
                                prev_action=carried["final_action"], reset_memory=False)
        no_reset.append(carried)
    training_memory = []
    for i, s in enumerate(seeds):
        training = trace_episode(net, MASKED_CARTPOLE_ID, seed=6_000 + i, epsilon=config.eps_end,
                                 max_steps=int(np.random.default_rng(i).integers(20, 200)))
        training_memory.append(trace_episode(net, MASKED_CARTPOLE_ID, seed=s, initial_state=training["final_state"],
                                             prev_action=training["final_action"], reset_memory=False))
    ok_return = np.mean([tr["return"] for tr in correct])
    bugs_ok = True
    for traces in (no_reset, training_memory):
        first = np.mean([q_discrepancy(tr["q"][0], tr["q_fresh"][0]) for tr in traces])
        early = np.mean([q_discrepancy(tr["q"][:20], tr["q_fresh"][:20]).mean() for tr in traces])
        bugs_ok &= bool(first > 0.05 and early < first and np.mean([tr["return"] for tr in traces]) > 0.8 * ok_return)
    record["bugs_ok"] = bugs_ok
    record["page_ok"] = bool(record["solved"] and record["probe_ok"] and bugs_ok)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        records = list(pool.map(check_seed, range(args.first_seed, args.first_seed + args.seeds)))
    print(f"{'seed':>4}  {'solved':>6}  {'env steps':>9}  {'best':>5}  {'R^2 memory':>12}  {'probe':>5}  {'bugs':>4}  page")
    for r in records:
        print(f"{r['seed']:>4}  {str(r['solved']):>6}  {r['steps']:>9,}  {r['best']:>5.0f}  {str(r['r2_memory']):>12}  "
              f"{str(r['probe_ok']):>5}  {str(r['bugs_ok']):>4}  {'ok' if r['page_ok'] else 'FAILS'}")
    print(f"page agent works for {sum(r['page_ok'] for r in records)}/{len(records)} seeds "
          f"(solved {sum(r['solved'] for r in records)}, probe {sum(r['probe_ok'] for r in records)}, "
          f"bugs {sum(r['bugs_ok'] for r in records)}); median env steps {np.median([r['steps'] for r in records]):,.0f}")


if __name__ == "__main__":
    main()
