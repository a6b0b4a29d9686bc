"""The learning test: memory is what solves velocity-masked CartPole (slow: run in CI, skip with -m 'not slow')."""
import dataclasses

import pytest

from rdqn_core import MASKED_CARTPOLE_ID, TrainConfig, train

BUDGET = 40_000  # env steps; the DRQN normally solves far earlier and stops


@pytest.mark.slow
def test_drqn_solves_masked_cartpole_where_memoryless_dqn_fails():
    drqn = train(TrainConfig(env_id=MASKED_CARTPOLE_ID, seed=0, total_steps=BUDGET, solve_threshold=475,
                             progress=False, torch_threads=1))
    assert drqn.summary["solved"], f"DRQN did not reach 475: evaluations {drqn.history['eval/mean_return']}"
    dqn = train(TrainConfig.memoryless(env_id=MASKED_CARTPOLE_ID, seed=0, total_steps=drqn.summary["env_steps"],
                                       progress=False, torch_threads=1))
    assert dqn.summary["best_eval_return"] < 100, f"memoryless DQN got {dqn.history['eval/mean_return']}"
