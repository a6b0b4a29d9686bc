"""An environment whose step takes time: a stand-in for an expensive simulator (Chapter 7).

``SlowStep`` waits ``delay`` seconds in every ``step`` (``time.sleep``: the core is free meanwhile, as
when a step waits on a physics engine, a game process or the network) or, with ``busy=True``, spins
for that long (a compute-bound step). CartPole's own step takes microseconds, which makes every form of
parallel acting look useless; a 1 ms step is where it starts to pay. Named as an env spec string::

    TrainConfig(env_id="rdqn_core.envs.slow:slow_masked_cartpole", env_kwargs={"delay": 0.001})

numpy and gymnasium only, like the rest of ``rdqn_core.envs``.
"""
from __future__ import annotations

import time

import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.wrappers import TimeLimit

from .partial import MaskVelocity

__all__ = ["SlowStep", "slow_masked_cartpole", "SLOW_MASKED_CARTPOLE"]

SLOW_MASKED_CARTPOLE = "rdqn_core.envs.slow:slow_masked_cartpole"
"""Env spec of velocity-masked CartPole whose step takes ``delay`` seconds (default 1 ms)."""


class SlowStep(gym.Wrapper):
    """Make every ``step`` take at least ``delay`` seconds (sleeping, or spinning with ``busy=True``)."""

    def __init__(self, env: gym.Env, delay: float = 0.001, busy: bool = False):
        if not delay >= 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")
        super().__init__(env)
        self.delay, self.busy = float(delay), busy

    def step(self, action):
        t0 = time.perf_counter()
        out = self.env.step(action)
        if self.busy:
            while time.perf_counter() - t0 < self.delay:
                pass
        else:
            left = self.delay - (time.perf_counter() - t0)
            if left > 0:
                time.sleep(left)
        return out


def slow_masked_cartpole(delay: float = 0.001, busy: bool = False, render_mode: str | None = None) -> gym.Env:
    """Velocity-masked CartPole (500-step limit) whose every step takes ``delay`` seconds."""
    return SlowStep(TimeLimit(MaskVelocity(CartPoleEnv(render_mode=render_mode)), 500), delay, busy)
