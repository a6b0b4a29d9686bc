"""Data-parallel learners with ``torch.distributed`` (Chapter 7).

Launch one process per learner with ``torchrun`` (gloo on CPUs, NCCL with one GPU per rank)::

    torchrun --standalone --nproc-per-node 2 -m rdqn_core train --ddp --batch-size 32 ...
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29400 -m rdqn_core train --ddp

Every rank runs the single-process trainer (its own envs, seeded ``seed + 1000 * rank``, and
its own replay) with a :class:`DataParallelAgent`: the same initial weights (broadcast from
rank 0), ``batch_size / world_size`` windows per rank, and after every backward pass one
all-reduce that turns the ranks' gradients into the gradient of the *global* masked mean TD loss:

    g = sum_r count_r * g_r / sum_r count_r        (count_r: valid trained steps on rank r)

``td_loss`` divides by the local count, so a plain average of the ranks' gradients (what DDP
does) is the global mean only when every rank holds the same count; windows cut by episode
ends make counts differ. After the all-reduce every rank clips the same gradient and makes
the same Adam step, so the ranks stay identical without any broadcast of parameters.

We all-reduce one flat tensor ourselves instead of wrapping the network in
``DistributedDataParallel``: the arithmetic is DDP's (one bucket, no overlap of communication
with the backward pass, which buys nothing on 2 cores), the count can ride in the same
message, no wrapper hides ``agent.online.normalizer`` and no buffer broadcast overwrites the
normalizer. The normalizer's statistics are kept equal by updating them on every rank with the
observations of all ranks (an all-gather per env step).

:func:`gradient_check` (``python -m rdqn_core.parallel.data_parallel`` under ``torchrun``) checks
the claim: the ranks' combined gradient against one process on the whole batch.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import sys
import time
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from ..agent import QAgent
from ..checkpoint import build_agent
from ..config import TrainConfig
from ..envs import check_spaces, make_vector_env
from ..replay import SequenceReplay
from ..rollout import Rollout
from ..trainer import TrainResult, build_replay, train
from ..types import SequenceBatch
from ..utils import seed_everything

__all__ = ["DataParallelAgent", "split_batch", "train_data_parallel", "gradient_check", "init_distributed"]


def init_distributed(backend: str | None = None) -> tuple[int, int]:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ...); (rank, world_size).

    Without torchrun's variables it returns (0, 1) and starts nothing.
    """
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class DataParallelAgent(QAgent):
    """A :class:`~rdqn_core.agent.QAgent` whose gradients are combined over the process group.

    Same constructor as ``QAgent``. In a group of one it is exactly a ``QAgent`` (bitwise; tested).
    ``keep_gradients=True`` keeps a copy of the combined gradient before clipping in ``last_gradients``.
    """

    def __init__(self, network: nn.Module, config: TrainConfig, device: torch.device, keep_gradients: bool = False):
        super().__init__(network, config, device)
        self.world_size = _world()
        self.keep_gradients = keep_gradients
        self.last_gradients: list[Tensor] | None = None
        if self.world_size > 1:
            with torch.no_grad():  # every rank starts from rank 0's weights and statistics
                for tensor in [*self.online.state_dict().values()]:
                    if torch.is_tensor(tensor):  # not the conv network's extra state (its board size)
                        dist.broadcast(tensor, src=0)
                for p_t, p in zip(self.target.parameters(), self.online.parameters()):
                    p_t.copy_(p)
            if self.online.normalizer is not None:
                local_update = self.online.normalizer.update

                def update_with_all_ranks(obs: Tensor) -> None:
                    gathered = [torch.empty_like(obs) for _ in range(self.world_size)]
                    dist.all_gather(gathered, obs.contiguous())
                    local_update(torch.cat(gathered))

                self.online.normalizer.update = update_with_all_ranks

    def fit_value_range(self, reward_min: float, reward_max: float) -> tuple[float, float] | None:
        """As :meth:`~rdqn_core.agent.QAgent.fit_value_range`, from the rewards every rank has seen (all ranks call it
        together)."""
        if self.world_size > 1 and self.value_range_pending:
            ends = torch.tensor([-reward_min, reward_max], dtype=torch.float64, device=self.device)  # NCCL: on the GPU
            dist.all_reduce(ends, op=dist.ReduceOp.MAX)  # the lowest minimum and the highest maximum
            reward_min, reward_max = -float(ends[0]), float(ends[1])
        return super().fit_value_range(reward_min, reward_max)

    def reduce_gradients(self, mask: Tensor) -> None:
        params = [p for p in self.online.parameters() if p.requires_grad]
        if self.world_size > 1:
            count = mask.to(torch.float32).sum()
            grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
            flat = torch.cat([g.reshape(-1) for g in grads] + [torch.ones(1, device=count.device)]) * count
            dist.all_reduce(flat)  # sum over ranks of count_r * g_r, and of count_r in the last entry
            flat = flat[:-1] / flat[-1].clamp(min=1.0)
            offset = 0
            for p, g in zip(params, grads):
                p.grad = flat[offset: offset + g.numel()].view_as(g).clone()
                offset += g.numel()
        if self.keep_gradients:
            self.last_gradients = [p.grad.detach().clone() for p in params]


def split_batch(batch: SequenceBatch, rank: int, world_size: int) -> SequenceBatch:
    """Rank ``rank``'s contiguous share of a batch's windows (axis 1 of time-major fields, axis 0 of per-window ones).

    A batch of B windows needs ``B % world_size == 0``.
    """
    B = batch.actions.shape[1]
    if B % world_size:
        raise ValueError(f"a batch of {B} windows cannot be split evenly over {world_size} ranks")
    part = slice(rank * B // world_size, (rank + 1) * B // world_size)

    def take(value: Any) -> Any:
        if value is None or isinstance(value, (float, int)):
            return value
        if isinstance(value, tuple):  # RecurrentState, NStepParts: NamedTuples of per-window fields
            return type(value)(*[take(v) for v in value])
        if isinstance(value, np.ndarray) or value.ndim == 1:
            return value[part]
        return value[:, part]

    return type(batch)(*[take(v) for v in batch])


def train_data_parallel(config: TrainConfig, out_dir: str | os.PathLike | None = None) -> TrainResult:
    """Train on every rank of the torchrun group (see the module docstring); rank 0 writes ``out_dir``."""
    rank, world = init_distributed()
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by the world size {world} "
                         "(it is the global batch, split over the ranks)")
    if world > 1 and config.solve_threshold is not None:
        raise ValueError("solve_threshold is not supported with --ddp: ranks evaluate on different seeds and "
                         "would stop at different times; leave it unset (none)")
    local = dataclasses.replace(config, seed=config.seed + 1000 * rank, batch_size=config.batch_size // world,
                                progress=config.progress and rank == 0)

    def builder(cfg: TrainConfig, obs_dim: int, n_actions: int, device: torch.device,
                obs_shape: tuple[int, ...] | None = None) -> QAgent:
        plain = build_agent(cfg, obs_dim, n_actions, device, obs_shape=obs_shape)
        return DataParallelAgent(plain.online, cfg, device)

    result = train(local, out_dir=out_dir if rank == 0 else None, agent_builder=builder)
    identical = True
    if world > 1:  # the ranks must end with the same network (weights and normalizer statistics)
        flat = torch.cat([t.detach().reshape(-1).double().cpu() for t in result.agent.online.state_dict().values()
                          if torch.is_tensor(t)])
        gathered = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(gathered, flat)
        identical = all(torch.equal(g, gathered[0]) for g in gathered)
        dist.barrier()
    result.summary.update(world_size=world, rank=rank, global_batch_size=config.batch_size,
                          ranks_identical=identical)
    return result


def _filled_replay(config: TrainConfig, steps: int) -> tuple[SequenceReplay, QAgent]:
    envs = make_vector_env(config.env_id, config.num_envs, env_kwargs=config.env_kwargs,
                           action_bins=config.action_bins)
    obs_dim, n_actions = check_spaces(envs.single_observation_space, envs.single_action_space)
    agent = build_agent(config, obs_dim, n_actions, torch.device("cpu"))
    replay = build_replay(config, obs_dim, agent)
    rollout = Rollout(envs, agent.online, seed=config.seed)
    rng = np.random.default_rng(config.seed)
    for _ in range(steps // config.num_envs):
        step = rollout.step(1.0, rng)
        agent.normalizer.update(torch.as_tensor(step.obs))
        replay.add(step.obs, step.actions, step.rewards, step.terminated, step.truncated, step.next_obs,
                   step.prev_actions, step.state)
    envs.close()
    return replay, agent


def _time_updates(parallel: QAgent, shard: SequenceBatch, reference: QAgent, batch: SequenceBatch, n: int,
                  rank: int) -> dict[str, float]:
    """ms per update: all ranks together on their shards, then rank 0 alone on the whole batch (others wait)."""
    world = _world()
    times = {}
    if world > 1:
        dist.barrier()
    t0 = time.perf_counter()
    for _ in range(n):
        parallel.update(shard)
    times["ms_per_update_parallel"] = round(1000 * (time.perf_counter() - t0) / n, 3)
    if world > 1:
        dist.barrier()
    if rank == 0:
        t0 = time.perf_counter()
        for _ in range(n):
            reference.update(batch)
        times["ms_per_update_one_process"] = round(1000 * (time.perf_counter() - t0) / n, 3)
    if world > 1:
        dist.barrier()
    return times


class _Recorder(QAgent):
    """One process on the whole batch, keeping its gradient before clipping."""

    last_gradients: list[Tensor] | None = None

    def reduce_gradients(self, mask: Tensor) -> None:
        self.last_gradients = [p.grad.detach().clone() for p in self.online.parameters() if p.requires_grad]


def gradient_check(seed: int = 0, batch_size: int = 16, timed_updates: int = 0) -> dict[str, Any]:
    """One update on one global batch: the ranks' combined gradient and step against one process on all of it.

    Run on every rank (under torchrun, or alone: world size 1). The batch is drawn until the ranks' shares
    hold different numbers of valid trained steps (the case a per-rank mean gets wrong). The clip threshold
    is set low enough to bite. With ``timed_updates`` it also times that many updates of each (ms per update).
    """
    rank, world = init_distributed("gloo")
    torch.set_num_threads(1)
    seed_everything(seed)
    config = TrainConfig(seed=seed, batch_size=batch_size, hidden_size=32, encoder_sizes=(32,), num_envs=4,
                         max_grad_norm=0.1, progress=False, device="cpu")
    replay, base = _filled_replay(config, 2_000)  # the same on every rank: same seed, random play
    rng = np.random.default_rng(seed)
    for _ in range(100):
        batch = replay.sample(batch_size, rng)
        counts = [int(split_batch(batch, r, world).loss_mask[config.burn_in:].sum()) for r in range(world)]
        if world == 1 or len(set(counts)) > 1:
            break
    reference = _Recorder(copy.deepcopy(base.online), config, torch.device("cpu"))
    reference.update(batch)
    parallel = DataParallelAgent(copy.deepcopy(base.online), dataclasses.replace(config, batch_size=batch_size // world),
                                 torch.device("cpu"), keep_gradients=True)
    parallel.update(split_batch(batch, rank, world))
    grad_diff = max(float((a - b).abs().max()) for a, b in zip(parallel.last_gradients, reference.last_gradients))
    param_diff = max(float((a - b).detach().abs().max()) for a, b in
                     zip(parallel.online.parameters(), reference.online.parameters()))
    grad_scale = max(float(g.abs().max()) for g in reference.last_gradients)
    out = {"world_size": world, "rank": rank, "valid_counts": counts, "max_abs_grad_diff": grad_diff,
           "max_abs_param_diff_after_step": param_diff, "max_abs_grad": grad_scale,
           "grad_norm": float(torch.cat([g.reshape(-1) for g in reference.last_gradients]).norm()),
           "max_grad_norm": config.max_grad_norm}
    if timed_updates:
        out.update(_time_updates(parallel, split_batch(batch, rank, world), reference, batch, timed_updates, rank))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return out


if __name__ == "__main__":  # torchrun --standalone --nproc-per-node 2 -m rdqn_core.parallel.data_parallel
    args = [int(a) for a in sys.argv[1:]]
    result = gradient_check(*(args[:1] or [0]), timed_updates=args[1] if len(args) > 1 else 0)
    if result["rank"] == 0:
        print(json.dumps(result))
