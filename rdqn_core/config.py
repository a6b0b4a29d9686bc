"""Configuration as one frozen dataclass; the command line is generated from it.

Every field has its help text in ``metadata["help"]`` (shown by ``--help`` and by
:func:`describe_config`). Notebooks change a field with ``dataclasses.replace``.
The defaults train a DRQN that solves velocity-masked CartPole (Chapter 4).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .envs import MASKED_CARTPOLE_ID
from .losses import LOSSES
from .networks import CELL_TYPES
from .replay import INITIAL_STATES

__all__ = ["TrainConfig", "describe_config", "config_from_dict"]


def _f(default, help: str, **kw):
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Steps are environment steps summed over all envs."""

    env_id: str = _f(MASKED_CARTPOLE_ID, "gymnasium id (ours: rdqn/MaskedCartPole-v0, rdqn/FlickerCartPole-v0) "
                                          "or 'package.module:callable' returning a gymnasium.Env")
    seed: int = _f(0, "seed for torch, numpy, the environments and exploration")
    total_steps: int = _f(50_000, "environment steps to train for (all envs together)")
    num_envs: int = _f(4, "parallel environments in the gymnasium vector env; one hidden state each")
    cell: str = _f("lstm", "Q-network memory: 'mlp' (memoryless DQN) or a recurrent cell", choices=("mlp",) + CELL_TYPES)
    hidden_size: int = _f(64, "width of the recurrent state (or of the MLP's last hidden layer)")
    encoder_sizes: tuple[int, ...] = _f((64,), "hidden layer widths of the MLP encoder before the memory")
    prev_action_input: bool = _f(True, "feed the previous action (one-hot) as input; it helps a DRQN infer velocity")
    normalize_obs: bool = _f(True, "standardize observations with running statistics of the collected data")
    buffer_size: int = _f(50_000, "replay capacity in environment steps")
    batch_size: int = _f(32, "windows per gradient update")
    seq_len: int = _f(8, "trained steps per replayed window (1 for a memoryless DQN)")
    burn_in: int = _f(4, "steps replayed before the trained ones to warm up the memory, without loss (R2D2)")
    initial_state: str = _f("stored", "state at the start of a window: 'zero' or the 'stored' one", choices=INITIAL_STATES)
    n_steps: int = _f(5, "rewards summed before bootstrapping (n-step return)")
    gamma: float = _f(0.99, "discount factor")
    double_dqn: bool = _f(True, "pick the bootstrap action with the online net, value it with the target net")
    loss: str = _f("huber", "TD loss", choices=LOSSES)
    learning_rate: float = _f(1e-3, "Adam learning rate")
    max_grad_norm: float = _f(10.0, "clip the global gradient norm to this (0 disables clipping)")
    target_update_period: int = _f(250, "updates between target-network syncs")
    target_tau: float = _f(0.01, "sync weight: 1.0 copies (hard update); <1 moves the target by tau every update (Polyak)")
    updates_per_step: float = _f(0.5, "gradient updates per environment step")
    learning_starts: int = _f(1_000, "environment steps of random play before the first update")
    eps_start: float = _f(1.0, "initial exploration rate of epsilon-greedy")
    eps_end: float = _f(0.01, "final exploration rate")
    eps_decay_steps: int = _f(10_000, "environment steps over which epsilon decays linearly")
    eval_every: int = _f(2_500, "environment steps between greedy evaluations (0: never)")
    eval_episodes: int = _f(20, "episodes per greedy evaluation, each from a fresh memory")
    solve_threshold: float = _f(0.0, "stop once the evaluation mean reaches this (0: never stop early)")
    device: str = _f("auto", "'auto' (CUDA if present), 'cpu' or 'cuda'")
    torch_threads: int = _f(0, "torch.set_num_threads value (0: leave torch's default)")
    progress: bool = _f(True, "show a tqdm progress bar")

    def __post_init__(self) -> None:
        positive = ("total_steps", "num_envs", "hidden_size", "buffer_size", "batch_size", "seq_len", "n_steps",
                    "target_update_period", "eval_episodes")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        for name in ("burn_in", "learning_starts", "eps_decay_steps", "eval_every", "max_grad_norm", "torch_threads"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for f in dataclasses.fields(self):
            allowed = f.metadata.get("choices")
            if allowed and getattr(self, f.name) not in allowed:
                raise ValueError(f"{f.name}={getattr(self, f.name)!r} is not allowed; choose one of {', '.join(allowed)}")
        if not 0 < self.target_tau <= 1:
            raise ValueError(f"target_tau must be in (0, 1], got {self.target_tau}")
        if self.updates_per_step <= 0:
            raise ValueError(f"updates_per_step must be > 0, got {self.updates_per_step}")
        if not 0 <= self.eps_end <= self.eps_start <= 1:
            raise ValueError(f"need 0 <= eps_end <= eps_start <= 1, got {self.eps_end}, {self.eps_start}")
        if self.cell == "mlp" and (self.seq_len != 1 or self.burn_in != 0 or self.initial_state != "zero"):
            raise ValueError("cell='mlp' has no memory: use seq_len=1, burn_in=0, initial_state='zero' "
                             "(TrainConfig.memoryless() sets them)")

    @classmethod
    def memoryless(cls, **overrides) -> "TrainConfig":
        """A DQN without memory: MLP, windows of one step, no previous-action input."""
        base = dict(cell="mlp", seq_len=1, burn_in=0, initial_state="zero", prev_action_input=False)
        return cls(**{**base, **overrides})


def describe_config(config_cls=TrainConfig) -> str:
    """A plain-text table of every field, its default and its help."""
    lines = []
    for f in dataclasses.fields(config_cls):
        lines.append(f"{f.name:22s} {f.default!r:24s} {f.metadata['help']}")
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
    return TrainConfig(**values)
