"""Frame stacking: the memoryless way to see motion (Chapter 4) and a short history of clicks (Chapter 8).

A DQN without memory can still estimate a velocity if its input holds the last ``k``
observations side by side, as the Atari DQN did with four screens (Mnih et al., 2015).
Chapter 4 compares this fixed window against a DRQN's learned memory.

:func:`make_frame_stacked` wraps any environment from :func:`~rdqn_core.envs.make_env`;
:data:`STACKED_MASKED_CARTPOLE` is its registered gymnasium id, which a
:class:`~rdqn_core.config.TrainConfig` can carry (``env_id=STACKED_MASKED_CARTPOLE``),
because a config holds strings, not callables::

    TrainConfig.memoryless(env_id=STACKED_MASKED_CARTPOLE)   # a frame-stacked DQN

In Chapter 8's memory variant of Minesweeper an observation is only the count under the cell just
opened; *which* cell it was is the agent's own previous action. A stack of observations alone would
hold counts without their cells, so :class:`AppendPreviousAction` first appends the one-hot action
that produced each observation, and :func:`minesweeper_memory_stacked` stacks the last ``k`` of those
(cell, count) pairs: a DQN with a fixed window of ``k`` clicks.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import FlattenObservation, FrameStackObservation

from ..types import (ANGLE_PENDULUM_ID, FLICKER_CARTPOLE_ID, MASKED_CARTPOLE_ID, MINESWEEPER_MEMORY_ID,
                     STACKED_MASKED_CARTPOLE_ID)
from .registry import make_env

__all__ = ["make_frame_stacked", "masked_cartpole_stacked", "flicker_cartpole_stacked", "STACKED_MASKED_CARTPOLE",
           "FRAME_PADDINGS", "angle_pendulum_stacked", "AppendPreviousAction", "minesweeper_memory_stacked"]

FRAME_PADDINGS = ("reset", "zero")
STACKED_MASKED_CARTPOLE = STACKED_MASKED_CARTPOLE_ID
"""Registered id of velocity-masked CartPole with the last 4 observations stacked (8 numbers)."""


def make_frame_stacked(env: str | Callable[[], gym.Env] = MASKED_CARTPOLE_ID, k: int = 4, padding: str = "reset",
                       **kwargs: Any) -> gym.Env:
    """``env`` whose observation is its last ``k`` observations, oldest first, flattened to one vector.

    Args:
        env: anything :func:`~rdqn_core.envs.make_env` accepts (a gymnasium id, ``"module:callable"``,
            or a callable); its observation space must be a 1-D ``Box``.
        k: number of observations stacked (``k = 1`` is the environment itself, flattened).
        padding: what fills the stack right after ``reset``: ``"reset"`` repeats the first
            observation (so finite differences start at zero velocity), ``"zero"`` uses zeros.
        **kwargs: passed on to ``make_env`` (for example ``render_mode``).

    Returns:
        A ``gymnasium.Env`` whose ``Box`` observation has size ``k * obs_dim``; its entries
        ``[i * obs_dim, (i + 1) * obs_dim)`` hold the observation from ``k - 1 - i`` steps ago.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k (number of stacked frames) must be a positive integer, got {k!r}")
    if padding not in FRAME_PADDINGS:
        raise ValueError(f"unknown padding {padding!r}; allowed: {', '.join(FRAME_PADDINGS)}")
    base = make_env(env, **kwargs)
    space = base.observation_space
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        base.close()
        raise ValueError(f"make_frame_stacked needs a 1-D Box observation space, got {space}")
    # "zero" in gymnasium's FrameStackObservation means a zero observation as padding
    stacked = FrameStackObservation(base, stack_size=k, padding_type=padding)  # obs (k, obs_dim)
    return FlattenObservation(stacked)  # obs (k * obs_dim,), oldest first


def masked_cartpole_stacked(k: int = 4, **kwargs: Any) -> gym.Env:
    """Velocity-masked CartPole with the last ``k`` observations stacked (registered as ``STACKED_MASKED_CARTPOLE``)."""
    return make_frame_stacked(MASKED_CARTPOLE_ID, k=k, **kwargs)


def flicker_cartpole_stacked(k: int = 4, p: float = 0.5, **kwargs: Any) -> gym.Env:
    """Flickering CartPole (each observation blanked with probability ``p``) with the last ``k`` observations stacked.

    The frame-stacked DQN's input on the flicker task; as an env spec,
    ``"rdqn_core.envs.stacking:flicker_cartpole_stacked"`` with ``env_kwargs={"k": 4, "p": 0.5}``.
    """
    return make_frame_stacked(FLICKER_CARTPOLE_ID, k=k, p=p, **kwargs)


def angle_pendulum_stacked(k: int = 2, sigma: float = 0.0, **kwargs: Any) -> gym.Env:
    """Chapter 6's angle-only pendulum (noise ``sigma`` on (cos θ, sin θ)) with its last ``k`` observations stacked.

    Two frames give the velocity exactly when ``sigma = 0``. As an env spec:
    ``"rdqn_core.envs.stacking:angle_pendulum_stacked"`` with ``env_kwargs={"k": 2, "sigma": 0.1}``; its torque is
    continuous, so train it with ``action_bins``.
    """
    return make_frame_stacked(ANGLE_PENDULUM_ID, k=k, sigma=sigma, **kwargs)


class AppendPreviousAction(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Append to each observation the one-hot of the action that produced it (Chapter 8).

    After ``reset`` no action has been taken yet and the appended part is all zeros. Stacked by
    :func:`make_frame_stacked`, every frame then holds an observation *and* the action it answers,
    which a memoryless network cannot otherwise pair up beyond the latest step.

    Args:
        env: an environment with a ``Discrete(n)`` action space and a 1-D ``Box`` observation space.

    The observation becomes ``obs_dim + n`` float32 numbers: the original ones, then the one-hot action.
    """

    def __init__(self, env: gym.Env):
        action_space, space = env.action_space, env.observation_space
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"AppendPreviousAction needs a Discrete action space, got {action_space}")
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"AppendPreviousAction needs a 1-D Box observation space, got {space}")
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)
        self.n_actions = int(action_space.n)
        low = np.concatenate([space.low.astype(np.float32), np.zeros(self.n_actions, np.float32)])
        high = np.concatenate([space.high.astype(np.float32), np.ones(self.n_actions, np.float32)])
        self.observation_space = spaces.Box(low, high, dtype=np.float32)

    def _with_action(self, observation: np.ndarray, action: int | None) -> np.ndarray:
        one_hot = np.zeros(self.n_actions, np.float32)
        if action is not None:
            one_hot[int(action)] = 1.0
        return np.concatenate([np.asarray(observation, np.float32), one_hot])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        return self._with_action(observation, None), info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        return self._with_action(observation, action), reward, terminated, truncated, info


def _minesweeper_memory_with_actions(**kwargs: Any) -> gym.Env:
    return AppendPreviousAction(make_env(MINESWEEPER_MEMORY_ID, **kwargs))


def minesweeper_memory_stacked(k: int = 4, padding: str = "zero", **kwargs: Any) -> gym.Env:
    """Chapter 8's keyhole Minesweeper (``rdqn/MinesweeperMemory-v0``) seen as its last ``k`` (click, count) pairs.

    Each frame is the environment's 11 numbers followed by the one-hot cell that was clicked
    (:class:`AppendPreviousAction`); ``k`` frames, oldest first, make one vector of ``k * (11 + rows * cols)``
    numbers. With ``padding="zero"`` (the default) the frames before the first observation are zeros: "no click
    yet". ``kwargs`` (``rows``, ``cols``, ``mines``, ``first_click``) go to the environment. As an env spec:
    ``"rdqn_core.envs.stacking:minesweeper_memory_stacked"`` with ``env_kwargs={"k": 4}``.
    """
    return make_frame_stacked(_minesweeper_memory_with_actions, k=k, padding=padding, **kwargs)
