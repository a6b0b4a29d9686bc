"""Partial observability as gymnasium observation wrappers (Chapter 1).

Two kinds of hiding, both as gymnasium observation wrappers:

* :class:`KeepObservationIndices` keeps only some observation components
  (:class:`MaskVelocity` is CartPole with both velocities removed);
* :class:`FlickerObservation` blanks the whole observation with probability ``p``.

The registered ids that use them are in :mod:`rdqn_core.envs` (made in ``envs/registry.py``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["KeepObservationIndices", "MaskVelocity", "FlickerObservation"]


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
