"""The one factory that builds environments, and the ids this package registers (Chapter 1).

Registered ids: ``rdqn/MaskedCartPole-v0`` (positions only), ``rdqn/FlickerCartPole-v0``
(full observation, blanked half of the time), ``rdqn/StackedMaskedCartPole-v0`` (the
masked one with its last four observations side by side, Chapter 4) and
``rdqn/RegimeMarket-v0`` (a Markov-switching market, Chapter 9), ``rdqn/Minesweeper-v0`` and
``rdqn/MinesweeperMemory-v0`` (Chapter 8), ``rdqn/AnglePendulum-v0``, ``rdqn/NoisyAnglePendulum-v0`` and
``rdqn/PlanarReacher-v0`` (Chapter 6, continuous actions: pass ``action_bins``). An environment is
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
from gymnasium.wrappers import DiscretizeAction

from ..types import FLICKER_CARTPOLE_ID, MASKED_CARTPOLE_ID, REGIME_MARKET_ID, STACKED_MASKED_CARTPOLE_ID
from ..types import MINESWEEPER_ID, MINESWEEPER_MEMORY_ID  # Chapter 8
from ..types import ANGLE_PENDULUM_ID, NOISY_ANGLE_PENDULUM_ID, PLANAR_REACHER_ID  # Chapter 6
from .partial import FlickerObservation, MaskVelocity

__all__ = ["make_env", "make_vector_env", "check_spaces", "discretize_actions", "JointActionIndex", "EnvSpec"]

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
    # Chapter 6: continuous torques (train with --action-bins); the pendulum ends its own 200 steps
    if ANGLE_PENDULUM_ID not in gym.registry:
        gym.register(id=ANGLE_PENDULUM_ID, entry_point="rdqn_core.envs.control:angle_pendulum")
    if NOISY_ANGLE_PENDULUM_ID not in gym.registry:
        gym.register(id=NOISY_ANGLE_PENDULUM_ID, entry_point="rdqn_core.envs.control:angle_pendulum",
                     kwargs={"sigma": 0.1})
    if PLANAR_REACHER_ID not in gym.registry:
        gym.register(id=PLANAR_REACHER_ID, entry_point="rdqn_core.envs.control:PlanarReacherEnv")


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


class JointActionIndex(gym.ActionWrapper):
    """A ``MultiDiscrete(nvec)`` action space seen as one ``Discrete(prod(nvec))`` (Chapter 6).

    Joint index ``a`` is the C-order (row-major) index of the action vector, the first dimension
    most significant: the order ``np.ravel_multi_index`` and gymnasium's flattening
    :class:`~gymnasium.wrappers.DiscretizeAction` use, so a branching Q-head decodes both alike.
    """

    def __init__(self, env: gym.Env):
        if not isinstance(env.action_space, spaces.MultiDiscrete) or env.action_space.nvec.ndim != 1:
            raise ValueError(f"JointActionIndex needs a one-dimensional MultiDiscrete action space, got {env.action_space}")
        super().__init__(env)
        self.nvec = tuple(int(n) for n in env.action_space.nvec)
        self.action_space = spaces.Discrete(int(np.prod(self.nvec)))

    def action(self, action):
        return np.array(np.unravel_index(int(action), self.nvec), dtype=self.env.action_space.dtype)


def discretize_actions(env: gym.Env, action_bins: int | None) -> gym.Env:
    """The action space a Q-network can act in: one ``Discrete`` joint index (Chapter 6).

    * ``Box`` with ``action_bins=K``: gymnasium's :class:`~gymnasium.wrappers.DiscretizeAction`, K bin
      centres per dimension, ``Discrete(K**d)`` in C order (``--action-bins K``);
    * ``MultiDiscrete``: :class:`JointActionIndex`; with ``action_bins`` every dimension must have K choices;
    * ``Discrete``: unchanged; ``action_bins`` is then an error, as is ``K < 2``.

    A ``Box`` without ``action_bins`` is returned as it is; :func:`check_spaces` then says what to pass.
    """
    space = env.action_space
    if action_bins is not None:
        if isinstance(action_bins, bool) or not isinstance(action_bins, (int, np.integer)) or action_bins < 2:
            raise ValueError(f"action_bins (--action-bins) must be an integer >= 2 (choices per action dimension), "
                             f"got {action_bins!r}")
        if isinstance(space, spaces.Discrete):
            raise ValueError(f"action_bins (--action-bins {action_bins}) discretizes a Box (continuous) action space; "
                             f"this environment's actions are already {space}: leave it out")
    if isinstance(space, spaces.Box) and action_bins is not None:
        return DiscretizeAction(env, bins=int(action_bins))
    if isinstance(space, spaces.MultiDiscrete):
        if action_bins is not None and np.any(space.nvec != action_bins):
            raise ValueError(f"action_bins={action_bins} does not match the action dimensions' choices "
                             f"{space.nvec.tolist()} of {space}; use --action-bins {int(space.nvec.flat[0])} when every "
                             "dimension has the same number of choices, or leave it out")
        return JointActionIndex(env)
    return env


def make_env(env: EnvSpec, *, action_bins: int | None = None, **kwargs: Any) -> gym.Env:
    """Build one environment from a gymnasium id, ``"package.module:callable"`` or a callable.

    ``kwargs`` go to ``gym.make`` (for an id) or to the callable. Raises ``ValueError``
    naming close matches when the id is unknown, when the keyword arguments are not
    accepted, and when the callable does not return a ``gymnasium.Env``.
    ``action_bins`` discretizes a continuous action space (:func:`discretize_actions`, Chapter 6).
    """
    made = _make_env(env, **kwargs)
    try:
        return discretize_actions(made, action_bins)
    except ValueError:
        made.close()
        raise


def _make_env(env: EnvSpec, **kwargs: Any) -> gym.Env:
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
            f"rdqn needs a Discrete action space, got {action_space}; discretize a continuous one with "
            "--action-bins K (TrainConfig.action_bins: K levels per action dimension through gymnasium's "
            "DiscretizeAction, Chapter 6)"
        )
    if action_space.n < 2:
        raise ValueError(f"a Discrete action space needs at least 2 actions, got {action_space.n}")
    return int(np.prod(observation_space.shape)), int(action_space.n)


def make_vector_env(env: EnvSpec, num_envs: int, asynchronous: bool = False,
                    env_kwargs: Mapping[str, Any] | None = None, *, action_bins: int | None = None,
                    **kwargs: Any) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``env`` in a gymnasium vector env with SAME_STEP autoreset.

    ``env_kwargs`` (a mapping, as a config carries it) and ``kwargs`` both go to
    :func:`make_env`, as does ``action_bins``. Easy to overlook: with SAME_STEP autoreset, the step that ends an
    episode already returns the *next* episode's first observation; the final observation
    is in ``info["final_obs"]`` (masked by ``info["_final_obs"]``). The rollout relies on it.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    kwargs = {**dict(env_kwargs or {}), **kwargs}
    make_env(env, action_bins=action_bins, **kwargs).close()  # fail early, in this process, with a clear message
    fns = [lambda: make_env(env, action_bins=action_bins, **kwargs) for _ in range(num_envs)]
    cls = AsyncVectorEnv if asynchronous else SyncVectorEnv
    return cls(fns, autoreset_mode=AutoresetMode.SAME_STEP)
