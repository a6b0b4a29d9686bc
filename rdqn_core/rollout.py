"""The acting loop, written once (Chapter 4; the actor of Chapter 7).

Every caller that plays a vector environment with a Q-network goes through
:class:`Rollout`: the trainer, greedy evaluation, the chapter instruments that collect
experience, the benchmark and the actor processes of Chapter 7. One step is::

    mask the memory where an episode started -> act -> step the envs
        -> recover the true final observation -> update episode starts and previous actions

The class carries, per environment, the current observation, the memory, whether the
observation starts an episode and the previous action; it knows nothing about replay,
updates or logging (those are the trainer's).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from .types import RecurrentState

__all__ = ["Rollout", "Transition", "act_epsilon_greedy"]


@torch.no_grad()
def act_epsilon_greedy(network: nn.Module, obs: np.ndarray, state: RecurrentState | None,
                       episode_starts: np.ndarray, prev_actions: np.ndarray, epsilon: float,
                       rng: np.random.Generator) -> tuple[np.ndarray, RecurrentState | None, np.ndarray]:
    """One epsilon-greedy step of ``network`` for a batch of environments.

    Args:
        network: a Q-network (``forward(obs, state, episode_starts, prev_actions)``).
        obs: (B, obs_dim) current observations.
        state: memory per environment from the previous call (or ``network.initial_state(B)``).
        episode_starts: (B,) 1 where ``obs`` is the first of an episode: that env's memory is reset.
        prev_actions: (B,) previous action per env, -1 at an episode start.
        epsilon: probability of a uniformly random action (0: greedy).
        rng: generator for the exploration coin flips (seeded for reproducibility).

    Returns:
        actions (B,), the new state, and the Q-values (B, n_actions) used (a branching head's
        (B, K * d) outputs; its actions are joint indices, Chapter 6).

    A network with an ``action_mask(obs)`` that returns a mask (Chapter 8's
    :class:`~rdqn_core.networks.ConvQNetwork`) chooses, greedily and at random alike, only allowed
    actions; without one every action is allowed and the random stream is the one of earlier chapters.
    """
    device = next(network.parameters()).device
    B = len(obs)
    obs_t = torch.as_tensor(np.asarray(obs, np.float32), device=device).reshape(1, B, -1)
    starts = torch.as_tensor(np.asarray(episode_starts, np.float32), device=device).view(1, B)
    prev = torch.as_tensor(np.asarray(prev_actions, np.int64), device=device).view(1, B)
    q, state = network(obs_t, state, starts, prev)
    q = q[0].cpu().numpy()
    mask_of = getattr(network, "action_mask", None)
    allowed = mask_of(obs_t) if mask_of is not None else None  # (1, B, A) bool, or None: all allowed
    if allowed is None:
        if getattr(network, "action_branches", None) is None:
            actions, n_actions = q.argmax(axis=1), q.shape[1]
        else:  # Chapter 6: the argmax of every branch, as one joint index; exploring is uniform over the joint grid
            actions, n_actions = network.greedy_actions(torch.from_numpy(q)).numpy(), network.n_actions
        explore = rng.random(B) < epsilon
        actions = np.where(explore, rng.integers(n_actions, size=B), actions)
        return actions, state, q
    allowed = allowed[0].cpu().numpy()
    allowed |= ~allowed.any(axis=1, keepdims=True)  # nothing allowed (never in a running game): any action
    actions = np.where(allowed, q, -np.inf).argmax(axis=1)
    explore = rng.random(B) < epsilon
    uniform_allowed = np.where(allowed, rng.random(q.shape), -1.0).argmax(axis=1)  # uniform over allowed
    actions = np.where(explore, uniform_allowed, actions)
    return actions, state, q


@dataclass
class Transition:
    """One vector-env step, each array with a leading env axis ``B``.

    ``next_obs`` is the true next observation: where an episode ended it is the episode's
    final observation from ``info["final_obs"]``, not the first one of the next episode
    (that one is the rollout's new ``obs``). ``state`` is the memory the actions were chosen
    with, after the reset of the envs in ``episode_starts``: what a replay stores.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    next_obs: np.ndarray
    prev_actions: np.ndarray
    episode_starts: np.ndarray
    state: RecurrentState | None
    q_values: np.ndarray
    finished: list[tuple[int, float, int]] = field(default_factory=list)
    """(env, return, length) of the episodes that ended with this step."""

    @property
    def done(self) -> np.ndarray:
        return self.terminated | self.truncated


class Rollout:
    """Play ``envs`` with a Q-network (or any actor), carrying one memory per environment.

    Args:
        envs: a gymnasium vector env with SAME_STEP autoreset (:func:`~rdqn_core.envs.make_vector_env`).
        policy: the Q-network that acts, epsilon-greedily (its weights may change between steps: the
            trainer's do); or any actor with ``initial_state(batch_size)`` and ``act(obs, state,
            episode_starts, prev_actions, epsilon, rng) -> (actions, state, q_values)`` (a benchmark's
            peer method, for one evaluation loop for all).
        seed: passed to ``envs.reset`` (an int seeds env ``i`` with ``seed + i``; a list seeds each env).

    Each :meth:`step` resets the memory of exactly the envs whose observation starts an episode (a
    :class:`~rdqn_core.types.RecurrentState` is masked; another actor gets ``episode_starts``).
    """

    def __init__(self, envs: gym.vector.VectorEnv, policy: nn.Module | Any, seed: int | list[int] | None = None):
        self.envs, self.network = envs, policy
        self.num_envs = envs.num_envs
        obs, _ = envs.reset(seed=seed)
        self.obs = np.asarray(obs, np.float32).reshape(self.num_envs, -1)  # (B, obs_dim)
        if isinstance(policy, nn.Module):
            self._act = partial(act_epsilon_greedy, policy)
            self.state = policy.initial_state(self.num_envs, next(policy.parameters()).device)
        else:
            self._act = policy.act
            self.state = policy.initial_state(self.num_envs)
        self.episode_starts = np.ones(self.num_envs, np.float32)  # every env starts an episode
        self.prev_actions = np.full(self.num_envs, -1, np.int64)
        self.episode_returns = np.zeros(self.num_envs)
        self.episode_lengths = np.zeros(self.num_envs, np.int64)

    def step(self, epsilon: float, rng: np.random.Generator) -> Transition:
        """Act epsilon-greedily in every env once and return what happened."""
        B = self.num_envs
        state = self.state
        if isinstance(state, RecurrentState):  # reset memory exactly where an episode began
            state = state.masked(torch.as_tensor(1.0 - self.episode_starts, device=state.h.device))
        obs, starts, prev = self.obs, self.episode_starts, self.prev_actions
        actions, new_state, q = self._act(obs, state, starts, prev, epsilon, rng)
        next_obs, rewards, terminated, truncated, info = self.envs.step(actions)
        next_obs = np.asarray(next_obs, np.float32).reshape(B, -1)
        done = terminated | truncated
        final_obs = next_obs.copy()
        if done.any():  # easy to overlook: with SAME_STEP autoreset next_obs already belongs to the next episode
            ended = info["_final_obs"]
            final_obs[ended] = np.stack(info["final_obs"][ended]).reshape(int(ended.sum()), -1)
        self.episode_returns += rewards
        self.episode_lengths += 1
        finished = [(int(e), float(self.episode_returns[e]), int(self.episode_lengths[e])) for e in np.flatnonzero(done)]
        self.episode_returns[done], self.episode_lengths[done] = 0.0, 0
        self.obs, self.state = next_obs, new_state
        self.episode_starts = done.astype(np.float32)
        self.prev_actions = np.where(done, -1, actions)
        return Transition(obs=obs, actions=actions, rewards=np.asarray(rewards, np.float32),
                          terminated=np.asarray(terminated, bool), truncated=np.asarray(truncated, bool),
                          next_obs=final_obs, prev_actions=prev, episode_starts=starts, state=state, q_values=q,
                          finished=finished)
