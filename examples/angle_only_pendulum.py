"""Bring your own environment: a pendulum that sees only its angle, with a few torque levels.

``rdqn_core`` trains on any gymnasium environment with a Box observation and a Discrete
action space. Pendulum-v1 has neither the right action space (a continuous torque) nor a
hidden state (it shows the angular velocity). Two standard wrappers change that:

* :class:`rdqn_core.envs.KeepObservationIndices` keeps (cos θ, sin θ) and drops θ̇, so the
  agent must infer the velocity from the history of angles, the job of the DRQN's memory;
* gymnasium's :class:`~gymnasium.wrappers.DiscretizeAction` maps ``bins`` evenly spaced
  torques (the centres of ``bins`` equal intervals of [-2, 2]) to the actions 0..bins-1.

Train it from the repository root (``python -m`` puts the current folder on the import path)::

    python -m rdqn_core train --env examples.angle_only_pendulum:make_env --gamma 0.95

(``make_full_env`` is the fully observed reference. A run trains its whole budget unless
``--solve-threshold`` is given; any number is a threshold, including 0 and negative ones.) The README's "Your own
environment" section gives the returns this reached against a memoryless and a fully observed DQN.
"""
from __future__ import annotations

import gymnasium as gym
from gymnasium.wrappers import DiscretizeAction

from rdqn_core.envs import KeepObservationIndices

COS_SIN = (0, 1)  # Pendulum-v1 observes (cos θ, sin θ, θ̇); index 2, the velocity, is dropped


def make_env(bins: int = 5, hide_velocity: bool = True, **kwargs) -> gym.Env:
    """Pendulum-v1 with ``bins`` torque levels (``bins >= 2``) and, by default, the angular velocity hidden."""
    if not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2 (torque levels to choose from), got {bins!r}")
    env = gym.make("Pendulum-v1", **kwargs)
    if hide_velocity:
        env = KeepObservationIndices(env, COS_SIN)
    return DiscretizeAction(env, bins=bins)


def make_full_env(bins: int = 5, **kwargs) -> gym.Env:
    """The fully observed reference: the same discretized pendulum, velocity shown."""
    return make_env(bins, hide_velocity=False, **kwargs)
