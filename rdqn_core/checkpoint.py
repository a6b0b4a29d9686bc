"""Checkpoints: the agent for evaluation, and the whole training state for resuming (Chapter 4).

Two files, both written atomically (a temporary file, then ``os.replace``: a reader sees
the old file or the new one, never half of one) and both read with
``torch.load(weights_only=True)``, so loading never runs code from the file:

* ``checkpoint.pt`` / ``best.pt``: config, network sizes, both networks (with the
  observation normalizer), the update count and a small ``extra`` dict. Small; what
  ``evaluate`` reads.
* ``resume.pt``: the above plus the optimizer (and learning-rate schedule), the replay
  contents, the trainer's counters and the NumPy, Python and torch random states.

The environments' own state (where each episode is, their random generators) is a
Python object that only pickle can store; :func:`save_envs` writes it to ``envs.pkl``
beside ``resume.pt`` so that a resumed run continues the very same episodes. Unpickling
runs code, so resume only runs you made yourself.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .agent import QAgent
from .config import TrainConfig, config_from_dict
from .networks import build_q_network
from .replay import SequenceReplay
from .utils import get_device

__all__ = ["save_checkpoint", "load_checkpoint", "build_agent", "action_branches_of", "save_training_state", "load_training_state",
           "save_envs", "load_envs", "load_training_config", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = 2

_REPLAY_ARRAYS = ("obs", "actions", "prev_actions", "rewards", "terminated", "truncated", "has_transition",
                  "episode_id", "step_in_episode", "state_h", "state_c", "pos", "size", "current_episode",
                  "current_step", "priority")
_REPLAY_SCALARS = ("_next_episode_id", "_transitions", "steps_added")
_REPLAY_FLOATS = ("max_priority",)


def action_branches_of(config: TrainConfig, n_actions: int) -> tuple[int, ...] | None:
    """The branching head's choices per dimension (Chapter 6): ``d`` times ``action_bins`` with
    ``action_bins ** d == n_actions``; ``None`` for the joint head."""
    if config.action_head != "branching":
        return None
    k, d = int(config.action_bins), 1
    while k ** d < n_actions:
        d += 1
    if k ** d != n_actions:
        raise ValueError(f"action_head='branching' with action_bins={k} needs K**d joint actions, but the action "
                         f"space has {n_actions}: its dimensions do not all have {k} choices")
    return (k,) * d


def build_agent(config: TrainConfig, obs_dim: int, n_actions: int, device: torch.device,
                obs_shape: tuple[int, ...] | None = None) -> QAgent:
    """The agent ``config`` describes, for observations of ``obs_dim`` numbers and ``n_actions`` actions.

    ``obs_shape``: the observation's unflattened shape, which ``cell="conv"`` reads its board size from.
    """
    network = build_q_network(config.cell, obs_dim, n_actions, config.hidden_size, config.encoder_sizes,
                              config.prev_action_input, config.normalize_obs, dueling=config.dueling,
                              layer_norm=config.layer_norm, obs_shape=obs_shape,
                              action_branches=action_branches_of(config, n_actions),
                              value_support=config.value_support())
    return QAgent(network, config, device)


def _plain(value: Any, where: str) -> Any:
    """``value`` as types ``torch.load(weights_only=True)`` reads back; NumPy scalars and arrays are converted."""
    if isinstance(value, np.generic):  # first: np.float64 and np.str_ are also float and str, yet pickle as NumPy
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, f"{where}[{i}]") for i, v in enumerate(value))
    raise TypeError(f"{where} is a {type(value).__name__}, which a weights_only checkpoint cannot hold; "
                    "use numbers, strings, lists, dicts, NumPy values or tensors")


def _atomic_save(payload: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)  # atomic: a reader sees the old file or the new one, never half of one
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _load(path: str | os.PathLike, device: torch.device) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which, not a pickle traceback
        detail = (str(err).strip().splitlines() or [""])[0]  # torch's own message runs over many lines
        raise ValueError(f"{path} is not a readable rdqn checkpoint ({type(err).__name__}: {detail})") from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{path} has checkpoint format {found!r}; this rdqn_core reads {CHECKPOINT_FORMAT}")
    return payload


def save_checkpoint(path: str | os.PathLike, agent: QAgent, config: TrainConfig, extra: dict | None = None) -> Path:
    """Write the config, the networks (online, target, average) and the update count atomically (for evaluation)."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": _plain(dataclasses.asdict(config), "config"),
        "obs_dim": agent.online.obs_dim,
        "n_actions": agent.n_actions,
        **{k: v for k, v in agent.state_dict().items() if k != "optimizer"},  # the networks, the update count
        "extra": _plain(extra or {}, "extra"),
    }
    return _atomic_save(payload, Path(path))


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "auto") -> tuple[QAgent, TrainConfig]:
    """Load a checkpoint written by :func:`save_checkpoint` or :func:`save_training_state`.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for one that is not an rdqn checkpoint.
    """
    device = get_device(device)
    payload = _load(path, device)
    config = config_from_dict(payload["config"])
    agent = build_agent(config, payload["obs_dim"], payload["n_actions"], device)
    agent.load_state_dict({k: payload[k] for k in ("online", "target", "average", "updates", "value_range_fitted",
                                                   "value_sigma")
                           if k in payload})
    return agent, config


def save_training_state(path: str | os.PathLike, agent: QAgent, config: TrainConfig, replay: SequenceReplay,
                        counters: dict, rng: np.random.Generator) -> Path:
    """Everything :func:`load_training_state` needs to continue a run exactly where it stopped."""
    import random

    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": _plain(dataclasses.asdict(config), "config"),
        "obs_dim": agent.online.obs_dim,
        "n_actions": agent.n_actions,
        **agent.state_dict(),
        "replay": {name: _plain(getattr(replay, name), name) for name in _REPLAY_ARRAYS + _REPLAY_SCALARS
                   + _REPLAY_FLOATS},
        "counters": _plain(counters, "counters"),
        "rng": {"numpy": _plain(rng.bit_generator.state, "rng"),
                "python": _plain(random.getstate(), "python random state"),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        "extra": {},
    }
    return _atomic_save(payload, Path(path))


def load_training_state(path: str | os.PathLike, agent: QAgent, replay: SequenceReplay,
                        rng: np.random.Generator) -> dict:
    """Restore ``agent``, ``replay`` and the random states from ``path``; return the trainer's counters."""
    import random

    payload = _load(path, agent.device)
    agent.load_state_dict(payload)
    for name in _REPLAY_ARRAYS:
        value = payload["replay"].get(name)  # files from before prioritized replay have no "priority"
        if value is None:
            continue
        array = getattr(replay, name)
        if tuple(value.shape) != array.shape:
            raise ValueError(f"{path}: stored replay array {name} has shape {tuple(value.shape)}, this run's replay "
                             f"{array.shape}; resume with the same buffer_size, num_envs and network")
        array[...] = value.cpu().numpy()
    for name in _REPLAY_SCALARS:
        setattr(replay, name, int(payload["replay"][name]))
    for name in _REPLAY_FLOATS:
        if name in payload["replay"]:
            setattr(replay, name, float(payload["replay"][name]))
    replay.restore_priorities()
    rng.bit_generator.state = payload["rng"]["numpy"]
    state = payload["rng"]["python"]
    random.setstate((state[0], tuple(state[1]), state[2]))
    torch.set_rng_state(payload["rng"]["torch"].cpu())
    if payload["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in payload["rng"]["cuda"]])
    return dict(payload["counters"])


def save_envs(path: str | os.PathLike, envs) -> Path | None:
    """Pickle the sub-environments of a ``SyncVectorEnv`` (their episodes and random generators) atomically.

    Returns ``None`` (and writes nothing) when they cannot be pickled, e.g. an env holding a window.
    """
    path = Path(path)
    try:
        data = pickle.dumps(list(envs.envs))
    except Exception:  # an env that cannot be pickled: a resumed run then starts new episodes
        return None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


def load_envs(path: str | os.PathLike, envs) -> bool:
    """Put the sub-environments pickled by :func:`save_envs` into ``envs``; False if there are none to load.

    Only for files you wrote yourself: unpickling runs code.
    """
    path = Path(path)
    if not path.is_file():
        return False
    restored = pickle.loads(path.read_bytes())
    if len(restored) != len(envs.envs):
        raise ValueError(f"{path} holds {len(restored)} environments, this run has {len(envs.envs)}")
    for old in envs.envs:
        old.close()
    envs.envs = restored
    return True


def load_training_config(path: str | os.PathLike) -> TrainConfig:
    """The config stored in a checkpoint or ``resume.pt`` (no networks are built)."""
    return config_from_dict(_load(path, torch.device("cpu"))["config"])
