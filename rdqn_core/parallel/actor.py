"""The actor of the actor-learner trainer (Chapter 7): the core's one acting loop, in its own process.

An actor owns a vector env of ``config.num_envs`` environments, a CPU copy of the Q-network and
one memory per environment. It runs :class:`~rdqn_core.rollout.Rollout` - the same loop the
single-process trainer runs, so each env's memory is reset exactly when that env starts an
episode (SAME_STEP autoreset) - and sends every ``config.chunk_len`` vector steps as one
:class:`~rdqn_core.parallel.Chunk` with the stored states and previous actions. After
each chunk it fetches newer weights and normalizer statistics if the learner published some.

Its epsilon follows the single-process schedule on the *global* env-step count the learner has
inserted (uniform random play before ``learning_starts``), so one actor with the learner makes
the same kind of run as the single process.

:func:`actor_process` is the entry point of a spawned process: it lives here, in the package,
because spawn re-imports the function by name (a function defined in a notebook cannot be found).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ..agent import epsilon_at
from ..checkpoint import action_branches_of
from ..config import TrainConfig
from ..envs import check_spaces, make_vector_env
from ..networks import build_q_network
from ..rollout import Rollout
from .transport import Chunk, Transport

__all__ = ["actor_loop", "actor_process", "actor_seed", "build_actor_network"]


def actor_seed(config: TrainConfig, actor: int) -> int:
    """Env seed of actor ``actor``: env ``i`` of it gets ``seed + actor * num_envs + i``.

    Actor 0 then plays the envs of the single-process run, and no two envs share a seed.
    """
    return config.seed + actor * config.num_envs


def build_actor_network(config: TrainConfig, obs_dim: int, n_actions: int,
                        obs_shape: tuple[int, ...] | None = None) -> torch.nn.Module:
    """A CPU network of the run's architecture (its weights come from the learner).

    ``obs_shape``: the unflattened observation shape, which the conv network (Chapter 8) needs.
    """
    return build_q_network(config.cell, obs_dim, n_actions, config.hidden_size, config.encoder_sizes,
                           config.prev_action_input, config.normalize_obs, dueling=config.dueling,
                           layer_norm=config.layer_norm, obs_shape=obs_shape,
                           action_branches=action_branches_of(config, n_actions),
                           value_support=config.value_support()).requires_grad_(False)


def actor_loop(actor: int, config: TrainConfig, transport: Transport, max_chunks: int | None = None,
               put_timeout: float = 0.2, await_insert: bool = True) -> int:
    """Act and send chunks until the transport is stopped (or ``max_chunks`` were sent); returns chunks sent.

    With ``await_insert`` (the trainer's way) the actor waits after each chunk until the learner has
    put it into the replay, then fetches the newest weights and acts the next one: it never acts a
    chunk ahead with weights that would be another chunk of updates old by the time they count.
    Without it (a test with no learner) it only waits for room in the queue.
    """
    torch.set_num_threads(1)  # several processes share the cores; one thread each is fastest here
    envs = make_vector_env(config.env_id, config.num_envs, asynchronous=config.vector_env == "async",
                           env_kwargs=config.env_kwargs, action_bins=config.action_bins)
    try:
        obs_dim, n_actions = check_spaces(envs.single_observation_space, envs.single_action_space)
        network = build_actor_network(config, obs_dim, n_actions, obs_shape=envs.single_observation_space.shape)
        version = transport.fetch(network, -2)
        rollout = Rollout(envs, network, seed=actor_seed(config, actor))
        rng = np.random.default_rng([config.seed, actor, 7])  # exploration stream of this actor
        sent, idle = 0, 0.0
        while not transport.stopped() and (max_chunks is None or sent < max_chunks):
            t0 = time.perf_counter()
            steps = []
            for _ in range(config.chunk_len):
                env_steps = transport.env_steps()
                epsilon = 1.0 if env_steps < config.learning_starts else epsilon_at(
                    env_steps, config.eps_start, config.eps_end, config.eps_decay_steps)
                steps.append(rollout.step(epsilon, rng))
            chunk = Chunk.from_transitions(actor, version, steps)
            chunk.busy_seconds, chunk.idle_seconds = time.perf_counter() - t0, idle
            t1 = time.perf_counter()
            while not transport.stopped() and not transport.put_chunk(chunk, put_timeout):
                pass  # the learner is full (rate limiter or queue): wait, but notice a stop
            while await_insert and not transport.stopped() and not transport.await_ack(actor, put_timeout):
                pass  # the learner waits for room under the rate limiter, then inserts the chunk
            idle = time.perf_counter() - t1
            sent += 1
            version = transport.fetch(network, version)
        return sent
    finally:
        envs.close()


def actor_process(actor: int, config: TrainConfig, transport: Transport) -> None:
    """Entry point of a spawned actor process (see :func:`actor_loop`)."""
    try:
        actor_loop(actor, config, transport)
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C reaches every process of the group
        pass
    finally:
        close = getattr(transport, "close", None)
        if close is not None:
            close()  # do not wait at exit for chunks nobody will read
