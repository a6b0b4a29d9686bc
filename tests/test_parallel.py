"""Chapter 7's actor-learner engine: the rate limiter, actor processes, weight versions, shutdown."""
import dataclasses
import math
import threading
import time

import numpy as np
import pytest
import torch

from rdqn_core import TrainConfig
from rdqn_core.networks import build_q_network
from rdqn_core.parallel import (LimiterClosed, MultiprocessingTransport, RateLimiter, actor_loop, spawn_context,
                                train_actor_learner)
from rdqn_core.parallel.actor import actor_process, build_actor_network

TINY = TrainConfig(total_steps=1_200, learning_starts=200, eval_every=0, progress=False, hidden_size=16,
                   encoder_sizes=(16,), batch_size=8, buffer_size=4_000, num_envs=2, chunk_len=8, sync_every=5,
                   torch_threads=1, updates_per_step=0.5)  # the ratio these tests were written and bounded at


# ---------- rate limiter ----------

def test_limiter_rejects_what_it_cannot_hold():
    with pytest.raises(ValueError, match="ratio"):
        RateLimiter(0.0, 10, 5)
    with pytest.raises(ValueError, match="min_size"):
        RateLimiter(0.5, 0, 5)
    with pytest.raises(ValueError, match="tolerance"):
        RateLimiter(0.5, 10, 0.5)
    with pytest.raises(ValueError, match="band"):
        limiter = RateLimiter(0.5, 10, 2)
        limiter.await_insert(10)
        limiter.await_insert(100)


def test_no_sample_before_min_size_then_blocks_until_inserts():
    limiter = RateLimiter(ratio=0.5, min_size=10, tolerance=2)
    assert not limiter.await_sample(timeout=0.05)  # nothing inserted: it waits, then gives up
    limiter.await_insert(10)
    got = [limiter.await_sample(timeout=0.05) for _ in range(5)]
    assert got == [True, True, False, False, False]  # the band below the target is 2 samples wide

    released = threading.Event()

    def sampler():
        limiter.await_sample()  # blocks (no timeout) until an insert makes room
        released.set()

    thread = threading.Thread(target=sampler)
    thread.start()
    time.sleep(0.1)
    assert not released.is_set(), "await_sample returned although the ratio forbids a sample"
    limiter.await_insert(2)  # +1 sample of room: the condition variable wakes the sampler
    thread.join(timeout=2)
    assert released.is_set() and limiter.samples == 3


def test_inserts_block_when_the_learner_falls_behind():
    limiter = RateLimiter(ratio=1.0, min_size=1, tolerance=3)
    limiter.await_insert(1)
    assert limiter.await_insert(3, timeout=0.05)  # diff 3 of a band of 3 above target
    assert not limiter.await_insert(1, timeout=0.05)  # one more would leave the band
    assert limiter.await_sample(timeout=0.05)
    assert limiter.await_insert(1, timeout=0.05)


def test_close_wakes_waiters_with_an_error():
    limiter = RateLimiter(ratio=1.0, min_size=5, tolerance=1)
    errors = []

    def waiter():
        try:
            limiter.await_sample()
        except LimiterClosed as err:
            errors.append(err)

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.05)
    limiter.close()
    thread.join(timeout=2)
    assert not thread.is_alive() and len(errors) == 1


@pytest.mark.parametrize("ratio", [0.25, 2.0])
def test_threads_hold_the_ratio_within_tolerance(ratio):
    """A fast inserter and a fast sampler: the limiter alone sets the ratio they reach."""
    limiter = RateLimiter(ratio=ratio, min_size=20, tolerance=8)
    inserts_total = 4_000

    def inserter():
        for _ in range(inserts_total // 4):
            limiter.await_insert(4)

    def sampler(stop):
        while not stop.is_set():
            limiter.await_sample(timeout=0.01)

    stop = threading.Event()
    threads = [threading.Thread(target=inserter), threading.Thread(target=sampler, args=(stop,))]
    for t in threads:
        t.start()
    threads[0].join(timeout=20)
    time.sleep(0.05)
    stop.set()
    threads[1].join(timeout=5)
    expected = ratio * (inserts_total - 20)
    assert abs(limiter.samples - expected) <= 8 + 1, (limiter.samples, expected)
    assert abs(limiter.measured_ratio() / ratio - 1) < 0.01


def test_free_running_never_blocks_and_reports_its_ratio():
    limiter = RateLimiter(ratio=0.5, min_size=5, tolerance=1, free_running=True)
    assert limiter.await_insert(100, timeout=0)  # far beyond any band
    for _ in range(3):
        assert limiter.await_sample(timeout=0)
    assert limiter.measured_ratio() == pytest.approx(3 / 95)


# ---------- weights and normalizer statistics, versioned ----------

def _net(seed):
    torch.manual_seed(seed)
    return build_q_network("lstm", 2, 2, 8, (8,), True, normalize_obs=True).requires_grad_(False)


def test_publish_and_fetch_carry_weights_normalizer_and_version():
    learner, actor = _net(0), _net(1)
    learner.normalizer.update(torch.randn(50, 2) * 3 + 1)
    transport = MultiprocessingTransport(learner)
    try:
        transport.publish(learner, version=7, env_steps=123)
        assert transport.fetch(actor, have=-1) == 7
        for (name, a), b in zip(actor.state_dict().items(), learner.state_dict().values()):
            assert torch.equal(a, b), name  # normalizer mean/var/count included
        assert transport.env_steps() == 123
        # an unchanged version copies nothing
        with torch.no_grad():
            learner.normalizer.mean += 1
        transport.shared.normalizer.mean.copy_(learner.normalizer.mean)  # written, but not published
        assert transport.fetch(actor, have=7) == 7
        assert not torch.equal(actor.normalizer.mean, learner.normalizer.mean)
        transport.publish(learner, version=8, env_steps=130)
        assert transport.fetch(actor, have=7) == 8
        assert torch.equal(actor.normalizer.mean, learner.normalizer.mean)
    finally:
        transport.close()


# ---------- the actor process ----------

def test_actor_process_resets_each_envs_memory_at_its_own_episode_start():
    cfg = dataclasses.replace(TINY, num_envs=3, chunk_len=40, learning_starts=10_000)  # random play: short episodes
    network = build_actor_network(cfg, 2, 2)
    with torch.no_grad():  # large weights, so that a memory that was not reset is far from zero
        for p in network.parameters():
            p.normal_(0, 1)
    transport = MultiprocessingTransport(network, queue_size=4)
    transport.publish(network, 3, 0)
    proc = spawn_context().Process(target=actor_process, args=(0, cfg, transport), daemon=True)
    proc.start()
    try:
        chunks = []
        for _ in range(2):
            chunks.append(transport.get_chunk(timeout=60))
            transport.ack(0)  # as the learner does once a chunk is in its replay; the actor waits for it
    finally:
        transport.stop()
        transport.drain()
        proc.join(timeout=20)
        transport.close()
    assert not proc.is_alive(), "the actor process did not exit after stop()"
    assert all(c is not None and c.version == 3 for c in chunks)
    chunk = chunks[0]
    T, B = chunk.actions.shape
    assert (T, B) == (40, 3) and chunk.state_h.shape == (40, 3, 16)
    starts = chunk.episode_starts.astype(bool)
    assert starts[0].all()  # every env starts an episode at the first step
    assert (chunk.prev_actions[starts] == -1).all()
    norms = np.abs(chunk.state_h).sum(-1) + np.abs(chunk.state_c).sum(-1)  # (T, B)
    assert np.all(norms[starts] == 0.0), "a memory was not reset at its env's episode start"
    assert np.all(norms[~starts] > 0.0)
    # envs end their episodes at different steps, and only the env that starts is reset
    mixed = [t for t in range(1, T) if starts[t].any() and not starts[t].all()]
    assert mixed, "no step where one env started while another ran on (random play, 40 steps)"
    done = chunk.terminated | chunk.truncated
    assert np.array_equal(starts[1:], done[:-1])


def test_actor_loop_in_process_with_max_chunks():
    cfg = dataclasses.replace(TINY, chunk_len=4)
    network = build_actor_network(cfg, 2, 2)
    transport = MultiprocessingTransport(network, queue_size=4)
    transport.publish(network, 0, 0)
    try:
        assert actor_loop(1, cfg, transport, max_chunks=3, await_insert=False) == 3
        chunk = transport.get_chunk(timeout=5)
        assert chunk.actor == 1 and chunk.steps == 4 * cfg.num_envs
    finally:
        transport.stop()
        transport.drain()
        transport.close()


# ---------- end to end ----------

@pytest.mark.parametrize("actors", [1, 2])
def test_actor_learner_holds_the_replay_ratio(actors):
    cfg = dataclasses.replace(TINY, actors=actors)
    t0 = time.perf_counter()
    result = train_actor_learner(cfg)
    s = result.summary
    assert time.perf_counter() - t0 < 120
    assert s["env_steps"] >= cfg.total_steps
    assert s["updates"] == math.floor((s["env_steps"] - cfg.learning_starts) * cfg.updates_per_step)
    assert abs(s["updates_per_step_measured"] / cfg.updates_per_step - 1) <= 0.05
    chunk_updates = cfg.chunk_len * cfg.num_envs * cfg.updates_per_step
    if actors == 1:  # the actor waits for its chunk's insert before it fetches and acts again: the bound
        assert 0 <= s["weight_lag_max"] <= cfg.sync_every + chunk_updates
    else:  # the other actors' chunks are inserted in between, each worth at most chunk_updates + 1 updates
        assert 0 <= s["weight_lag_max"] <= cfg.sync_every - 1 + 3 * (chunk_updates + 1)
    for key in ("env_steps_per_s", "updates_per_s", "weight_lag_mean", "actor_idle_frac", "learner_idle_frac"):
        assert s[key] >= 0
    assert len(result.history["losses/td_loss"]) == s["updates"]
    assert not spawn_context().active_children(), "actor processes were left running"


def test_an_actor_with_an_async_vector_env():
    """An actor process starts the env worker processes of an AsyncVectorEnv (so it must not be daemonic)."""
    result = train_actor_learner(dataclasses.replace(TINY, actors=1, vector_env="async", total_steps=600))
    assert result.summary["env_steps"] >= 600
    assert not spawn_context().active_children()


def test_free_running_reports_the_ratio_it_got():
    result = train_actor_learner(dataclasses.replace(TINY, actors=1, free_running=True))
    s = result.summary
    assert s["free_running"] and s["updates_per_step_measured"] == pytest.approx(
        s["updates"] / (s["env_steps"] - TINY.learning_starts), abs=1e-3)
    assert not spawn_context().active_children()


def test_actor_learner_needs_actors():
    with pytest.raises(ValueError, match="actors >= 1"):
        train_actor_learner(TINY)


def test_the_single_process_trainer_runs_on_an_async_vector_env():
    from rdqn_core import train

    sync = train(dataclasses.replace(TINY, total_steps=300, learning_starts=100))
    asyn = train(dataclasses.replace(TINY, total_steps=300, learning_starts=100, vector_env="async"))
    assert asyn.summary["updates"] == sync.summary["updates"]
    # same seeds, same envs, same arithmetic: the process boundary changes nothing
    assert asyn.history["losses/td_loss"] == sync.history["losses/td_loss"]


def test_slow_step_takes_its_delay_and_keeps_the_env():
    from rdqn_core import SLOW_MASKED_CARTPOLE, make_env

    env = make_env(SLOW_MASKED_CARTPOLE, delay=0.005)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2,)
    t0 = time.perf_counter()
    for _ in range(4):
        env.step(0)
    assert time.perf_counter() - t0 >= 4 * 0.005
    busy = make_env(SLOW_MASKED_CARTPOLE, delay=0.002, busy=True)
    busy.reset(seed=0)
    t0 = time.perf_counter()
    busy.step(1)
    assert time.perf_counter() - t0 >= 0.002
    with pytest.raises(ValueError, match="delay"):
        make_env(SLOW_MASKED_CARTPOLE, delay=-1)


@pytest.mark.parametrize("value_sigma", [None, 0.5])
def test_actor_learner_fits_the_histogram_range_from_the_actors_rewards(value_sigma):
    """loss='hl_gauss' without a range: the learner takes it from the shards when learning starts (CartPole's
    rewards of 1 and gamma 0.9: [0, 10] widened by one each side) and ships it to the actors with the weights;
    with value_sigma, the target's width is value_sigma times those rewards."""
    cfg = dataclasses.replace(TINY, loss="hl_gauss", gamma=0.9, total_steps=600, actors=1, value_sigma=value_sigma)
    result = train_actor_learner(cfg)
    edges = result.agent.online.head.bin_edges
    assert result.summary["updates"] > 0 and (edges[0].item(), edges[-1].item()) == (-1.0, 11.0)
    assert result.summary["value_range"] == [-1.0, 11.0]
    assert result.summary.get("value_sigma") == value_sigma and result.agent.value_sigma == value_sigma
    assert "bin_edges" in "".join(result.agent.online.state_dict())  # published with the weights
    assert not spawn_context().active_children()


def test_actor_learner_trains_the_board_network():
    """Chapter 8's conv network through Chapter 7's actors: the board size reaches the learner and the actors."""
    cfg = TrainConfig.board(env_id="rdqn/Minesweeper-v0", env_kwargs={"rows": 4, "cols": 4, "mines": 2},
                            total_steps=400, learning_starts=100, batch_size=8, encoder_sizes=(8, 8),
                            num_envs=2, chunk_len=8, eval_every=0, actors=1, progress=False)
    result = train_actor_learner(cfg)
    assert type(result.agent.online).__name__ == "ConvQNetwork"
    assert result.summary["env_steps"] >= 400 and result.summary["updates"] > 0
    assert not spawn_context().active_children()


def test_an_actor_acts_its_next_chunk_only_after_the_learner_inserted_the_last():
    """The handshake that bounds the weight lag: no second chunk before ``ack``, then one."""
    cfg = dataclasses.replace(TINY, chunk_len=4)
    network = build_actor_network(cfg, 2, 2)
    transport = MultiprocessingTransport(network, queue_size=4)
    transport.publish(network, 0, 0)
    sent = []
    thread = threading.Thread(target=lambda: sent.append(actor_loop(0, cfg, transport, max_chunks=2)), daemon=True)
    thread.start()
    try:
        assert transport.get_chunk(timeout=30) is not None
        assert transport.get_chunk(timeout=1.0) is None, "the actor sent a chunk before its last one was inserted"
        transport.ack(0)
        assert transport.get_chunk(timeout=30) is not None
        transport.ack(0)
        thread.join(timeout=30)
        assert sent == [2]
    finally:
        transport.stop()
        transport.drain()
        transport.close()
