"""Tabular Q-learning on small gymnasium grid worlds (Chapter 3).

Before a neural network approximates Q, a table holds it: one number per (state, action)
of an environment with ``Discrete`` observation and action spaces, such as gymnasium's
``FrozenLake-v1`` or ``CliffWalking-v1``. This module has the learner, the greedy policy
read off its table, the exact fixed point of the Bellman optimality equation (by value
iteration on the environment's own transition table ``P``) to check the learner against,
and a wrapper that adds extra exits to a grid world, so that a nearby small reward can
compete with a distant large one.

Depends on numpy and gymnasium only; nothing here imports torch.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["q_learning", "greedy_path", "GreedyPath", "value_iteration", "ExtraExits"]

# P[state][action] -> [(probability, next_state, reward, terminated), ...], the format of gymnasium's toy_text envs
TransitionTable = Mapping[int, Mapping[int, list[tuple[float, int, float, bool]]]]


class GreedyPath(NamedTuple):
    """One greedy episode: ``states`` has one more entry than ``actions`` (it starts at the reset state)."""

    states: list[int]
    actions: list[int]
    total_reward: float
    terminated: bool  # False: the walk was cut at ``max_steps`` or by the environment's time limit


def _discrete_sizes(env: gym.Env) -> tuple[int, int]:
    """``(n_states, n_actions)`` of an environment whose spaces are both ``Discrete``."""
    obs_space, action_space = env.observation_space, env.action_space
    if not isinstance(obs_space, spaces.Discrete) or not isinstance(action_space, spaces.Discrete):
        raise ValueError(
            f"tabular methods need Discrete observation and action spaces (one table row per state), got "
            f"{obs_space} and {action_space}; for Box observations use a Q-network (TrainConfig / train)")
    return int(obs_space.n), int(action_space.n)


def _check_probability(name: str, value: float, low_open: bool = False) -> None:
    low_ok = value > 0.0 if low_open else value >= 0.0
    if not (isinstance(value, (int, float, np.floating)) and math.isfinite(value) and low_ok and value <= 1.0):
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")


def _greedy_action(q_row: np.ndarray, rng: np.random.Generator) -> int:
    """Argmax with ties broken at random (with ``np.argmax`` a fresh all-zero row always picks action 0)."""
    best = np.flatnonzero(q_row == q_row.max())
    return int(best[0]) if best.size == 1 else int(rng.choice(best))


def q_learning(env: gym.Env, episodes: int, alpha: float, gamma: float, epsilon: float,
               rng: np.random.Generator, q_init: float = 0.0, max_steps: int = 1_000
               ) -> tuple[np.ndarray, np.ndarray]:
    r"""Tabular Q-learning with epsilon-greedy exploration (Watkins and Dayan, 1992; Chapter 3).

    After every step :math:`(s, a, r, s')` the table moves towards the one-step target:

    .. math::
        Q(s, a) \leftarrow Q(s, a) + \alpha\,\big(r + \gamma\,(1 - d)\max_{a'} Q(s', a') - Q(s, a)\big),

    with :math:`d = 1` when :math:`s'` is terminal. A time-limit *truncation* is not a
    termination, so the target still bootstraps from :math:`s'` there.

    Args:
        env: an environment with ``Discrete`` observation and action spaces.
        episodes: number of training episodes, ``>= 1``.
        alpha: step size in ``(0, 1]`` (1 is exact for deterministic environments).
        gamma: discount factor in ``[0, 1]``.
        epsilon: probability of a uniformly random action in ``[0, 1]``; with 0 the agent
            never explores and keeps whatever its first estimates prefer.
        rng: the generator for exploration, tie-breaking and the environment's first reset seed.
        q_init: initial value of every table entry.
        max_steps: safety cut per episode for environments without a time limit
            (``CliffWalking-v1`` has none); it is treated as a truncation.

    Returns:
        The table ``Q`` of shape ``(n_states, n_actions)`` and the undiscounted return
        of every training episode, shape ``(episodes,)``.
    """
    n_states, n_actions = _discrete_sizes(env)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    if not isinstance(episodes, (int, np.integer)) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    _check_probability("alpha", alpha, low_open=True)
    _check_probability("gamma", gamma)
    _check_probability("epsilon", epsilon)
    if not math.isfinite(q_init):
        raise ValueError(f"q_init must be finite, got {q_init!r}")

    q = np.full((n_states, n_actions), float(q_init))
    returns = np.zeros(episodes)
    state, _ = env.reset(seed=int(rng.integers(2**31 - 1)))
    for episode in range(episodes):
        if episode > 0:
            state, _ = env.reset()
        total = 0.0
        for _ in range(max_steps):
            if rng.random() < epsilon:
                action = int(rng.integers(n_actions))
            else:
                action = _greedy_action(q[state], rng)
            next_state, reward, terminated, truncated, _ = env.step(action)
            # easy to overlook: only a termination ends the future; a truncation bootstraps
            target = reward if terminated else reward + gamma * q[next_state].max()
            q[state, action] += alpha * (target - q[state, action])
            total += float(reward)
            state = next_state
            if terminated or truncated:
                break
        returns[episode] = total
    return q, returns


def greedy_path(env: gym.Env, q: np.ndarray, max_steps: int = 100, seed: int | None = None) -> GreedyPath:
    """Follow ``argmax_a q[s, a]`` from a reset until termination, truncation or ``max_steps`` (Chapter 3).

    Ties go to the lowest action index (``np.argmax``), so the walk is deterministic for a
    deterministic environment. A greedy policy can loop forever (for instance between two
    cells whose values it cannot tell apart); ``max_steps`` cuts the walk, and
    ``terminated`` is then False.
    """
    n_states, n_actions = _discrete_sizes(env)
    q = np.asarray(q)
    if q.shape != (n_states, n_actions):
        raise ValueError(f"q must have shape (n_states, n_actions) = {(n_states, n_actions)}, got {q.shape}")
    if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    state, _ = env.reset(seed=seed)
    states, actions, total, terminated = [int(state)], [], 0.0, False
    for _ in range(max_steps):
        action = int(np.argmax(q[state]))
        state, reward, terminated, truncated, _ = env.step(action)
        states.append(int(state))
        actions.append(action)
        total += float(reward)
        if terminated or truncated:
            break
    return GreedyPath(states, actions, total, bool(terminated))


def _transition_table(env: gym.Env) -> TransitionTable:
    try:
        return env.get_wrapper_attr("P")
    except AttributeError:
        raise ValueError(f"{env} has no transition table P[state][action] = [(prob, next_state, reward, "
                         "terminated), ...]; gymnasium's toy_text grid worlds (FrozenLake-v1, "
                         "CliffWalking-v1) have one") from None


def value_iteration(env: gym.Env, gamma: float, tol: float = 1e-12, max_iterations: int = 100_000) -> np.ndarray:
    r"""The fixed point of the Bellman optimality equation, from the environment's model ``P`` (Chapter 3).

    Iterates

    .. math::
        Q_{k+1}(s, a) = \sum_{s', r, d} p(s', r, d \mid s, a)\,\big(r + \gamma\,(1 - d)\max_{a'} Q_k(s', a')\big)

    until no entry changes by more than ``tol``. For ``gamma < 1`` the update is a
    contraction, so the iteration converges to the unique :math:`Q^*`, the table that
    tabular Q-learning approaches when every (state, action) keeps being tried.
    Entries for states that are never acted from (terminal ones) are whatever ``P``
    says about them and carry no meaning.

    Args:
        env: an environment with ``Discrete`` spaces and a transition table ``P``
            (found through its wrappers, e.g. :class:`ExtraExits`).
        gamma: discount factor in ``[0, 1)``.
        tol: stop when the largest change of an entry is at most this.
        max_iterations: raise ``RuntimeError`` if not converged by then.

    Returns:
        ``Q*`` of shape ``(n_states, n_actions)``.
    """
    n_states, n_actions = _discrete_sizes(env)
    _check_probability("gamma", gamma)
    if gamma >= 1.0:
        raise ValueError(f"value_iteration needs gamma < 1 (a contraction), got {gamma}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")
    table = _transition_table(env)
    width = max(len(table[s][a]) for s in range(n_states) for a in range(n_actions))
    prob = np.zeros((n_states, n_actions, width))  # padded outcomes have probability 0
    nxt = np.zeros((n_states, n_actions, width), np.int64)
    rew = np.zeros((n_states, n_actions, width))
    alive = np.zeros((n_states, n_actions, width))
    for s in range(n_states):
        for a in range(n_actions):
            for k, (p, s2, r, d) in enumerate(table[s][a]):
                prob[s, a, k], nxt[s, a, k], rew[s, a, k], alive[s, a, k] = p, s2, r, 0.0 if d else 1.0
    q = np.zeros((n_states, n_actions))
    for _ in range(max_iterations):
        new = (prob * (rew + gamma * alive * q.max(axis=1)[nxt])).sum(axis=2)
        change = np.abs(new - q).max()
        q = new
        if change <= tol:
            return q
    raise RuntimeError(f"value iteration did not converge to tol={tol} in {max_iterations} iterations "
                       f"(gamma={gamma}); raise max_iterations or tol")


class ExtraExits(gym.Wrapper):
    """Turn some cells of a tabular grid world into extra exits (Chapter 3).

    Entering a state listed in ``exits`` ends the episode (``terminated``) with that state's
    reward instead of the environment's own. With a small exit next to the start and the
    real goal further away, the discount factor decides which one the optimal policy
    heads for. The wrapper also rewrites the transition table ``P``, so
    :func:`value_iteration` sees the same world that :func:`q_learning` plays in.

    Args:
        env: a grid world with ``Discrete`` spaces and a transition table ``P``.
        exits: ``{state index: reward}``; the start state cannot be an exit.
    """

    def __init__(self, env: gym.Env, exits: Mapping[int, float]):
        super().__init__(env)
        n_states, n_actions = _discrete_sizes(env)
        if not exits:
            raise ValueError("exits is empty; give at least one {state: reward}")
        clean: dict[int, float] = {}
        for state, reward in exits.items():
            if not isinstance(state, (int, np.integer)) or not 0 <= state < n_states:
                raise ValueError(f"exit state {state!r} is not a state index in [0, {n_states})")
            if not math.isfinite(reward):
                raise ValueError(f"exit reward for state {state} must be finite, got {reward!r}")
            clean[int(state)] = float(reward)
        start = getattr(env.unwrapped, "initial_state_distrib", None)
        if start is not None and any(np.asarray(start)[s] > 0 for s in clean):
            raise ValueError(f"an exit cannot be a start state; exits {sorted(clean)}, start states "
                             f"{np.flatnonzero(np.asarray(start)).tolist()}")
        self.exits = clean
        base = _transition_table(env)
        self.P: dict[int, dict[int, list[tuple[float, int, float, bool]]]] = {
            s: {a: [(p, s2, clean.get(s2, r), bool(d) or s2 in clean) for p, s2, r, d in base[s][a]]
                for a in range(n_actions)}
            for s in range(n_states)
        }
        for s in clean:  # never acted from: the episode has ended
            self.P[s] = {a: [(1.0, s, 0.0, True)] for a in range(n_actions)}

    def step(self, action: Any):
        state, reward, terminated, truncated, info = self.env.step(action)
        if int(state) in self.exits:
            reward, terminated = self.exits[int(state)], True
        return state, reward, terminated, truncated, info
