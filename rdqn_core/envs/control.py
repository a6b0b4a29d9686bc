"""Robot-control tasks with continuous actions for Chapter 6: the pendulum that sees only its angle
(plain or noisy), and a small N-link planar reacher whose number of action dimensions is a parameter.

Both have ``Box`` actions: train them with ``--action-bins K`` (gymnasium's ``DiscretizeAction``). numpy only.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.pendulum import PendulumEnv

from .partial import KeepObservationIndices

__all__ = ["GaussianObservationNoise", "angle_pendulum", "PlanarReacherEnv", "PENDULUM_COS_SIN"]

PENDULUM_COS_SIN = (0, 1)
"""Pendulum-v1 observes (cos θ, sin θ, θ̇); these keep the angle and drop the velocity."""


class GaussianObservationNoise(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Add ``N(0, sigma^2)`` noise to every observation component, from a generator seeded by ``reset(seed=...)``.

    The noisy observation may leave the wrapped space's bounds, so the new space is unbounded.
    """

    def __init__(self, env: gym.Env, sigma: float = 0.1):
        gym.utils.RecordConstructorArgs.__init__(self, sigma=sigma)
        gym.ObservationWrapper.__init__(self, env)
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not np.isfinite(sigma) or sigma < 0:
            raise ValueError(f"sigma must be a finite number >= 0 (noise standard deviation), got {sigma!r}")
        space = env.observation_space
        if not isinstance(space, spaces.Box):
            raise ValueError(f"GaussianObservationNoise needs a Box observation space, got {space}")
        self.sigma = float(sigma)
        self.observation_space = spaces.Box(-np.inf, np.inf, space.shape, space.dtype)
        self._rng = np.random.default_rng()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed + 1_000_003)  # not the env's own stream
        return super().reset(seed=seed, options=options)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        noise = self._rng.normal(0.0, self.sigma, size=observation.shape)
        return (observation + noise).astype(observation.dtype)


def angle_pendulum(sigma: float = 0.0, render_mode: str | None = None, g: float = 10.0) -> gym.Env:
    """Pendulum-v1 (200 steps) observing only (cos θ, sin θ), plus ``N(0, sigma^2)`` noise when ``sigma > 0``.

    Without noise, two frames determine the velocity: Pendulum-v1 integrates ``θ_{t+1} = θ_t + θ̇_{t+1} dt``,
    so ``θ̇_{t+1} = Δθ / dt`` exactly. With noise, a difference of two frames has standard deviation
    about ``sigma * sqrt(2) / dt`` = 2.8 rad/s at ``sigma = 0.1``: only a filter over many frames (a memory)
    estimates the velocity well (Chapter 6).
    """
    env = gym.wrappers.TimeLimit(PendulumEnv(render_mode=render_mode, g=g), max_episode_steps=200)
    env = KeepObservationIndices(env, PENDULUM_COS_SIN)
    return GaussianObservationNoise(env, sigma) if sigma > 0 else env


class PlanarReacherEnv(gym.Env):
    """An N-link planar arm whose tip must reach a random target (Chapter 6's joint grid vs branching).

    ``links`` joints, each driven by a torque in ``[-1, 1]`` (the action has ``links`` dimensions). The links
    have length ``1 / links`` (the reach is 1); joint velocities follow ``w += dt * (gain * torque - damping * w)``,
    angles ``q += dt * w``, a simple damped kinematic model, not full rigid-body dynamics. Observation:
    ``cos q, sin q, w / 5`` per joint, the tip and the target (2 each), ``3 * links + 4`` numbers. Reward per
    step: ``-distance(tip, target) - 0.01 * |torque|^2``; episodes last ``max_steps`` (default 100, truncated).
    """

    metadata = {"render_modes": []}

    def __init__(self, links: int = 2, max_steps: int = 100, dt: float = 0.1, gain: float = 10.0,
                 damping: float = 2.0):
        if isinstance(links, bool) or not isinstance(links, (int, np.integer)) or not 1 <= links <= 12:
            raise ValueError(f"links must be an integer in [1, 12] (joints, i.e. action dimensions), got {links!r}")
        if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
        for name, value in (("dt", dt), ("gain", gain), ("damping", damping)):
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        self.links, self.max_steps = int(links), int(max_steps)
        self.dt, self.gain, self.damping = float(dt), float(gain), float(damping)
        self.length = 1.0 / self.links
        self.action_space = spaces.Box(-1.0, 1.0, (self.links,), np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, (3 * self.links + 4,), np.float32)
        self.q = np.zeros(self.links)
        self.w = np.zeros(self.links)
        self.target = np.zeros(2)
        self.t = 0

    def tip(self) -> np.ndarray:
        """The end effector's (x, y): the links' unit vectors at cumulative angles, times their length."""
        cumulative = np.cumsum(self.q)
        return self.length * np.array([np.cos(cumulative).sum(), np.sin(cumulative).sum()])

    def _obs(self) -> np.ndarray:
        return np.concatenate([np.cos(self.q), np.sin(self.q), self.w / 5.0, self.tip(), self.target]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.q = self.np_random.uniform(-np.pi, np.pi, self.links)
        self.w = np.zeros(self.links)
        radius, angle = 0.2 + 0.7 * np.sqrt(self.np_random.random()), self.np_random.uniform(-np.pi, np.pi)
        self.target = radius * np.array([np.cos(angle), np.sin(angle)])
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        torque = np.clip(np.asarray(action, np.float64).reshape(self.links), -1.0, 1.0)
        self.w = self.w + self.dt * (self.gain * torque - self.damping * self.w)
        self.q = self.q + self.dt * self.w
        self.t += 1
        distance = float(np.linalg.norm(self.tip() - self.target))
        reward = -distance - 0.01 * float(torque @ torque)
        return self._obs(), reward, False, self.t >= self.max_steps, {"distance": distance}
