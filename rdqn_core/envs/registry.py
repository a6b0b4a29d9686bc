"""The one factory that builds environments, and the ids this package registers (Chapter 1).

Registered ids: ``rdqn/MaskedCartPole-v0`` (positions only), ``rdqn/FlickerCartPole-v0``
(full observation, blanked half of the time), ``rdqn/StackedMaskedCartPole-v0`` (the
masked one with its last four observations side by side, Chapter 4) and
``rdqn/RegimeMarket-v0`` (a Markov-switching market, Chapter 9), ``rdqn/Minesweeper-v0`` and
``rdqn/MinesweeperMemory-v0`` (Chapter 8). An environment is
named by a registered id, by ``"package.module:callable"`` or by a callable; keyword
arguments (``env_kwargs`` in a :class:`~rdqn_core.config.TrainConfig`) go to ``gym.make``
or to the callable.

numpy and gymnasium only: nothing in ``rdqn_core.envs`` imports torch.
"""
from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from ..types import FLICKER_CARTPOLE_ID, MASKED_CARTPOLE_ID, REGIME_MARKET_ID, STACKED_MASKED_CARTPOLE_ID
from ..types import MINESWEEPER_ID, MINESWEEPER_MEMORY_ID  # Chapter 8
from .partial import FlickerObservation, MaskVelocity

__all__ = ["make_env", "make_vector_env", "check_spaces", "EnvSpec"]

EnvSpec = str | Callable[..., gym.Env]

# Spec strings that named a module path before the package was split into layers (they sit in old result
# files and checkpoints); each maps to the registered id that replaced it.
_MOVED_SPECS = {"rdqn_core.stacking:masked_cartpole_stacked": STACKED_MASKED_CARTPOLE_ID}


def _masked_cartpole(render_mode: str | None = None) -> gym.Env:
    return MaskVelocity(CartPoleEnv(render_mode=render_mode))


def _flicker_cartpole(render_mode: str | None = None, p: float = 0.5) -> gym.Env:
    return FlickerObservation(CartPoleEnv(render_mode=render_mode), p=p)


def _register() -> None:
    entries = ((MASKED_CARTPOLE_ID, _masked_cartpole, 500), (FLICKER_CARTPOLE_ID, _flicker_cartpole, 500),
               # a string entry point: gymnasium imports the module on first use (no import cycle here)
               (STACKED_MASKED_CARTPOLE_ID, "rdqn_core.envs.stacking:masked_cartpole_stacked", None))
    for env_id, entry, max_steps in entries:
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry, max_episode_steps=max_steps, reward_threshold=475.0)
    if REGIME_MARKET_ID not in gym.registry:  # it ends its own year (truncation); no CartPole threshold
        gym.register(id=REGIME_MARKET_ID, entry_point="rdqn_core.envs.market:RegimeMarketEnv")
    # Chapter 8: both end their own episodes (a mine, a win, or their own step limit)
    for env_id, entry in ((MINESWEEPER_ID, "rdqn_core.envs.minesweeper:MinesweeperEnv"),
                          (MINESWEEPER_MEMORY_ID, "rdqn_core.envs.minesweeper:MinesweeperMemoryEnv")):
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry)


_register()


def _load_callable(spec: str) -> Callable[..., gym.Env]:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(
            f"cannot import module {module_name!r} from env spec {spec!r}: {err}. The module must be importable: "
            "install it, or run `python -m rdqn_core` from the folder that contains it (`python -m` puts the "
            "current folder on the import path; the `rdqn` command does not)"
        ) from err
    try:
        return getattr(module, attr)
    except AttributeError as err:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r} (env spec {spec!r})") from err


def make_env(env: EnvSpec, **kwargs: Any) -> gym.Env:
    """Build one environment from a gymnasium id, ``"package.module:callable"`` or a callable.

    ``kwargs`` go to ``gym.make`` (for an id) or to the callable. Raises ``ValueError``
    naming close matches when the id is unknown, when the keyword arguments are not
    accepted, and when the callable does not return a ``gymnasium.Env``.
    """
    if isinstance(env, str):
        env = _MOVED_SPECS.get(env, env)
    try:
        if callable(env):
            made = env(**kwargs)
            name = getattr(env, "__name__", repr(env))
        elif isinstance(env, str) and env in gym.registry:
            return gym.make(env, **kwargs)
        elif isinstance(env, str) and ":" in env and not env.startswith("rdqn/"):
            made = _load_callable(env)(**kwargs)
            name = env
        elif isinstance(env, str):
            close = difflib.get_close_matches(env, list(gym.registry), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(
                f"unknown environment id {env!r}.{hint} Use a registered gymnasium id "
                f"(e.g. 'CartPole-v1', {MASKED_CARTPOLE_ID!r}) or 'package.module:callable'."
            )
        else:
            raise TypeError(f"env must be an id string or a callable returning gymnasium.Env, "
                            f"got {type(env).__name__}")
    except TypeError as err:
        if kwargs and "argument" in str(err):  # e.g. "got an unexpected keyword argument 'board'"
            raise ValueError(f"environment {env!r} does not accept the keyword arguments {dict(kwargs)}: {err}") from err
        raise
    if not isinstance(made, gym.Env):
        raise ValueError(f"{name} returned {type(made).__name__}, expected a gymnasium.Env")
    return made


def check_spaces(observation_space: spaces.Space, action_space: spaces.Space) -> tuple[int, int]:
    """Return ``(obs_dim, n_actions)`` or raise if the spaces are not Box / Discrete.

    The Q-networks here flatten a Box observation and output one value per discrete action.
    """
    if not isinstance(observation_space, spaces.Box):
        raise ValueError(f"rdqn needs a Box observation space, got {observation_space}")
    if not isinstance(action_space, spaces.Discrete):
        raise ValueError(
            f"rdqn needs a Discrete action space, got {action_space}; discretize continuous actions first, "
            "e.g. gymnasium.wrappers.DiscretizeAction(env, bins=5) (the README's 'Your own environment' shows how)"
        )
    if action_space.n < 2:
        raise ValueError(f"a Discrete action space needs at least 2 actions, got {action_space.n}")
    return int(np.prod(observation_space.shape)), int(action_space.n)


def make_vector_env(env: EnvSpec, num_envs: int, asynchronous: bool = False,
                    env_kwargs: Mapping[str, Any] | None = None, **kwargs: Any) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``env`` in a gymnasium vector env with SAME_STEP autoreset.

    ``env_kwargs`` (a mapping, as a config carries it) and ``kwargs`` both go to
    :func:`make_env`. Easy to overlook: with SAME_STEP autoreset, the step that ends an
    episode already returns the *next* episode's first observation; the final observation
    is in ``info["final_obs"]`` (masked by ``info["_final_obs"]``). The rollout relies on it.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    kwargs = {**dict(env_kwargs or {}), **kwargs}
    make_env(env, **kwargs).close()  # fail early, in this process, with a clear message
    fns = [lambda: make_env(env, **kwargs) for _ in range(num_envs)]
    cls = AsyncVectorEnv if asynchronous else SyncVectorEnv
    return cls(fns, autoreset_mode=AutoresetMode.SAME_STEP)
