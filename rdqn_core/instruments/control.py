"""Chapter 6's hand-written pendulum controllers: what discretizing the torque costs when nothing is learned.

A swing-up controller for Pendulum-v1 (energy pumping far from the top, a PD catch near it) reads the
angle and the angular velocity. Rounding its torque to the K bin centres of gymnasium's
``DiscretizeAction`` (its ``revert_action``) measures the *quantisation cost* of K alone; a learned
DQN's shortfall beyond it is a *learning cost*. The velocity estimators let the same controller run
from angles only (two frames, or an alpha-beta filter, a small memory), which splits observation costs
the same way. numpy and gymnasium only.
"""
from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.pendulum import PendulumEnv
from gymnasium.wrappers import DiscretizeAction

__all__ = ["swing_up_torque", "run_pendulum_controller", "PENDULUM_UPRIGHT_ENERGY", "VELOCITY_ESTIMATORS"]

# Pendulum-v1: theta'' = 3 g / (2 l) sin(theta) + 3 / (m l^2) u with g = 10, m = l = 1, theta = 0 upright
_GRAVITY, _GAIN = 15.0, 3.0
PENDULUM_UPRIGHT_ENERGY = _GRAVITY  # E = theta_dot^2 / 2 + 15 cos(theta): 15 at rest at the top
VELOCITY_ESTIMATORS = ("true", "two_frames", "alpha_beta")


def swing_up_torque(theta: float, theta_dot: float, max_torque: float = 2.0, pump_gain: float = 1.0,
                    catch_angle: float = 0.5, kp: float = 12.0, kd: float = 3.0) -> float:
    """Energy pumping (``u = k (E* - E) theta_dot``) far from the top, a PD catch within ``catch_angle`` of it.

    ``dE/dt = 3 u theta_dot`` in Pendulum-v1, so pumping raises the energy towards the upright value; near
    the top, ``u = -(kp theta + kd theta_dot)`` holds the pendulum (linearised:
    ``theta'' = (15 - 3 kp) theta - 3 kd theta_dot``, stable for ``kp > 5``).
    """
    theta = (theta + np.pi) % (2 * np.pi) - np.pi
    if abs(theta) < catch_angle:
        u = -(kp * theta + kd * theta_dot)
    else:
        energy = 0.5 * theta_dot ** 2 + _GRAVITY * np.cos(theta)
        u = pump_gain * (PENDULUM_UPRIGHT_ENERGY - energy) * theta_dot
    return float(np.clip(u, -max_torque, max_torque))


def run_pendulum_controller(episodes: int = 100, bins: int | None = None, seed: int = 0, velocity: str = "true",
                            sigma: float = 0.0, alpha: float = 0.5, beta: float = 0.1,
                            controller: Callable[[float, float], float] = swing_up_torque) -> np.ndarray:
    """Returns of ``controller`` on Pendulum-v1 over ``episodes`` episodes (seeds ``seed``, ``seed + 1``, ...).

    Args:
        bins: round the torque to the nearest of ``bins`` bin centres of ``DiscretizeAction`` (``None``:
            continuous torque).
        velocity: what the controller is told the velocity is: ``"true"`` (the env state), ``"two_frames"``
            (``Δθ / dt`` of the last two observed angles) or ``"alpha_beta"`` (an alpha-beta filter over
            the observed angles: a memory).
        sigma: Gaussian noise on the observed (cos θ, sin θ), as in ``rdqn/NoisyAnglePendulum-v0``.
    """
    if velocity not in VELOCITY_ESTIMATORS:
        raise ValueError(f"velocity={velocity!r} is not allowed; choose one of {', '.join(VELOCITY_ESTIMATORS)}")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    env = gym.wrappers.TimeLimit(PendulumEnv(), max_episode_steps=200)
    quantizer = DiscretizeAction(env, bins=bins) if bins is not None else None
    rng = np.random.default_rng(seed + 1_000_003)
    returns = np.zeros(episodes)
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        dt = env.unwrapped.dt
        angle_est, vel_est, last_angle, torque = None, 0.0, None, 0.0
        done = False
        while not done:
            cos_sin = obs[:2] + (rng.normal(0.0, sigma, 2) if sigma > 0 else 0.0)
            angle = float(np.arctan2(cos_sin[1], cos_sin[0]))
            if velocity == "true":
                vel = float(env.unwrapped.state[1])
            elif velocity == "two_frames":
                vel = 0.0 if last_angle is None else _wrap(angle - last_angle) / dt
            else:  # alpha-beta filter: predict with the pendulum's own dynamics, correct with the residual
                if angle_est is None:
                    angle_est = angle
                else:
                    vel_est = float(np.clip(vel_est + dt * (_GRAVITY * np.sin(angle_est) + _GAIN * torque), -8, 8))
                    predicted = angle_est + vel_est * dt
                    residual = _wrap(angle - predicted)
                    angle_est = _wrap(predicted + alpha * residual)
                    vel_est = vel_est + beta * residual / dt
                angle, vel = angle_est, vel_est
            last_angle = float(np.arctan2(cos_sin[1], cos_sin[0]))
            torque = controller(angle, vel)
            if quantizer is not None:
                torque = float(quantizer.bin_centers[0][quantizer.revert_action(np.array([torque]))])
            obs, reward, terminated, truncated, _ = env.step(np.array([torque], np.float32))
            returns[i] += reward
            done = terminated or truncated
    env.close()
    return returns


def _wrap(angle: float) -> float:
    return float((angle + np.pi) % (2 * np.pi) - np.pi)
