"""Configuration as one frozen dataclass; the command line is generated from it.

Every field has its help text in ``metadata["help"]`` (shown by ``--help`` and by
:func:`describe_config`) and its allowed range in the metadata too, checked when a
config is built. Notebooks change a field with ``dataclasses.replace``. The defaults
train a DRQN that solves velocity-masked CartPole (Chapter 4).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .types import ACTION_HEADS, INITIAL_STATES, LOSSES, MASKED_CARTPOLE_ID, NETWORK_CELLS

__all__ = ["TrainConfig", "describe_config", "config_from_dict"]


def _f(default, help: str, *, low=None, high=None, low_open: bool = False, none_ok: bool = False, **kw):
    """A field with its help and its range: ``low <= x <= high`` (``low < x`` with ``low_open``)."""
    meta = {"help": help, "low": low, "high": high, "low_open": low_open, "none_ok": none_ok, **kw}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Steps are environment steps summed over all envs."""

    env_id: str = _f(MASKED_CARTPOLE_ID, "gymnasium id (ours: rdqn/MaskedCartPole-v0, rdqn/FlickerCartPole-v0, "
                                          "rdqn/StackedMaskedCartPole-v0) or 'package.module:callable' "
                                          "returning a gymnasium.Env")
    env_kwargs: dict[str, Any] = _f({}, "keyword arguments for gym.make or the env callable "
                                        "(command line: a JSON object, e.g. '{\"p\": 0.3}')")
    action_bins: int | None = _f(None, "discretize a continuous (Box) action space into this many levels per "
                                       "dimension with gymnasium's DiscretizeAction (Chapter 6; none: the env's "
                                       "actions must be discrete already)", low=2, none_ok=True)
    action_head: str = _f("joint", "Q outputs for several action dimensions: 'joint' (one per combination, K**d) or "
                                   "'branching' (one head of K per dimension, K*d, mean-aggregated targets; "
                                   "Tavakoli et al., 2018)", choices=ACTION_HEADS)
    seed: int = _f(0, "seed for torch, numpy, the environments and exploration", low=0)
    total_steps: int = _f(50_000, "environment steps to train for (all envs together)", low=1)
    num_envs: int = _f(4, "parallel environments in the gymnasium vector env; one hidden state each", low=1)
    cell: str = _f("lstm", "Q-network memory: 'mlp' (memoryless DQN), a recurrent cell, or 'conv' (memoryless, "
                           "one Q per cell of a (channels, rows, cols) board observation, with the action mask "
                           "of channel 0; the command line picks it for such observations unless --cell is "
                           "given)", choices=NETWORK_CELLS)
    hidden_size: int = _f(64, "width of the recurrent state (or of the MLP's last hidden layer)", low=1)
    encoder_sizes: tuple[int, ...] = _f((64,), "hidden layer widths of the MLP encoder before the memory "
                                               "(cell 'conv': widths of its 3x3 convolutions)")
    prev_action_input: bool = _f(True, "feed the previous action (one-hot) as input; it helps a DRQN infer velocity")
    normalize_obs: bool = _f(True, "standardize observations with running statistics of the collected data")
    obs_norm_steps: int | None = _f(None, "environment steps whose observations update the normalizer's "
                                          "statistics, frozen afterwards (none: the whole run)", low=1, none_ok=True)
    dueling: bool = _f(False, "dueling head: Q = V + A - mean(A) (Wang et al., 2016)")
    layer_norm: bool = _f(False, "LayerNorm after every hidden linear layer of encoder and head")
    board_symmetries: bool = _f(False, "cell 'conv' (Chapter 8): train every replayed window on a random turn or "
                                       "mirror of its board (8 on a square board, 4 on a rectangle), actions moved "
                                       "with the cells; the board game's rules must not change under them")
    buffer_size: int = _f(50_000, "replay capacity in environment steps", low=1)
    batch_size: int = _f(32, "windows per gradient update", low=1)
    seq_len: int = _f(8, "trained steps per replayed window (1 for a memoryless DQN)", low=1)
    burn_in: int = _f(4, "steps replayed before the trained ones only to produce their start memory: no loss and "
                         "no gradient flows through them (R2D2)", low=0)
    initial_state: str = _f("stored", "memory at the start of a window: 'zero' or the 'stored' one the actor had",
                            choices=INITIAL_STATES)
    n_steps: int = _f(5, "rewards summed before bootstrapping (n-step return)", low=1)
    gamma: float = _f(0.99, "discount factor", low=0.0, high=1.0)
    double_dqn: bool = _f(True, "pick the bootstrap action with the online net, value it with the target net")
    advantage_learning: float = _f(0.0, "advantage learning: lower each target by this times the target net's "
                                        "action gap at o_t, widening the gap the greedy choice rests on (Bellemare "
                                        "et al., 2016: 0.9; 0: plain Q-learning)", low=0.0, high=0.99)
    value_rescaling: bool = _f(False, "learn h(Q) with R2D2's h(x) = sign(x)(sqrt(|x| + 1) - 1) + 1e-3 x, targets "
                                      "h(sums + discounts * h^-1(bootstrap)): squashes returns near 1/(1 - gamma); "
                                      "the network's outputs are then h(Q), not Q")
    loss: str = _f("huber", "TD loss: 'huber' or 'mse' regress Q on its target; 'hl_gauss' learns a histogram of Q "
                            "over value_bins bins on [value_min, value_max] by cross-entropy with a Gaussian "
                            "around the target (Farebrother et al., 2024)", choices=LOSSES)
    value_bins: int = _f(101, "loss 'hl_gauss': bins of the value histogram", low=2)
    value_min: float | None = _f(None, "loss 'hl_gauss': lowest value the histogram covers (targets below are "
                                       "clipped). none (with value_max none): from the task, the rewards seen "
                                       "before learning starts and gamma (losses.value_range_from_rewards; "
                                       "CartPole: [-10, 110])", none_ok=True)
    value_max: float | None = _f(None, "loss 'hl_gauss': highest value the histogram covers (targets above are "
                                       "clipped); none: from the task, as value_min", none_ok=True)
    value_sigma: float | None = _f(None, "loss 'hl_gauss': width of the Gaussian around each target, in units of "
                                         "the largest |reward| seen before learning starts (needs the range from "
                                         "the task); none: 0.75 bin widths (Farebrother et al., 2024)",
                                   low=0.0, low_open=True, none_ok=True)
    learning_rate: float = _f(1e-3, "Adam learning rate", low=0.0, low_open=True)
    adam_eps: float = _f(1e-8, "Adam's epsilon, added to the root of the second-moment estimate: larger values damp "
                              "the steps Adam takes on tiny gradients (torch: 1e-8; R2D2: 1e-3; Dopamine's "
                              "DQN: 0.01/32)", low=0.0, low_open=True)
    lr_end: float | None = _f(1e-4, "anneal the learning rate linearly to this over lr_decay_steps env steps, "
                                    "then keep it (none: constant)", low=0.0, none_ok=True)
    lr_decay_steps: int = _f(30_000, "environment steps over which the learning rate falls to lr_end", low=0)
    max_grad_norm: float = _f(10.0, "clip the global gradient norm to this (0 disables clipping)", low=0.0)
    target_update_period: int = _f(250, "updates between target-network syncs", low=1)
    target_tau: float = _f(1.0, "at every sync the target moves by tau towards the online net: 1.0 copies "
                                 "(hard update, DQN); < 1 with period 1 is Polyak averaging", low=0.0, high=1.0,
                           low_open=True)
    average_tau: float = _f(0.0, "Polyak-Ruppert averaging of the online weights: after every update an average "
                                  "moves by tau towards them, and the average plays every greedy episode "
                                  "(evaluations, checkpoints, the evaluate command); exploration still acts with "
                                  "the online net, so training is unchanged (0: the online net plays)",
                            low=0.0, high=1.0)
    priority_exponent: float = _f(0.0, "prioritized sequence replay: sample windows with probability ~ priority ** "
                                       "this (0: uniform; R2D2: 0.9)", low=0.0, high=1.0)
    importance_exponent: float = _f(0.6, "importance-sampling exponent beta of prioritized replay (R2D2: 0.6)",
                                    low=0.0, high=1.0)
    priority_eta: float = _f(0.9, "a window's priority: eta * max |TD error| + (1 - eta) * mean |TD error| (R2D2)",
                             low=0.0, high=1.0)
    updates_per_step: float = _f(1.0, "gradient updates per environment step (the replay ratio; 1.0 since the "
                                      "reliable-learner issue: at 0.5, 5 of 10 seeds ended below 475)",
                                 low=0.0, low_open=True)
    learning_starts: int = _f(1_000, "environment steps of random play before the first update", low=0)
    # Chapter 7: actors and learners (the defaults keep the single-process trainer)
    actors: int = _f(0, "actor processes feeding one learner (0: the single-process trainer); the learner holds "
                        "updates_per_step with a blocking rate limiter", low=0)
    sync_every: int = _f(20, "actor-learner: updates between publications of weights and normalizer statistics",
                         low=1)
    chunk_len: int = _f(16, "actor-learner: vector steps an actor collects before sending them as one chunk", low=1)
    free_running: bool = _f(False, "actor-learner: do not hold updates_per_step; act and learn as fast as each "
                                   "side can and report the ratio got")
    engine: str = _f("mp", "actor-learner: who runs the actors: 'mp' (processes on this machine) or 'ray' (Ray core, "
                           "also across machines; pip install -r requirements-ray.txt)", choices=("mp", "ray"))
    ray_address: str | None = _f(None, "engine 'ray': the cluster to join ('auto': the running one; none: start a "
                                       "local Ray)", none_ok=True)
    vector_env: str = _f("sync", "gymnasium vector env: 'sync' (one process) or 'async' (a process per env)",
                         choices=("sync", "async"))
    eps_start: float = _f(1.0, "initial exploration rate of epsilon-greedy", low=0.0, high=1.0)
    eps_end: float = _f(0.01, "final exploration rate", low=0.0, high=1.0)
    eps_decay_steps: int = _f(10_000, "environment steps over which epsilon decays linearly", low=0)
    eval_every: int = _f(2_500, "environment steps between greedy evaluations (0: never)", low=0)
    eval_episodes: int = _f(20, "episodes per greedy evaluation, each from a fresh memory", low=1)
    solve_threshold: float | None = _f(None, "stop once an evaluation mean reaches this (none: never stop early)",
                                       none_ok=True)
    checkpoint_every: int = _f(0, "with an output folder: environment steps between resumable checkpoints "
                                  "(0: only at evaluations and at the end)", low=0)
    device: str = _f("auto", "'auto' (CUDA if present), 'cpu', 'cuda' or 'cuda:N'")
    torch_threads: int = _f(0, "torch.set_num_threads value (0: leave torch's default)", low=0)
    progress: bool = _f(True, "show a tqdm progress bar")

    def __post_init__(self) -> None:
        if isinstance(self.encoder_sizes, list):  # e.g. from JSON; a frozen config keeps a tuple
            object.__setattr__(self, "encoder_sizes", tuple(self.encoder_sizes))
        for f in dataclasses.fields(self):
            _check_field(f, getattr(self, f.name))
        if self.eps_end > self.eps_start:
            raise ValueError(f"need eps_end <= eps_start, got eps_end={self.eps_end}, eps_start={self.eps_start}")
        if self.lr_end is not None and self.lr_end > self.learning_rate:
            raise ValueError(f"lr_end={self.lr_end} must not exceed learning_rate={self.learning_rate} (annealing "
                             "goes down); lower lr_end, or set it to None (--lr-end none) for a constant rate")
        if any(int(s) < 1 for s in self.encoder_sizes):
            raise ValueError(f"encoder_sizes must be positive integers, got {self.encoder_sizes}")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ValueError(f"device={self.device!r} is not allowed; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
        try:
            json.dumps(self.env_kwargs)
        except TypeError as err:
            raise ValueError(f"env_kwargs must hold JSON values only (numbers, strings, lists, dicts): {err}") from None
        if self.cell in ("mlp", "conv") and (self.seq_len != 1 or self.burn_in != 0 or self.initial_state != "zero"):
            raise ValueError(f"cell={self.cell!r} has no memory: use seq_len=1, burn_in=0, initial_state='zero' "
                             f"(TrainConfig.{'board' if self.cell == 'conv' else 'memoryless'}() sets them)")
        if isinstance(self.action_bins, bool) or not isinstance(self.action_bins, (int, type(None))):
            raise ValueError(f"action_bins must be an integer >= 2 or None, got {self.action_bins!r}")
        if self.action_head == "branching" and (self.action_bins is None or self.cell == "conv"):
            raise ValueError("action_head='branching' needs action_bins (K choices per action dimension, "
                             f"--action-bins K) and an 'mlp' or recurrent cell; got action_bins={self.action_bins}, "
                             f"cell={self.cell!r}")
        if self.board_symmetries and self.cell != "conv":
            raise ValueError(f"board_symmetries=True turns board observations: it needs cell='conv' "
                             f"(TrainConfig.board()), got cell={self.cell!r}")
        if self.loss == "hl_gauss":
            auto = (self.value_min is None, self.value_max is None)
            if auto == (True, True):
                if self.gamma >= 1.0:
                    raise ValueError("loss='hl_gauss' takes its value range from the rewards and gamma, which needs "
                                     "gamma < 1; with gamma=1 set value_min and value_max")
            elif any(auto) or not (math.isfinite(self.value_min) and math.isfinite(self.value_max)
                                   and self.value_min < self.value_max):
                raise ValueError(f"loss='hl_gauss' needs finite value_min < value_max, or both none (from the "
                                 f"task), got value_min={self.value_min}, value_max={self.value_max}")
            if self.value_sigma is not None and self.value_min is not None:
                raise ValueError(f"value_sigma={self.value_sigma} is in units of the rewards seen, which the agent "
                                 "reads when it takes the value range from the task: leave value_min and "
                                 "value_max none, or leave value_sigma none (0.75 bin widths)")
            clash = [name for name, on in (("cell='conv'", self.cell == "conv"), ("dueling", self.dueling),
                                           ("action_head='branching'", self.action_head == "branching"),
                                           ("value_rescaling", self.value_rescaling)) if on]
            if clash:
                raise ValueError(f"loss='hl_gauss' (a histogram head) does not combine with {', '.join(clash)}; "
                                 "use loss 'huber' or 'mse' there")
        elif self.value_sigma is not None:
            raise ValueError(f"value_sigma={self.value_sigma} sets the target Gaussian of the histogram loss: it needs "
                             f"loss='hl_gauss', got loss={self.loss!r}")
        if self.cell == "conv" and (self.prev_action_input or self.normalize_obs):
            raise ValueError("cell='conv' reads the board as it is: use prev_action_input=False and "
                             "normalize_obs=False (TrainConfig.board() sets them)")

    @classmethod
    def memoryless(cls, **overrides) -> "TrainConfig":
        """A DQN without memory: MLP, windows of one step, no previous-action input."""
        base = dict(cell="mlp", seq_len=1, burn_in=0, initial_state="zero", prev_action_input=False)
        return cls(**{**base, **overrides})

    @classmethod
    def board(cls, **overrides) -> "TrainConfig":
        """A memoryless DQN with the convolutional per-cell network for board observations (Chapter 8).

        :meth:`memoryless` with ``cell="conv"``, three 3x3 convolutions of width 64 and no observation
        normalizer (the board is one-hot already, and the mask channel must reach the network as it is).
        """
        base = dict(cell="conv", encoder_sizes=(64, 64, 64), normalize_obs=False)
        return cls.memoryless(**{**base, **overrides})

    def value_support(self) -> tuple[float | None, float | None, int] | None:
        """``(value_min, value_max, value_bins)`` of the histogram head with ``loss='hl_gauss'``, else None
        (the ends are None when the range comes from the task: :meth:`~rdqn_core.agent.QAgent.fit_value_range`)."""
        return (self.value_min, self.value_max, self.value_bins) if self.loss == "hl_gauss" else None

    def expected_updates(self) -> int:
        """Gradient updates a full run makes: ``updates_per_step`` per env step after ``learning_starts``.

        A run takes whole vector steps, so it ends at ``total_steps`` rounded up to a multiple of ``num_envs``.
        """
        steps = -(-self.total_steps // self.num_envs) * self.num_envs
        return int(math.floor(max(0, steps - self.learning_starts) * self.updates_per_step))


def _check_field(f: dataclasses.Field, value: Any) -> None:
    meta = f.metadata
    if value is None:
        if not meta.get("none_ok"):
            raise ValueError(f"{f.name} must not be None")
        return
    allowed = meta.get("choices")
    if allowed and value not in allowed:
        raise ValueError(f"{f.name}={value!r} is not allowed; choose one of {', '.join(allowed)}")
    low, high = meta.get("low"), meta.get("high")
    if low is None and high is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{f.name} must be a number, got {value!r}")
    too_low = low is not None and (value <= low if meta.get("low_open") else value < low)
    if too_low or (high is not None and value > high):
        left = "(" if meta.get("low_open") else "["
        bounds = f"{left}{low if low is not None else '-inf'}, {high if high is not None else 'inf'}"
        bounds += "]" if high is not None else ")"
        raise ValueError(f"{f.name}={value!r} is out of range; allowed: {bounds}")


def describe_config(config_cls=TrainConfig) -> str:
    """A plain-text table of every field, its default and its help."""
    lines = []
    for f in dataclasses.fields(config_cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        lines.append(f"{f.name:22s} {default!r:24s} {f.metadata['help']}")
    return "\n".join(lines)


def config_from_dict(values: dict) -> TrainConfig:
    """Rebuild a config from ``dataclasses.asdict`` output (e.g. from a checkpoint), checking field names."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown config fields {sorted(unknown)}; allowed: {sorted(names)}")
    values = dict(values)
    if "encoder_sizes" in values:
        values["encoder_sizes"] = tuple(values["encoder_sizes"])
    if "checkpoint_every" not in values:  # written before the layered package (result files, checkpoints)
        if values.get("solve_threshold") == 0.0:
            values["solve_threshold"] = None  # 0.0 meant "never stop"
        if values.get("target_tau", 1.0) < 1.0:
            values["target_update_period"] = 1  # Polyak every update; the period was ignored then
        values.setdefault("lr_end", None)  # the learning rate was constant then
    return TrainConfig(**values)
