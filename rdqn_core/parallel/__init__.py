"""Parallel and distributed training (Chapter 7).

It sits above the trainer and below the command line:

* ``limiter`` - :class:`RateLimiter`, Reverb's SampleToInsertRatio: holds updates per env step;
* ``transport`` - what actors and the learner exchange (:class:`Chunk`) and how the bytes travel
  (:class:`MultiprocessingTransport`: a queue and weights in shared memory);
* ``actor`` - the actor process: the core's one acting loop (:class:`~rdqn_core.rollout.Rollout`);
* ``learner`` - :func:`train_actor_learner`: the learner (replay, normalizer, optimizer) and its actors;
* ``data_parallel`` - :class:`DataParallelAgent` and :func:`train_data_parallel`: learners on several
  processes with ``torch.distributed`` (launched by ``torchrun``).
"""
from .actor import actor_loop, actor_process, actor_seed
from .limiter import LimiterClosed, RateLimiter
from .learner import ShardedReplay, train_actor_learner
from .transport import Chunk, MultiprocessingTransport, Transport, spawn_context
from .data_parallel import DataParallelAgent, gradient_check, init_distributed, split_batch, train_data_parallel

__all__ = ["RateLimiter", "LimiterClosed", "Chunk", "Transport", "MultiprocessingTransport", "spawn_context",
           "actor_loop", "actor_process", "actor_seed", "ShardedReplay", "train_actor_learner",
           "DataParallelAgent", "gradient_check", "init_distributed", "split_batch", "train_data_parallel"]
