"""Side-by-side benchmark on velocity-masked CartPole (README "Benchmark").

Methods, all on the same machine, seeds and evaluation protocol:

* ``drqn``           rdqn DRQN (LSTM) on rdqn/MaskedCartPole-v0, package defaults
* ``dqn_masked``     rdqn memoryless DQN on rdqn/MaskedCartPole-v0 (same budget)
* ``dqn_full``       rdqn DQN on the fully observed CartPole-v1 (the oracle)
* ``recurrent_ppo``  sb3-contrib RecurrentPPO, rl-baselines3-zoo hyperparameters for CartPoleNoVel-v1
* ``drqn_actors``    the same DRQN trained by one actor process and a learner (Chapter 7), the replay
                     ratio held at the defaults' value by the rate limiter (learning parity)

Protocol: each run trains for a fixed budget of env steps without stopping; every
``--eval-every`` env steps it is evaluated greedily on ``--eval-episodes`` episodes, each
from a fresh memory; solved = evaluation mean >= 475. Reported: first solve (env steps and
training seconds, evaluation time excluded), env steps per second, peak resident memory of
the run's process, the final greedy mean over ``--final-episodes`` episodes, and the share of
evaluations after the first solve that stayed >= 475. Every run is a separate process with
``torch.set_num_threads(--threads)``.

    .venv/bin/pip install -r requirements-bench.txt
    .venv/bin/python benchmarks/compare.py --seeds 5 --budget 50000 --jobs 2

Prints a Markdown table; ``--out results.json`` also writes the raw numbers.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

METHODS = ("drqn", "dqn_masked", "dqn_full", "recurrent_ppo", "drqn_actors")
SOLVED = 475.0


def _rdqn_run(method: str, seed: int, args) -> dict:
    from rdqn_core import MASKED_CARTPOLE_ID, TrainConfig, evaluate, train

    common = dict(seed=seed, total_steps=args.budget, eval_every=args.eval_every, eval_episodes=args.eval_episodes,
                  progress=False, torch_threads=args.threads)
    if method in ("drqn", "drqn_actors"):
        cfg = TrainConfig(**{**args.drqn_overrides, **common, "env_id": MASKED_CARTPOLE_ID,
                             "actors": int(method == "drqn_actors")})
    else:
        env_id = MASKED_CARTPOLE_ID if method == "dqn_masked" else "CartPole-v1"
        cfg = TrainConfig.memoryless(env_id=env_id, **common)
    if cfg.actors:
        from rdqn_core import train_actor_learner

        result = train_actor_learner(cfg)
    else:
        result = train(cfg)
    h = result.history
    final = evaluate(result.agent, cfg.env_id, args.final_episodes, seed=10**6 + seed)
    train_seconds = result.summary["wall_seconds"] - result.summary["eval_seconds"]
    return dict(eval_steps=h["eval/step"], eval_means=h["eval/mean_return"], eval_train_seconds=h["eval/train_seconds"],
                train_seconds=train_seconds, env_steps=result.summary["env_steps"], final_mean=float(final.mean()))


def _ppo_run(seed: int, args) -> dict:
    """RecurrentPPO with the rl-baselines3-zoo settings for CartPoleNoVel-v1 (ppo_lstm.yml)."""
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.utils import LinearSchedule
    from stable_baselines3.common.vec_env import VecNormalize
    from torch import nn

    from rdqn_core import MASKED_CARTPOLE_ID
    from rdqn_core.trainer import evaluate_policy

    env = VecNormalize(make_vec_env(MASKED_CARTPOLE_ID, n_envs=8, seed=seed), gamma=0.98)
    model = RecurrentPPO(
        "MlpLstmPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
        learning_rate=LinearSchedule(1e-3, 0.0, 1.0), clip_range=LinearSchedule(0.2, 0.0, 1.0), seed=seed,
        policy_kwargs=dict(ortho_init=False, activation_fn=nn.ReLU, lstm_hidden_size=64, enable_critic_lstm=True,
                           net_arch=dict(pi=[64], vf=[64])), device="cpu", verbose=0)

    class GreedyPPO:
        """The trained RecurrentPPO as an actor of rdqn's one acting loop (same evaluation as the DRQN's)."""

        def initial_state(self, batch_size: int):
            return None  # sb3 starts a fresh LSTM state where episode_start is set

        def act(self, obs, state, episode_starts, prev_actions, epsilon, rng):
            action, state = model.predict(env.normalize_obs(obs), state=state,
                                          episode_start=episode_starts.astype(bool), deterministic=True)
            return action, state, None

    def greedy_returns(episodes: int, eval_seed: int) -> np.ndarray:
        return evaluate_policy(GreedyPPO(), MASKED_CARTPOLE_ID, episodes, eval_seed)

    record = dict(eval_steps=[], eval_means=[], eval_train_seconds=[])

    class Evaluate(BaseCallback):
        def _on_training_start(self) -> None:
            self.start, self.eval_seconds, self.next_eval = time.perf_counter(), 0.0, args.eval_every

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_eval:
                self.next_eval += args.eval_every
                t0 = time.perf_counter()
                record["eval_train_seconds"].append(t0 - self.start - self.eval_seconds)
                record["eval_steps"].append(self.num_timesteps)
                eval_seed = 10_000 * (seed + 1) + 100 * len(record["eval_steps"])
                record["eval_means"].append(float(greedy_returns(args.eval_episodes, eval_seed).mean()))
                self.eval_seconds += time.perf_counter() - t0
            return True

        def _on_training_end(self) -> None:
            record["train_seconds"] = time.perf_counter() - self.start - self.eval_seconds

    model.learn(total_timesteps=args.budget, callback=Evaluate())
    env.training = False
    record["env_steps"] = int(model.num_timesteps)
    record["final_mean"] = float(greedy_returns(args.final_episodes, 10**6 + seed).mean())
    return record


def _run(job) -> dict:
    method, seed, args = job
    torch.set_num_threads(args.threads)
    out = _ppo_run(seed, args) if method == "recurrent_ppo" else _rdqn_run(method, seed, args)
    out.update(method=method, seed=seed, peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    solved_at = [i for i, m in enumerate(out["eval_means"]) if m >= SOLVED]
    first = solved_at[0] if solved_at else None
    out["steps_to_solve"] = out["eval_steps"][first] if first is not None else None
    out["seconds_to_solve"] = out["eval_train_seconds"][first] if first is not None else None
    after = out["eval_means"][first:] if first is not None else []
    out["stayed_solved"] = sum(m >= SOLVED for m in after) / len(after) if after else None
    if getattr(args, "out", None):  # one line per finished run, so an interrupted benchmark keeps its results
        with open(args.out + ".partial.jsonl", "a") as f:
            f.write(json.dumps(out) + "\n")
    print(f"  {method:14s} seed {seed}: first solve {out['steps_to_solve']} steps, final {out['final_mean']:.1f}, "
          f"{out['train_seconds']:.0f} s", flush=True)
    return out


def _spread(values: list) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    fmt = (lambda v: f"{v:,.0f}") if max(values) >= 100 else (lambda v: f"{v:.1f}")
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}–{fmt(max(values))}]"


def table(results: list[dict], args) -> str:
    lines = [
        f"| method | solve rate | env steps to first solve, median [min–max] | training s to first solve | "
        f"env steps / s | peak RSS MB | final {args.final_episodes}-ep greedy mean, median [min–max] | "
        f"final ≥ 475 | evals ≥ 475 after first solve |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method in args.methods:
        rs = [r for r in results if r["method"] == method]
        solved = [r for r in rs if r["steps_to_solve"] is not None]
        stayed = [r["stayed_solved"] for r in solved]
        lines.append(
            f"| {method} | {len(solved)}/{len(rs)} | {_spread([r['steps_to_solve'] for r in rs])} | "
            f"{_spread([r['seconds_to_solve'] for r in rs])} | {_spread([r['env_steps'] / r['train_seconds'] for r in rs])} | "
            f"{_spread([r['peak_rss_mb'] for r in rs])} | {_spread([r['final_mean'] for r in rs])} | "
            f"{sum(r['final_mean'] >= SOLVED for r in rs)}/{len(rs)} | "
            f"{f'{100 * statistics.mean(stayed):.0f}%' if stayed else '–'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=50_000, help="env steps per run (no early stop)")
    parser.add_argument("--eval-every", type=int, default=2_500)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--final-episodes", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in every run")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (one process each)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--drqn-overrides", type=json.loads, default={}, metavar="JSON",
                        help="TrainConfig fields that replace the package defaults in the DRQN methods (a "
                             "candidate's defaults, measured before adopting them)")
    parser.add_argument("--out", default=None, help="write raw results as JSON here (and OUT.partial.jsonl as runs end)")
    parser.add_argument("--table-from", default=None, help="only print the table of a results .json or .partial.jsonl")
    args = parser.parse_args()
    args.methods = [m for m in args.methods.split(",") if m]
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; allowed: {', '.join(METHODS)}")
    if args.table_from:
        text = open(args.table_from).read()
        results = json.loads(text) if args.table_from.endswith(".json") else [json.loads(l) for l in text.splitlines() if l]
        args.methods = [m for m in args.methods if any(r["method"] == m for r in results)]
        print(table(results, args))
        return
    jobs = [(m, s, args) for s in range(args.seeds) for m in args.methods]
    print(f"{len(jobs)} runs, {args.jobs} at a time, {args.threads} torch thread(s) each; "
          f"{platform.processor() or platform.machine()}, {mp.cpu_count()} cores, torch {torch.__version__}", flush=True)
    t0 = time.perf_counter()
    # not multiprocessing.Pool: its workers are daemonic and may not start the actor processes of drqn_actors
    with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn"), max_tasks_per_child=1) as pool:
        results = list(pool.map(_run, jobs, chunksize=1))
    print(f"\nbudget {args.budget:,} env steps, eval every {args.eval_every:,} ({args.eval_episodes} greedy episodes), "
          f"{args.seeds} seeds, total {time.perf_counter() - t0:.0f} s\n")
    print(table(results, args))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    main()
