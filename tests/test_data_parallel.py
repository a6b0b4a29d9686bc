"""Chapter 7's data-parallel learners: the ranks' combined gradient is the one-process full-batch gradient."""
import copy
import json
import os
import subprocess
import sys

import numpy as np
import torch

from rdqn_core import QAgent, TrainConfig
from rdqn_core.parallel import DataParallelAgent, gradient_check, split_batch
from rdqn_core.parallel.data_parallel import _filled_replay

CFG = TrainConfig(batch_size=8, hidden_size=16, encoder_sizes=(16,), num_envs=2, progress=False, device="cpu")


def test_split_batch_takes_each_ranks_windows_of_every_field():
    replay, _ = _filled_replay(CFG, 600)
    batch = replay.sample(8, np.random.default_rng(0))
    halves = [split_batch(batch, r, 2) for r in range(2)]
    assert halves[0].obs.shape[1] == 4 and halves[1].initial_state.h.shape[1] == 4
    assert torch.equal(torch.cat([h.obs for h in halves], 1), batch.obs)
    assert torch.equal(torch.cat([h.burn_in_lengths for h in halves]), batch.burn_in_lengths)
    assert torch.equal(torch.cat([h.return_parts.sums for h in halves], 1), batch.return_parts.sums)
    try:
        split_batch(batch, 0, 3)
    except ValueError as err:
        assert "evenly" in str(err)
    else:
        raise AssertionError("a batch of 8 was split over 3 ranks")


def test_a_group_of_one_is_exactly_the_single_process_agent():
    replay, base = _filled_replay(CFG, 600)
    batch = replay.sample(8, np.random.default_rng(1))
    plain = QAgent(copy.deepcopy(base.online), CFG, torch.device("cpu"))
    single = DataParallelAgent(copy.deepcopy(base.online), CFG, torch.device("cpu"))
    for _ in range(3):
        plain.update(batch)
        single.update(batch)
    for a, b in zip(plain.online.state_dict().values(), single.online.state_dict().values()):
        assert torch.equal(a, b)  # bitwise


def test_world_size_one_check_is_exact():
    out = gradient_check(0, batch_size=8)
    assert out["world_size"] == 1 and out["max_abs_grad_diff"] == 0.0 and out["max_abs_param_diff_after_step"] == 0.0


def test_two_gloo_ranks_match_one_process_on_the_global_batch():
    """torchrun with 2 CPU ranks; the shards hold unequal numbers of valid steps and the clip bites."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "rdqn_core.parallel.data_parallel", "0"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["world_size"] == 2
    assert len(set(out["valid_counts"])) == 2, out["valid_counts"]
    assert out["grad_norm"] > out["max_grad_norm"], "the clip did not bite; the check would not cover it"
    assert out["max_abs_grad_diff"] <= 1e-6, out
    assert out["max_abs_param_diff_after_step"] <= 1e-6, out


def test_train_ddp_keeps_the_ranks_identical():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "rdqn_core", "train", "--ddp", "--total-steps", "600", "--learning-starts", "200",
                           "--batch-size", "8", "--hidden-size", "16", "--encoder-sizes", "16", "--eval-every", "0",
                           "--updates-per-step", "0.5", "--quiet"], capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, proc.stdout  # rank 0 reports for the group
    out = json.loads(lines[0])
    assert out["world_size"] == 2 and out["ranks_identical"] and out["updates"] == 200


def test_train_ddp_fits_one_histogram_range_for_all_ranks():
    """loss='hl_gauss' without a range on the pendulum: each rank's random play sees other rewards (rank r plays
    seed + 1000 r), so a range taken from one rank's replay would differ between ranks; the ranks agree on the
    widest, and end identical (their state includes the bin edges)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "rdqn_core", "train", "--ddp", "--env", "rdqn/AnglePendulum-v0", "--action-bins", "5",
                           "--loss", "hl_gauss", "--gamma", "0.9", "--total-steps", "400", "--learning-starts", "200",
                           "--batch-size", "8", "--hidden-size", "16", "--encoder-sizes", "16", "--eval-every", "0",
                           "--quiet"], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][0])
    assert out["world_size"] == 2 and out["ranks_identical"] and out["updates"] > 0
    assert out["value_range"][0] < -100 < 0 < out["value_range"][1], out["value_range"]


def test_train_ddp_runs_the_board_network():
    """Chapter 8's conv network under torchrun: its extra state (the board size) is not a tensor to broadcast."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "rdqn_core", "train", "--ddp", "--env", "rdqn/Minesweeper-v0", "--env-kwargs",
                           '{"rows": 4, "cols": 4, "mines": 2}', "--total-steps", "300", "--learning-starts", "100",
                           "--batch-size", "8", "--encoder-sizes", "8,8", "--eval-every", "0", "--quiet"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][0])
    assert out["world_size"] == 2 and out["ranks_identical"] and out["updates"] > 0
