"""Writes book/07_parallel.ipynb from the cells below (kept beside the chapter so it can be rebuilt).

    python book/scripts/_make_ch07_notebook.py && cd book && jupyter execute --inplace 07_parallel.ipynb
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _notebook_builder import NotebookBuilder  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[1] / "07_parallel.ipynb"
book = NotebookBuilder("ch07")
md, code = book.md, book.code

md(r"""
# Parallel and distributed training

A training run of this book's DRQN does two things in turn: it *acts* (steps the environments and runs the
Q-network forward once per step) and it *learns* (samples windows from the replay and makes a gradient update).
More processes, cores or machines can only speed up what they can take over, so the first question of this
chapter is where the time goes. The second is what must stay fixed while we parallelise: the **replay ratio**,
the number of gradient updates per environment step (`TrainConfig.updates_per_step`), which sets how hard each
collected step is learned from. An engine that lets the actors run ahead silently changes the algorithm.

The chapter measures, on the two shared CPU cores this book is built on: vector environments run synchronously
and asynchronously; batched recurrent acting with one memory per environment; the acting/updating split and the
speed-up it allows (Amdahl's law); actor processes feeding one learner through a rate limiter, with the weight
lag that creates; data-parallel learners with `torch.distributed`; and Ray as the engine for actors on many
machines. Every speed on this page was measured while other jobs were loading the same cores, so the page
compares variants measured side by side, by ratios.
""")

code(r"""
import os
import dataclasses
import json
import pathlib
import subprocess
import sys
import threading
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from myst_nb import glue

from rdqn_core import (
    MASKED_CARTPOLE_ID,
    SLOW_MASKED_CARTPOLE,
    RateLimiter,
    Rollout,
    TrainConfig,
    acting_and_update_times,
    amdahl_speedup,
    build_q_network,
    make_vector_env,
    seed_everything,
    train,
    train_actor_learner,
    vector_env_throughput,
)

# browser-only players for the static book (needs matplotlib)
from rdqn_core.display import offline_player

SEED = int(os.environ.get("RDQN_BOOK_SEED", 0))  # make test checks 1
seed_everything(SEED)  # every seed below is counted from SEED
# two shared CPU cores: one thread per process is the fastest here
torch.set_num_threads(1)
BOOK = pathlib.Path.cwd()
sys.path.insert(0, str(BOOK / "scripts"))
import ch07_parallel as ch07  # the script that writes the result file also reads it

results = ch07.load_results(BOOK / "data" / "ch07_results.json")
print("result file made by:", results["command"], f"({results['seconds']:.0f} s)")
""")

code(r"""
def table(rows, columns, formats=None):
    # a Markdown table from dicts: results read as tables, not printed columns
    formats = formats or {}
    head = "| " + " | ".join(title for _, title in columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = [
        "| "
        + " | ".join(formats.get(key, "{}").format(row[key]) for key, _ in columns)
        + " |"
        for row in rows
    ]
    return Markdown("\n".join([head, rule, *body]))
""", "hide-input")

md(r"""
## Many environments in one process: vector environments

gymnasium's vector environments step $B$ copies of an environment with one call. `SyncVectorEnv` steps them one
after another in this process; `AsyncVectorEnv` gives each its own process and sends actions and observations
through pipes. Which is faster depends on what a step costs. CartPole's step is a few arithmetic operations, so
the pipes cost more than the step; a simulator whose step *waits* (for a physics engine, a game process, a
robot) is another matter. `rdqn_core.envs.slow` provides such a stand-in: velocity-masked CartPole whose step
sleeps for 1 ms (`SLOW_MASKED_CARTPOLE`). The cell times both kinds of vector env with four environments,
interleaved: each round measures every variant once.
""")

code(r"""
SLOW = {"delay": 0.001}
variants = {
    ("CartPole", "sync"): (MASKED_CARTPOLE_ID, {}, False, 2000),
    ("CartPole", "async"): (MASKED_CARTPOLE_ID, {}, True, 2000),
    ("1 ms step", "sync"): (SLOW_MASKED_CARTPOLE, SLOW, False, 200),
    ("1 ms step", "async"): (SLOW_MASKED_CARTPOLE, SLOW, True, 200),
}
rates = {key: [] for key in variants}
for round_ in range(3):
    for key, (env_id, kwargs, asynchronous, steps) in variants.items():
        rate = vector_env_throughput(
            env_id, 4, asynchronous, steps=steps, env_kwargs=kwargs, seed=round_
        )
        rates[key].append(rate)
live_vector = {key: float(np.median(r)) for key, r in rates.items()}
async_gain = {
    env: live_vector[(env, "async")] / live_vector[(env, "sync")]
    for env in ("CartPole", "1 ms step")
}
display(
    table(
        [
            {"env": env, "mode": mode, "rate": rate}
            for (env, mode), rate in live_vector.items()
        ],
        [("env", "environment"), ("mode", "vector env"), ("rate", "env steps/s")],
        {"rate": "{:,.0f}"},
    )
)
print({env: round(gain, 2) for env, gain in async_gain.items()})
""", "nbval-ignore-output")

code(r"""
assert async_gain["CartPole"] < 1.0, "async should lose on a cheap step"
assert async_gain["1 ms step"] > 1.5, "async should win when a step sleeps"
print("async loses on CartPole and wins on the 1 ms step: True")
glue("async_gain_cartpole", async_gain["CartPole"], display=False)
glue("async_gain_slow", async_gain["1 ms step"], display=False)
""", "remove-input")

md(r"""
With four environments the asynchronous vector env ran CartPole at {glue:text}`async_gain_cartpole:.2f` times the
synchronous speed (slower), and the 1 ms environment at {glue:text}`async_gain_slow:.1f` times (faster): the four
sleeps overlap in four processes. The result file, measured by `book/scripts/ch07_parallel.py` in the same
interleaved way over 1 to 8 environments, shows the whole curve.
""")

code(r"""
fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.3), sharey=False)
for ax, env, title in zip(
    axes, ("cartpole", "slow_1ms"), ("masked CartPole", "1 ms (sleeping) step")
):
    for mode, style in (("sync", "o-"), ("async", "s--")):
        rows = [r for r in results["vector"] if r["env"] == env and r["vector"] == mode]
        ax.plot(
            [r["num_envs"] for r in rows],
            [r["steps_per_s"] for r in rows],
            style,
            label=f"{mode.capitalize()}VectorEnv",
        )
    ax.set(xlabel="environments in the vector env", ylabel="env steps/s", title=title)
    ax.set_yscale("log")
    ax.set_xticks([1, 2, 4, 8])
    ax.grid(alpha=0.3)
    ax.legend()
fig.tight_layout()
plt.show()
""", "hide-input")

md(r"""
*Figure: vector-env throughput with random actions against the number of environments (median of three
interleaved rounds; from the result file of `book/scripts/ch07_parallel.py`, not computed on this page; measured
on 2 shared, loaded cores).* For a cheap simulator stay synchronous (the default, `--vector-env sync`); switch to
`--vector-env async` when a step waits.

## One memory per environment

A DRQN acting in $B$ environments carries $B$ hidden states, one per environment, as one batch
$(1, B, \text{hidden})$. The environments end their episodes at different steps, so the memory must be reset for
exactly the environments whose observation starts an episode, not for all of them. `Rollout` does this with a
multiplication by $1 - \text{start}$, and the actor processes below run the very same `Rollout`. The cell plays
four environments with random actions (short episodes) and records each environment's memory norm.
""")

code(r"""
probe_envs = make_vector_env(MASKED_CARTPOLE_ID, 4)
net = build_q_network("lstm", 2, 2, 32, (32,), True, normalize_obs=True)
rollout = Rollout(probe_envs, net, seed=SEED)
rng = np.random.default_rng(SEED)
norms, starts = [], []
for t in range(60):
    step = rollout.step(1.0, rng)  # epsilon 1: random play, episodes of ~20 steps
    norms.append(step.state.h[0].norm(dim=-1).numpy())  # (B,) memory acted with
    starts.append(step.episode_starts.copy())
probe_envs.close()
norms, starts = np.array(norms), np.array(starts, bool)  # (T, B) each
print("memory norm at every episode start:", np.unique(norms[starts]))
print("smallest norm inside an episode:", norms[~starts].min().round(3))
""", "nbval-ignore-output")

code(r"""
assert np.all(norms[starts] == 0) and np.all(norms[~starts] > 0)
mixed = [t for t in range(1, 60) if starts[t].any() and not starts[t].all()]
assert mixed, "no step where one env restarted while the others went on"
""", "remove-input")

code(r"""
fig, ax = plt.subplots(figsize=(9, 3.2))
for b in range(norms.shape[1]):
    ax.plot(norms[:, b], label=f"env {b}", color=f"C{b}")
    ax.plot(np.flatnonzero(starts[:, b]), norms[starts[:, b], b], "v", color=f"C{b}")
ax.set(xlabel="vector step", ylabel="|h| the action was chosen with")
ax.legend(ncol=4, fontsize=8)
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
""", "hide-input")

md(r"""
*Figure: memory norm of each of four environments while they play; triangles mark episode starts.* Each memory
drops to exactly zero at its own environment's episode start and nowhere else.

## Where the time goes: an Amdahl budget

One process spends, per environment step, $t_\text{act}$ acting and $R \, t_\text{update}$ learning, with $R$ the
replay ratio (updates per env step). Put the actors in their own processes, on their own cores, and acting and
learning overlap: the run goes as fast as its slower side. With $N$ actors,

$$
S(N) = \frac{t_\text{act} + R\,t_\text{update}}{\max\!\big(t_\text{act}/N,\; R\,t_\text{update}\big)}
\;\le\; \frac{1}{1-p}, \qquad p = \frac{t_\text{act}}{t_\text{act} + R\,t_\text{update}},
$$

Amdahl's law {cite:p}`amdahl1967validity` with the updates as the part that does not parallelise: $p$ is the
share of the single process's time spent acting. `acting_and_update_times` measures $t_\text{act}$ and
$t_\text{update}$ in alternating blocks (so that both see the same machine load) for the package defaults.
""")

code(r"""
defaults = TrainConfig(progress=False, torch_threads=1)
split = acting_and_update_times(
    defaults, blocks=3, act_steps=200, updates=10, fill_steps=1000
)
limit = 1 / (1 - split["acting_share"])
display(
    table(
        [
            {
                "t_act": 1e3 * split["t_act"],
                "t_update": 1e3 * split["t_update"],
                "R": defaults.updates_per_step,
                "p": split["acting_share"],
                "limit": limit,
            }
        ],
        [
            ("t_act", "ms per env step acting"),
            ("t_update", "ms per update"),
            ("R", "updates per env step"),
            ("p", "acting share p"),
            ("limit", "largest speed-up 1/(1-p)"),
        ],
        {"t_act": "{:.3f}", "t_update": "{:.2f}", "p": "{:.3f}", "limit": "{:.3f}"},
    )
)
""", "nbval-ignore-output")

code(r"""
assert split["acting_share"] < 0.25, split  # the defaults are learner-bound
print("defaults are learner-bound (p < 0.25):", split["acting_share"] < 0.25)
glue("p_default", split["acting_share"], display=False)
glue("limit_default", limit, display=False)
trained_per_env_step = (
    defaults.updates_per_step * defaults.batch_size * defaults.seq_len
)
glue("trained_per_env_step", trained_per_env_step, display=False)
glue("r_default", defaults.updates_per_step, display=False)
""", "remove-input")

md(r"""
With the defaults the single process spends a share $p \approx$ {glue:text}`p_default:.2f` of its time acting, so
no number of actors can make it more than {glue:text}`limit_default:.2f` times faster at the same replay ratio.
The defaults learn hard from every step: {glue:text}`r_default:.2g` updates × 32 windows × 8 trained steps replay
{glue:text}`trained_per_env_step:.0f` trained steps per environment step. R2D2 {cite:p}`kapturowski2019r2d2` ran
hundreds of actors against one learner and replayed each step well under once; at such a low ratio acting
dominates, and parallel acting is what pays. The scaling runs below therefore use two settings: CartPole at
$R = 0.5$ (learner-bound; the defaults' $R = 1$ even more so) and the 1 ms environment at $R = 0.02$
(acting-bound).

## Actors and a learner

`train_actor_learner` (or `python -m rdqn_core train --actors N`) splits the run over processes, in the
Ape-X/R2D2 shape {cite:p}`horgan2018apex,kapturowski2019r2d2`:

* each **actor process** (`torch.multiprocessing`, spawn) owns a vector env, a CPU copy of the Q-network and one
  memory per environment, runs the core's `Rollout`, and sends every `chunk_len` vector steps as one chunk with
  the stored states and previous actions; once the learner has put that chunk into its replay, the actor
  fetches newer weights if there are any and acts the next chunk;
* the **learner** (this process) owns the replay, the normalizer's statistics and the optimizer; an inserter
  thread writes chunks into the replay, the update loop makes the same `QAgent` updates as the single process,
  and every `sync_every` updates it publishes weights *and* normalizer statistics, under a version number, into
  shared memory;
* a **rate limiter** between the two holds the replay ratio. It has Reverb's `SampleToInsertRatio` semantics
  {cite:p}`cassirer2021reverb`: with $I$ env steps inserted and $U$ updates made, it keeps
  $R\,I - U$ within a band of $\pm$ tolerance around $R \cdot$ `learning_starts`. An insert that would leave the
  band waits for updates, an update waits for inserts, and the waiting is a condition variable, woken by the
  other side, not a sleep loop. `--free-running` turns the limiter into a counter and reports the ratio it got.

A small demonstration of the limiter with two threads: the sampler asks for updates as fast as it can, the
inserter inserts 4 steps at a time; the limiter alone decides the ratio they reach.
""")

code(r"""
limiter = RateLimiter(ratio=0.25, min_size=40, tolerance=4)
stop = threading.Event()


def sampler():
    while not stop.is_set():
        limiter.await_sample(timeout=0.01)


thread = threading.Thread(target=sampler)
thread.start()
for _ in range(500):
    limiter.await_insert(4)  # blocks whenever the sampler falls behind
time.sleep(0.05)
stop.set()
thread.join()
print(f"inserts {limiter.inserts}, samples {limiter.samples}, "
      f"measured ratio {limiter.measured_ratio():.3f} (target 0.25)")
""", "nbval-ignore-output")

md(r"""
Now the whole engine, on a short run: one actor with the ratio held at the default 0.5, and one actor
free-running. (Each run starts a process, which takes about a second and a half here.)
""")

code(r"""
short = TrainConfig(
    seed=SEED,
    total_steps=2000,
    learning_starts=400,
    eval_every=0,
    progress=False,
    torch_threads=1,
    actors=1,
    updates_per_step=0.5,
)
live_runs = {
    "held": train_actor_learner(short).summary,
    "free-running": train_actor_learner(
        dataclasses.replace(short, free_running=True)
    ).summary,
}
COLUMNS = [
    ("mode", "mode"),
    ("env_steps_per_s", "env steps/s"),
    ("updates_per_s", "updates/s"),
    ("updates_per_step_measured", "updates per env step"),
    ("weight_lag_mean", "lag mean"),
    ("weight_lag_max", "lag max"),
    ("actor_idle_frac", "actor idle"),
]
FORMATS = {
    "env_steps_per_s": "{:,.0f}",
    "updates_per_s": "{:,.0f}",
    "updates_per_step_measured": "{:.3f}",
    "weight_lag_mean": "{:.0f}",
    "actor_idle_frac": "{:.2f}",
}
display(
    table([{"mode": k, **s} for k, s in live_runs.items()], COLUMNS, FORMATS)
)
""", "nbval-ignore-output")

code(r"""
held = live_runs["held"]
assert abs(held["updates_per_step_measured"] / 0.5 - 1) <= 0.05, held
free = live_runs["free-running"]
assert free["updates_per_step_measured"] < 0.5, free
print("held within 5% of 0.5:", True)
glue("held_ratio", held["updates_per_step_measured"], display=False)
glue("free_ratio", free["updates_per_step_measured"], display=False)
glue("free_speed", free["env_steps_per_s"] / held["env_steps_per_s"], display=False)
glue("free_steps", free["env_steps_per_s"], display=False)
""", "remove-input")

md(r"""
Held, the run made {glue:text}`held_ratio:.3f` updates per env step; free-running, the actor stepped
{glue:text}`free_speed:.1f` times as fast and the learner kept up with only {glue:text}`free_ratio:.3f` updates
per env step: a different algorithm, which learns far less from each step. That is the trap of a free-running
engine: the speed-up is real and the comparison is not.

### The scaling table

`book/scripts/ch07_parallel.py` ran every combination of {one process, 1 actor, 2 actors} × {sync, async vector
env} × {CartPole at $R = 0.5$, the 1 ms env at $R = 0.02$}, in one interleaved pass, and beside it the
free-running runs. *Load* is the 1-minute load average of the machine before each run (2 cores: anything above 2
means the runs waited for a core).
""")

code(r"""
SCALE_COLUMNS = [
    ("env", "env"),
    ("vector", "vector env"),
    ("who", "processes"),
    ("env_steps_per_s", "env steps/s"),
    ("speedup", "speed-up"),
    ("updates_per_s", "updates/s"),
    ("updates_per_step_measured", "updates per env step"),
    ("weight_lag_mean", "lag mean"),
    ("weight_lag_max", "lag max"),
    ("load", "load"),
]
SCALE_FORMATS = {
    **FORMATS,
    "speedup": "{:.2f}",
    "updates_per_step_measured": "{:.4f}",
    "load": "{:.1f}",
}
single_rate = {
    (r["env"], r["vector"]): r["env_steps_per_s"]
    for r in results["scaling"]
    if r["actors"] == 0
}
scaling_rows = []
for r in results["scaling"]:
    who = "one process" if r["actors"] == 0 else f"{r['actors']} actor(s) + learner"
    if r["free_running"]:
        who += ", free-running"
    speedup = r["env_steps_per_s"] / single_rate[(r["env"], r["vector"])]
    scaling_rows.append({**r, "who": who, "speedup": speedup})
display(table(scaling_rows, SCALE_COLUMNS, SCALE_FORMATS))
""", "hide-input")

code(r"""
split_file = {(s["env"], s["vector"]): s for s in results["split"]}
amdahl_rows = []
for r in scaling_rows:
    if r["actors"] == 0 or r["free_running"]:
        continue
    s = split_file[(r["env"], r["vector"])]
    predicted = amdahl_speedup(
        s["t_act"], s["t_update"], r["updates_per_step"], r["actors"]
    )
    amdahl_rows.append(
        {**r, "predicted": predicted, "error": r["speedup"] / predicted - 1}
    )
display(
    table(
        amdahl_rows,
        [
            ("env", "env"),
            ("vector", "vector env"),
            ("actors", "actors"),
            ("predicted", "predicted speed-up"),
            ("speedup", "measured"),
            ("error", "measured / predicted - 1"),
        ],
        {"predicted": "{:.2f}", "speedup": "{:.2f}", "error": "{:+.0%}"},
    )
)
held_rows = [r for r in scaling_rows if r["actors"] and not r["free_running"]]
ratio_error = max(
    abs(r["updates_per_step_measured"] / r["updates_per_step"] - 1) for r in held_rows
)
slow_rows = [r for r in held_rows if r["env"] == "slow_1ms"]
best_slow_row = max(slow_rows, key=lambda r: r["speedup"])
best_slow = best_slow_row["speedup"]
best_slow_two = max(r["speedup"] for r in slow_rows if r["actors"] == 2)
best_cartpole = {
    v: max(
        r["speedup"]
        for r in held_rows
        if r["env"] == "cartpole" and r["vector"] == v
    )
    for v in ("sync", "async")
}
for v in ("sync", "async"):
    limit_v = split_file[("cartpole", v)]["amdahl_limit"]
    glue(f"limit_cartpole_{v}", limit_v, display=False)
glue("best_cartpole_async", best_cartpole["async"], display=False)
within = sum(abs(r["error"]) <= 0.15 for r in amdahl_rows)
glue("ratio_error", 100 * ratio_error, display=False)
glue("best_slow", best_slow, display=False)
glue("best_slow_actors", best_slow_row["actors"], display=False)
glue("best_slow_vector", best_slow_row["vector"], display=False)
glue("best_slow_two", best_slow_two, display=False)
glue("best_cartpole", best_cartpole["sync"], display=False)
glue("amdahl_within", f"{within} of {len(amdahl_rows)}", display=False)
cart_rows = [r for r in held_rows if r["env"] == "cartpole"]
lag_one = max(r["weight_lag_max"] for r in cart_rows if r["actors"] == 1)
lag_two = max(r["weight_lag_max"] for r in cart_rows if r["actors"] == 2)
defaults = TrainConfig()  # the scaling runs keep chunk_len, num_envs and sync_every
cart_ratio = cart_rows[0]["updates_per_step"]
chunk_updates = defaults.chunk_len * defaults.num_envs * cart_ratio
bound_one = defaults.sync_every + chunk_updates  # sync_every + one chunk
assert lag_one <= bound_one, (lag_one, bound_one)  # the handshake's bound
glue("lag_max_one", lag_one, display=False)
glue("lag_max_two", lag_two, display=False)
glue("lag_bound_two", defaults.sync_every - 1 + 2 * (chunk_updates + 1), display=False)
glue("grad_diff_file", results["ddp"]["max_abs_grad_diff"], display=False)
ray_run = results["ray"].get("run") or {}
ray_ratio = ray_run.get("updates_per_step_measured", float("nan"))
glue("ray_ratio", ray_ratio, display=False)
glue("ray_init", results["ray"]["init_seconds"], display=False)
""", "hide-input")

md(r"""
*Tables: the scaling runs and the Amdahl prediction from the measured split (`split` in the result file) against
the measured speed-up; from the result file, measured under load.*

What the numbers say:

* **The ratio is held.** Every limited run made its replay ratio to within {glue:text}`ratio_error:.1f`% of the
  target, with one actor or two.
* **Learner-bound stays learner-bound.** On CartPole at the default ratio with the sync vector env the best
  actor-learner run reached {glue:text}`best_cartpole:.2f` times the single process, against an Amdahl bound of
  {glue:text}`limit_cartpole_sync:.2f`: the processes and pipes cost more than the overlap gains. With the async
  vector env it reached {glue:text}`best_cartpole_async:.2f` (bound {glue:text}`limit_cartpole_async:.2f`), only
  because the one-process baseline there pays for the pipes itself.
* **Acting-bound scales.** On the 1 ms environment at $R = 0.02$ the best run ({glue:text}`best_slow_actors`
  actors, {glue:text}`best_slow_vector` vector envs) reached {glue:text}`best_slow:.1f` times the single process
  with the same vector env, two actors at most {glue:text}`best_slow_two:.1f`: an actor of this environment
  mostly sleeps, so the actors' sleeps overlap with each other and with the learner, and more actors than cores
  still pay. (With async vector envs the single process already overlaps its four envs' sleeps, so the actors
  add less over it.)
* **The model.** {glue:text}`amdahl_within` predictions fell within ±15% of the measured speed-up. The model
  assumes a core per process; here two cores are shared by the learner, the actors, their async env workers and
  other jobs, so it predicts best where the actors mostly sleep and overestimates where they compute.

### Learning parity: the same learner, split over processes

Speed is worth nothing if the split run learns worse. `benchmarks/compare.py --methods drqn,drqn_actors` trained
the package defaults on masked CartPole twice per seed, side by side on this machine: as one process, and as one
actor process feeding the learner with the ratio held at the defaults' one update per env step (the README's
benchmark protocol: 30,000 env steps, a greedy evaluation of 20 episodes every 2,500, solved at ≥ 475, then the live
learner's mean over 100 fresh episodes). The two runs of a seed are not the same run (the actor's exploration
stream and the order of updates and inserts differ), so what can be compared is the spread over seeds.
""")

code(r"""
parity_file = BOOK / "data" / "ch07_parity.json"
parity = json.loads(parity_file.read_text())
PARITY_NAMES = {"drqn": "one process", "drqn_actors": "1 actor + learner"}
parity_rows = []
for r in sorted(parity, key=lambda r: (r["seed"], r["method"])):
    parity_rows.append({
        "seed": r["seed"],
        "who": PARITY_NAMES[r["method"]],
        "first": "never" if r["steps_to_solve"] is None else f"{r['steps_to_solve']:,}",
        "final": r["final_mean"],
        "stayed": "–"
        if r["stayed_solved"] is None
        else f"{100 * r['stayed_solved']:.0f}%",
    })
display(table(parity_rows, [("seed", "seed"), ("who", "processes"),
                            ("first", "first solve (env steps)"),
                            ("final", "final 100-episode mean"),
                            ("stayed", "evaluations ≥ 475 after it")],
              {"final": "{:.1f}"}))
solve_steps = {
    m: [r["steps_to_solve"] for r in parity if r["method"] == m] for m in PARITY_NAMES
}
single = [s for s in solve_steps["drqn"] if s is not None]
split = [s for s in solve_steps["drqn_actors"] if s is not None]
n_single, n_split = len(solve_steps["drqn"]), len(solve_steps["drqn_actors"])
glue("parity_single_solved", f"{len(single)} of {n_single}", display=False)
glue("parity_split_solved", f"{len(split)} of {n_split}", display=False)
glue("parity_single_range", f"{min(single):,}–{max(single):,}", display=False)
glue("parity_split_range", f"{min(split):,}–{max(split):,}", display=False)
glue("parity_split_median", f"{int(np.median(split)):,}", display=False)
glue("parity_single_median", f"{int(np.median(single)):,}", display=False)
in_range = sum(min(single) <= s <= max(single) for s in split)
glue("parity_in_range", f"{in_range} of {len(split)}", display=False)
for m, key in (("drqn", "single"), ("drqn_actors", "split")):
    runs = [r for r in parity if r["method"] == m]
    stays = [r["stayed_solved"] for r in runs if r["stayed_solved"] is not None]
    glue(f"parity_{key}_stay", f"{100 * np.mean(stays):.0f}%", display=False)
    finals_ok = sum(r["final_mean"] >= 475 for r in runs)
    glue(f"parity_{key}_final", f"{finals_ok} of {len(runs)}", display=False)
""", "hide-input")

md(r"""
*Table: learning parity, from `book/data/ch07_parity.json` (written by `benchmarks/compare.py --seeds 5 --budget
30000 --jobs 2 --methods drqn,drqn_actors --out …`).* One process solved {glue:text}`parity_single_solved` seeds
(first solve {glue:text}`parity_single_range` env steps, median {glue:text}`parity_single_median`); one actor and
the learner solved {glue:text}`parity_split_solved` (first solve {glue:text}`parity_split_range`, median
{glue:text}`parity_split_median`), {glue:text}`parity_in_range` of them within the single process's range. So the
split learns as fast. It did not stay solved as well on these five seeds: {glue:text}`parity_split_stay` of the
evaluations after a first solve were ≥ 475 against {glue:text}`parity_single_stay`, and the final mean was ≥ 475 in
{glue:text}`parity_split_final` seeds against {glue:text}`parity_single_final`. Runs of the defaults swing after
their first solve, in one process too (chapter 4 measures how much and why), and five seeds cannot tell whether the
split adds to that.

### Weight lag and stale memories

An actor acts with the weights it last fetched. The learner counts, for each chunk it inserts, its own update
count minus the version that acted: the **weight lag**, in updates. It comes from the publication period
(`sync_every`) and from the updates the learner makes between two inserts of the actor's chunks. A chunk is worth
$c$ = `chunk_len` × `num_envs` × $R$ updates (32 here at $R = 0.5$). The limiter's band is the narrowest without a
dead zone, a tolerance of $(c + 1)/2$, so the learner makes at most $c + 1$ updates between two inserts; and an
actor acts its next chunk only after the learner has inserted its last one (it does not act a chunk ahead while
the previous one waits in the queue). With one actor the lag is therefore at most `sync_every` $- 1 + c + 1$ =
`sync_every` + $c$ updates; every other actor's chunk inserted in between adds up to $c + 1$ more. The stored
recurrent states inherit the lag: they were computed by older weights. Chapter 4's measure of
what that does to the Q-values, $\Delta Q$ (the relative gap between Q-values from the stored state and from a
state recomputed with the current weights over the episode so far), is shown against the publication period;
R2D2's actors, and Acme's R2D2, fetched weights every 400 steps {cite:p}`kapturowski2019r2d2,hoffman2020acme`.
""")

code(r"""
st = results["staleness"]
fig, ax = plt.subplots(1, 2, figsize=(8.5, 3.2))
labels = ["one process" if r["sync_every"] == 0 else str(r["sync_every"]) for r in st]
x = np.arange(len(st))
ax[0].bar(x, [r["delta_q_mean"] for r in st], color="C0")
ax[0].set(xticks=x, xticklabels=labels, xlabel="publication period (updates)",
          ylabel="mean $\\Delta Q$, stored-state start")
ax[1].bar(x - 0.2, [r["weight_lag_mean"] for r in st], 0.4, label="mean")
ax[1].bar(x + 0.2, [r["weight_lag_max"] for r in st], 0.4, label="max")
ax[1].set(xticks=x, xticklabels=labels, xlabel="publication period (updates)",
          ylabel="weight lag (updates)")
ax[1].legend()
for a in ax:
    a.grid(alpha=0.3, axis="y")
fig.tight_layout()
plt.show()
dq = {r["sync_every"]: r["delta_q_mean"] for r in st}
glue("dq_single", dq[0], display=False)
glue("dq_400", dq[max(dq)], display=False)
glue("lag_400", st[-1]["weight_lag_mean"], display=False)
""", "hide-input")

md(r"""
*Figure: left, Chapter 4's $\Delta Q$ of the stored-state start without burn-in at the end of a 3,000-step run
(one actor, CartPole, $R = 0.5$), against the publication period; right, the weight lag measured in the same
runs. From the result file; one seed per period.* The lag follows the period (a mean of
{glue:text}`lag_400:.0f` updates at 400), but $\Delta Q$ does not: it was {glue:text}`dq_single:.3f` for the
single process and {glue:text}`dq_400:.3f` at a period of 400, with no trend in between. At the end of a run the
replay holds states stored over more than a thousand updates, so the age of the data, not the actors' lag of a
few hundred updates, sets how stale the average stored state is; differences between single runs of one seed are
noise at this size. The lag matters where the replay is young relative to it (a small replay, a high ratio);
R2D2's burn-in (Chapter 4) is the repair either way.

## Data-parallel learners

When the learner is the bottleneck, the remedy is more learners: $W$ processes, each with its own share of the
batch, combining their gradients every update. `torchrun --nproc-per-node W -m rdqn_core train --ddp` starts $W$
single-process trainers whose `DataParallelAgent` makes one `torch.distributed` all-reduce after every backward
pass {cite:p}`li2020ddp`. The TD loss is a *masked* mean over valid trained steps, and ranks hold different
numbers of them (windows cut by episode ends), so a plain average of the ranks' gradients is not the gradient of
the whole batch. The all-reduce therefore sums count-weighted gradients and the counts:

$$
g = \frac{\sum_r c_r\, g_r}{\sum_r c_r}, \qquad
g_r = \nabla \frac{1}{c_r} \sum_{i \in \text{rank } r} \ell_i .
$$

The check below launches two gloo ranks with `torchrun` and compares one update on a global batch of 16 windows
against one process on the same 16: the gradient before clipping, and the parameters after the clip (which
bites: the threshold is set below the norm) and the Adam step.
""")

code(r"""
env = {**os.environ, "OMP_NUM_THREADS": "1"}
cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
       "--nproc-per-node", "2", "-m", "rdqn_core.parallel.data_parallel", str(SEED)]
completed = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
assert completed.returncode == 0, completed.stderr[-2000:]
check = json.loads(completed.stdout.strip().splitlines()[-1])
print("valid trained steps per rank:", check["valid_counts"])
print(f"max |grad difference| {check['max_abs_grad_diff']:.1e} "
      f"(largest gradient entry {check['max_abs_grad']:.2f})")
param_diff = check["max_abs_param_diff_after_step"]
print(f"max |parameter difference| after clip + Adam {param_diff:.1e}")
""", "nbval-ignore-output")

code(r"""
assert check["world_size"] == 2 and len(set(check["valid_counts"])) == 2
assert check["grad_norm"] > check["max_grad_norm"]
assert check["max_abs_grad_diff"] <= 1e-6
assert check["max_abs_param_diff_after_step"] <= 1e-6
print("two ranks equal one process to 1e-6:", True)
ddp = results["ddp"]
glue("ddp_ms", ddp["ms_per_update_parallel"], display=False)
glue("one_ms", ddp["ms_per_update_one_process"], display=False)
steps_256 = 256 * free["env_steps_per_s"]
glue("steps_256", steps_256, display=False)
glue("ratio_256", 1e3 / ddp["ms_per_update_one_process"] / steps_256, display=False)
glue(
    "ddp_slowdown",
    ddp["ms_per_update_parallel"] / ddp["ms_per_update_one_process"],
    display=False,
)
""", "remove-input")

md(r"""
The two ranks agree with the single process to float32 rounding. Now the honest part: on this machine DDP is a
correctness demonstration, **not a speed-up**. The result file timed 200 updates of each: two ranks, each on 8
windows plus the all-reduce, took {glue:text}`ddp_ms:.1f` ms per update, one process on all 16 windows
{glue:text}`one_ms:.1f` ms ({glue:text}`ddp_slowdown:.1f` times slower in parallel). The network is small, so an
update is dominated by fixed per-call costs that splitting the batch does not shrink, and the two ranks share two
cores with everything else. Data parallelism pays where one rank's update is large and each rank has its own
accelerator: NCCL with one GPU per rank (`--nproc-per-node` = GPUs per machine; one GPU cannot host two NCCL
ranks), and `--nnodes N --rdzv-backend c10d --rdzv-endpoint HOST:29400` across machines.

## Ray: actors on many machines

Processes on one machine stop at its core count. Past it, an existing distributed engine is the right tool, not
a home-made one. `--engine ray` runs the *same* actor loop as Ray tasks {cite:p}`moritz2018ray`, with a small Ray
actor (the hub) as the transport: a bounded queue of chunks, the published weights with their version, and the
env-step count. The learner loop, the rate limiter and the replay do not change; the engine owns processes and
bytes, the algorithm stays in `rdqn_core`.

Ray is an optional dependency (`pip install -r requirements-ray.txt`, or `pip install "rdqn-core[ray]"`): about
80 MB and 20 s to install, several seconds to start and hundreds of MB of background processes, none of which a
reader of this book needs for the other pages, so `requirements.txt` does not carry it. CI installs it and runs a
smoke test of `--engine ray --actors 2`; this page does not start Ray, and reads its measured run from the result
file:
""")

code(r"""
ray_info = results["ray"]
if ray_info["installed"]:
    run = ray_info["run"]
    print(f"Ray {ray_info['version']}: ray.init took {ray_info['init_seconds']:.1f} s")
    print(f"2 actors as Ray tasks: {run['env_steps_per_s']:.0f} env steps/s, "
          f"{run['updates_per_step_measured']:.3f} updates per env step (target 0.5), "
          f"weight lag mean {run['weight_lag_mean']:.0f}, max {run['weight_lag_max']}")
else:
    print("Ray was not installed when the result file was made")
""", "nbval-ignore-output")

md(r"""
On a cluster, the commands are:

```bash
ray start --head                  # on the head node; `ray start --address HEAD:6379` on the others
python -m rdqn_core train --actors 256 --engine ray --ray-address auto --updates-per-step 0.002
torchrun --nnodes 4 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HEAD:29400 \
    -m rdqn_core train --ddp --batch-size 256      # data-parallel learners, one GPU per rank
```

## Ape-X, R2D2, SEED RL and this code

| | Ape-X {cite:p}`horgan2018apex` | R2D2 {cite:p}`kapturowski2019r2d2` | SEED RL {cite:p}`espeholt2020seed` | `rdqn_core.parallel` |
|---|---|---|---|---|
| actors | 360 CPU actors, each its own network copy | 256 actors with LSTM copies | actors only step envs | `--actors N` processes or Ray tasks, each a network copy |
| inference | on the actors | on the actors | central, batched, on the learner's accelerator | on the actors (CPU) |
| replay | central, prioritized | central, prioritized sequences with stored states | central | in the learner, one shard per actor, optional prioritization |
| replay ratio | whatever the actors produce | whatever the actors produce | — | held by a rate limiter (`--updates-per-step`) or free-running |
| weight refresh | every 400 frames | every 400 steps | always current (central inference) | every `--sync-every` updates, with a version |
| learners | 1 GPU | 1 GPU | 1 host with TPU cores | 1, or `--ddp` ranks |

What changes at 256 actors: with the single-node numbers measured on this page, one free-running CPU actor made
{glue:text}`free_steps:,.0f` env steps per second on CartPole, so 256 of them would insert
{glue:text}`steps_256:,.0f` per second, and one learner at {glue:text}`one_ms:.1f` ms per update could hold a
replay ratio of only about {glue:text}`ratio_256:.1e` updates per env step. That is why Ape-X and R2D2 let the actors run free and replay each step rarely, and why
SEED RL moved inference to the learner: 256 copies of the network need 256 weight refreshes, and their stale
memories need burn-in. The rate limiter here makes the trade explicit instead of accidental.
""")

md(r"""
## Play with the budget

The widget predicts the speed-up of $N$ actors over one process from the measured split of the result file, for
a replay ratio you choose; the measured runs are the points.
""")

code(r"""
def budget_plot(env="slow_1ms", vector="sync", ratio=0.02, ax=None):
    s = split_file[(env, vector)]
    actors = np.arange(1, 17)
    speedup = amdahl_speedup(s["t_act"], s["t_update"], ratio, actors)
    show = ax is None
    if show:
        fig, ax = plt.subplots(figsize=(6.5, 3.4))
    ax.plot(actors, speedup, "-", label=f"predicted at R = {ratio:g}")
    p = s["t_act"] / (s["t_act"] + ratio * s["t_update"])
    ax.axhline(1 / (1 - p), color="gray", ls=":", label=f"1/(1-p) = {1 / (1 - p):.1f}")
    measured = [
        r for r in held_rows
        if r["env"] == env and r["vector"] == vector
        and np.isclose(r["updates_per_step"], ratio)
    ]
    if measured:
        ax.plot(
            [r["actors"] for r in measured],
            [r["speedup"] for r in measured],
            "o",
            color="C3",
            label="measured (result file)",
        )
    ax.set(xlabel="actors N", ylabel="speed-up over one process", ylim=(0, None))
    ax.set_title(f"{env}, {vector} vector env", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if show:
        plt.show()


widgets.interact(
    budget_plot,
    env=widgets.Dropdown(options=["cartpole", "slow_1ms"], value="slow_1ms"),
    vector=widgets.Dropdown(options=["sync", "async"], value="sync"),
    ratio=widgets.FloatLogSlider(
        value=0.02, base=10, min=-3, max=0, step=0.25, description="ratio R"
    ),
    ax=widgets.fixed(None),
);
""", "hide-input", "nbval-ignore-output")

md(r"""
In the static book the slider above is a picture; the player below steps through replay ratios from 0.001 to 1
(for the 1 ms environment, sync vector env) without a kernel.
""")

code(r"""
RATIOS = [0.001, 0.003, 0.01, 0.02, 0.05, 0.1, 0.3, 1.0]
fig, ax = plt.subplots(figsize=(6.5, 3.4), dpi=60)


def show_ratio(ratio):
    ax.clear()
    budget_plot("slow_1ms", "sync", ratio, ax=ax)
    ax.set_ylim(0, 17)


offline_player(fig, show_ratio, RATIOS, interval_ms=700)
""", "hide-input", "nbval-ignore-output")

md(r"""
*Player: the predicted speed-up of $N$ actors against $N$ for eight replay ratios; the dotted line is Amdahl's
bound $1/(1-p)$.* At low ratios the curve climbs with every actor until the learner saturates; at high ratios it
is flat from the first.

## Summary

* Vector environments: `SyncVectorEnv` for cheap simulators (asynchronous lost here on CartPole), `AsyncVectorEnv`
  when a step waits; a DRQN carries one memory per environment and resets each at its own episode start.
* Measure where the time goes first. With the defaults the updates take most of it, and Amdahl's law caps any
  parallel acting at a fixed replay ratio near 1; at low replay ratios acting dominates and actors pay.
* `train --actors N` runs actor processes and one learner; a rate limiter with Reverb's semantics holds the
  replay ratio (`--updates-per-step`), `--free-running` shows what happens without it: faster, and a different
  algorithm.
* Weights and normalizer statistics travel with a version; the weight lag is measured (it grows with the
  publication period), and on these short runs the replay's age, not the lag, dominated the staleness of stored
  states.
* `torchrun ... train --ddp`: data-parallel learners whose combined gradient equals the full-batch gradient of a
  global masked mean; on two CPU cores a correctness demonstration, not a speed-up.
* `--engine ray` runs the same actors on a Ray cluster; the algorithm stays in `rdqn_core`.

## Exercises

1. Run `python -m rdqn_core train --actors 2 --free-running --total-steps 20000` and the same with the ratio held.
   Compare the steps to reach an evaluation return of 400 and the wall time.
2. Change `chunk_len` from 16 to 4 and to 64 in the short run above. What happens to the weight lag, and why?
3. The learner here publishes every `sync_every` updates. Ape-X's actors instead *pull* every 400 frames. What
   would change in the measured lag?
4. Derive the replay ratio a learner at 10 ms per update can hold with 256 actors at 2,000 env steps/s each.

```{admonition} Solution 1
:class: dropdown
Free-running, the learner makes only a small fraction of the updates per env step of the held run (the table
above: a few percent of 0.5), so it needs many more env steps to learn the same; whether it needs less *wall
time* depends on how much faster the actors run. Measure both with `--eval-every 2500 --solve-threshold 400` and
compare `steps_to_solve` and `wall_seconds_to_solve` in the printed JSON.
```

```{admonition} Solution 2
:class: dropdown
A chunk of `chunk_len` × `num_envs` env steps lets the learner make `chunk_len` × `num_envs` × $R$ updates while
the next chunk is collected, and a chunk waits for up to one more chunk's worth in the queue. With 4 envs and
$R = 0.5$: 8, 32 and 128 updates for chunks of 4, 16 and 64 steps, on top of the publication period. Smaller
chunks cut the lag and cost more messages.
```

```{admonition} Solution 3
:class: dropdown
Pulling every 400 frames makes the lag depend on how many updates the learner makes in 400 frames, i.e. on the
replay ratio: $400 R$ updates per refresh on average. With a free-running Ape-X learner and hundreds of actors
$R$ is tiny and so is the lag in updates, but each chunk is still acted by weights up to 400 frames old.
```

```{admonition} Solution 4
:class: dropdown
256 × 2,000 = 512,000 env steps/s; the learner makes 100 updates/s; the ratio is $100 / 512{,}000 \approx
2 \times 10^{-4}$ updates per env step. Holding the default 0.5 would throttle the actors to 200 env steps/s in
total, less than one actor alone.
```

## Closing note: the chapter's targets, measured

All from this page and its result file (2 shared, loaded CPU cores; no GPU was available for the learner-on-GPU
table, which is left undone):

* gradient equality, 2 gloo ranks against one process, unequal valid counts, clip biting: max difference
  {glue:text}`grad_diff_file:.1e` (target ≤ 1e-6: met); world size 1 is bitwise identical (a unit test);
* replay ratio held to within {glue:text}`ratio_error:.1f`% with 1 and 2 actors (target ±5%: met); largest weight
  lag with one actor {glue:text}`lag_max_one:.0f` updates (target ≤ `sync_every` + one chunk = 52: met, since an
  actor acts its next chunk only after its last one is inserted and the limiter's band is one chunk wide); with
  two actors {glue:text}`lag_max_two:.0f` (each other actor's chunk adds up to a chunk: bound
  {glue:text}`lag_bound_two:.0f`);
* speed-ups: learner-bound CartPole {glue:text}`best_cartpole:.2f` (sync), within Amdahl's bound of
  {glue:text}`limit_cartpole_sync:.2f` (the issue expected at most about 1.05: a few percent more, reported as measured);
  1 ms env {glue:text}`best_slow:.1f` with {glue:text}`best_slow_actors` actors (target ≥ 3: met; two actors
  {glue:text}`best_slow_two:.1f`); Amdahl within ±15% in {glue:text}`amdahl_within` cases;
* DDP {glue:text}`ddp_slowdown:.1f` times slower than one process per update (a correctness demonstration);
* Ray: `ray.init` {glue:text}`ray_init:.1f` s, 2 actors held the ratio at {glue:text}`ray_ratio:.3f`;
* learning parity over 5 seeds (the `benchmarks/compare.py` protocol): one process solved
  {glue:text}`parity_single_solved` (first solve {glue:text}`parity_single_range` env steps), one actor and the
  learner {glue:text}`parity_split_solved` ({glue:text}`parity_split_range`), {glue:text}`parity_in_range` within the
  single process's range.
""")


if __name__ == "__main__":
    book.write(OUT)
