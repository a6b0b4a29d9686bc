"""Chapter 7's throughput instruments and the Amdahl model."""
import numpy as np
import pytest

from rdqn_core import MASKED_CARTPOLE_ID, SLOW_MASKED_CARTPOLE, TrainConfig, amdahl_speedup
from rdqn_core.instruments import acting_and_update_times, scaling_run, vector_env_throughput


def test_amdahl_by_hand():
    # one process: 1 ms acting + 0.5 * 4 ms updating = 3 ms per env step
    assert amdahl_speedup(1e-3, 4e-3, 0.5, 1) == pytest.approx(3 / 2)  # learner-bound at 2 ms
    assert amdahl_speedup(1e-3, 4e-3, 0.5, 8) == pytest.approx(3 / 2)  # more actors do not help
    assert amdahl_speedup(4e-3, 1e-3, 0.5, 2) == pytest.approx(4.5 / 2)  # actor-bound: 2 ms per step
    np.testing.assert_allclose(amdahl_speedup(4e-3, 1e-3, 0.5, np.array([1, 8])), [4.5 / 4, 4.5 / 0.5])
    with pytest.raises(ValueError, match="positive"):
        amdahl_speedup(0, 1, 1, 1)
    with pytest.raises(ValueError, match="actors"):
        amdahl_speedup(1, 1, 1, 0)


def test_a_sleeping_step_pays_off_with_async_envs():
    sync = vector_env_throughput(SLOW_MASKED_CARTPOLE, 4, False, steps=80, env_kwargs={"delay": 0.005})
    asyn = vector_env_throughput(SLOW_MASKED_CARTPOLE, 4, True, steps=80, env_kwargs={"delay": 0.005})
    assert sync < 4 / 0.005 / 4 * 1.05  # 4 sleeping steps in a row per vector step: <= 200 steps/s
    assert asyn > 1.5 * sync  # the 4 sleeps overlap in 4 processes


def test_acting_and_update_times_are_positive_and_consistent():
    cfg = TrainConfig(num_envs=2, hidden_size=16, encoder_sizes=(16,), batch_size=8, buffer_size=2_000,
                      env_id=MASKED_CARTPOLE_ID, progress=False)
    out = acting_and_update_times(cfg, blocks=2, act_steps=40, updates=3, fill_steps=200)
    assert out["t_act"] > 0 and out["t_update"] > 0 and 0 < out["acting_share"] < 1
    assert out["acting_share"] == pytest.approx(out["t_act"] / (out["t_act"] + cfg.updates_per_step * out["t_update"]))


def test_scaling_run_rejects_negative_actor_counts():
    with pytest.raises(ValueError, match=r"actors must be >= 0 \(0: the single process\), got -1"):
        scaling_run(TrainConfig(), -1)
