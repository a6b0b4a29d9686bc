"""Frame stacking: the memoryless way to see motion (Chapter 4).

A DQN without memory can still estimate a velocity if its input holds the last ``k``
observations side by side, as the Atari DQN did with four screens (Mnih et al., 2015).
Chapter 4 compares this fixed window against a DRQN's learned memory.

:func:`make_frame_stacked` wraps any environment from :func:`~rdqn_core.envs.make_env`;
:data:`STACKED_MASKED_CARTPOLE` is its registered gymnasium id, which a
:class:`~rdqn_core.config.TrainConfig` can carry (``env_id=STACKED_MASKED_CARTPOLE``),
because a config holds strings, not callables::

    TrainConfig.memoryless(env_id=STACKED_MASKED_CARTPOLE)   # a frame-stacked DQN
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
from gymnasium import spaces
from gymnasium.wrappers import FlattenObservation, FrameStackObservation

from ..types import ANGLE_PENDULUM_ID, FLICKER_CARTPOLE_ID, MASKED_CARTPOLE_ID, STACKED_MASKED_CARTPOLE_ID
from .registry import make_env

__all__ = ["make_frame_stacked", "masked_cartpole_stacked", "flicker_cartpole_stacked", "STACKED_MASKED_CARTPOLE",
           "FRAME_PADDINGS", "angle_pendulum_stacked"]

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
