"""Partially observed environments and the one factory that builds them (Chapter 1).

Two kinds of hiding, both as gymnasium observation wrappers:

* :class:`KeepObservationIndices` keeps only some observation components
  (:class:`MaskVelocity` is CartPole with both velocities removed);
* :class:`FlickerObservation` blanks the whole observation with probability ``p``.

Registered ids: ``rdqn/MaskedCartPole-v0`` (positions only) and
``rdqn/FlickerCartPole-v0`` (full observation, blanked half of the time).
"""
from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.vector import AutoresetMode, AsyncVectorEnv, SyncVectorEnv

__all__ = [
    "KeepObservationIndices",
    "MaskVelocity",
    "FlickerObservation",
    "make_env",
    "make_vector_env",
    "check_spaces",
    "MASKED_CARTPOLE_ID",
    "FLICKER_CARTPOLE_ID",
]

MASKED_CARTPOLE_ID = "rdqn/MaskedCartPole-v0"
FLICKER_CARTPOLE_ID = "rdqn/FlickerCartPole-v0"

EnvSpec = str | Callable[[], gym.Env]


class KeepObservationIndices(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Keep only the observation components at ``indices`` of a 1-D Box observation.

    The new observation space is the old one restricted to those components, so
    ``check_env`` and the networks see consistent bounds. The wrapper records its
    arguments, so ``env.spec`` can rebuild the wrapped environment (gymnasium's convention).
    """

    def __init__(self, env: gym.Env, indices: Sequence[int]):
        indices = tuple(int(i) for i in indices)
        gym.utils.RecordConstructorArgs.__init__(self, indices=indices)  # a subclass's own record comes first
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"KeepObservationIndices needs a 1-D Box observation space, got {space}")
        if not indices:
            raise ValueError("indices is empty; keep at least one observation component")
        bad = [i for i in indices if not 0 <= i < space.shape[0]]
        if bad:
            raise ValueError(f"indices {bad} are outside the observation of size {space.shape[0]}")
        if len(set(indices)) != len(indices):
            raise ValueError(f"indices {indices} contain duplicates")
        self.indices = np.asarray(indices)
        self.observation_space = spaces.Box(
            low=space.low[self.indices], high=space.high[self.indices], dtype=space.dtype
        )

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation[self.indices]


class MaskVelocity(KeepObservationIndices):
    """CartPole without velocities: the agent sees cart position and pole angle only."""

    CARTPOLE_POSITIONS = (0, 2)  # x, theta; dropped: x_dot (1), theta_dot (3)

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)  # rebuilt as MaskVelocity(env), without indices
        super().__init__(env, self.CARTPOLE_POSITIONS)


class FlickerObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """With probability ``p`` each observation is replaced by zeros (a "blank frame").

    Hausknecht & Stone (2015) used flickering Atari screens; here the vector analogue.
    The blanking uses its own generator, seeded by ``reset(seed=...)``, so that the
    environment's own randomness is untouched and seeded runs repeat exactly.
    """

    def __init__(self, env: gym.Env, p: float = 0.5):
        gym.utils.RecordConstructorArgs.__init__(self, p=p)
        gym.ObservationWrapper.__init__(self, env)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"flicker probability p must be in [0, 1), got {p}")
        space = env.observation_space
        if not isinstance(space, spaces.Box) or not space.contains(np.zeros(space.shape, space.dtype)):
            raise ValueError(f"FlickerObservation needs a Box space that contains the zero vector, got {space}")
        self.p = float(p)
        self._rng = np.random.default_rng()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        return super().reset(seed=seed, options=options)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        if self._rng.random() < self.p:
            return np.zeros_like(observation)
        return observation


def _masked_cartpole(render_mode: str | None = None) -> gym.Env:
    return MaskVelocity(CartPoleEnv(render_mode=render_mode))


def _flicker_cartpole(render_mode: str | None = None, p: float = 0.5) -> gym.Env:
    return FlickerObservation(CartPoleEnv(render_mode=render_mode), p=p)


def _register() -> None:
    for env_id, entry in ((MASKED_CARTPOLE_ID, _masked_cartpole), (FLICKER_CARTPOLE_ID, _flicker_cartpole)):
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry, max_episode_steps=500, reward_threshold=475.0)


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

    Raises ``ValueError`` naming close matches when the id is unknown, and when the
    callable does not return a ``gymnasium.Env``.
    """
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
        raise TypeError(f"env must be an id string or a callable returning gymnasium.Env, got {type(env).__name__}")
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


def make_vector_env(
    env: EnvSpec,
    num_envs: int,
    asynchronous: bool = False,
    **kwargs: Any,
) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``env`` in a gymnasium vector env with SAME_STEP autoreset.

    Easy to overlook: with SAME_STEP autoreset, the step that ends an episode already
    returns the *next* episode's first observation; the final observation is in
    ``info["final_obs"]`` (masked by ``info["_final_obs"]``). The trainer relies on it.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    make_env(env, **kwargs).close()  # fail early, in this process, with a clear message
    fns = [lambda: make_env(env, **kwargs) for _ in range(num_envs)]
    cls = AsyncVectorEnv if asynchronous else SyncVectorEnv
    return cls(fns, autoreset_mode=AutoresetMode.SAME_STEP)
