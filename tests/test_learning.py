"""The learning test: memory is what solves velocity-masked CartPole (slow: run in CI, skip with -m 'not slow').

It must pass on any machine, not only on the one it was written on, so it asks for margin. With the package
defaults (updates_per_step 1.0 since 2026-12-05), ``benchmarks/reliability.py --seeds 10`` (2026-12-05, 2-core CI
machine type, AMD EPYC) measured first solves at 17,500 / 7,500 / 20,000 / 30,000 / 25,000 / 25,000 / 7,500 / never /
17,500 / 35,000 env steps for seeds 0-9: the learner does not yet solve every seed (the reliable-learner issue is
open), so this test uses two seeds that solved, each with a budget of at least 1.5 times the worst first solve among
the seeds that solved (35,000).
"""
import pytest

from rdqn_core import MASKED_CARTPOLE_ID, TrainConfig, train

WORST_FIRST_SOLVE = 35_000  # over the seeds 0-9 that solved
BUDGET = int(1.5 * WORST_FIRST_SOLVE)  # 52,500 env steps


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_drqn_solves_masked_cartpole_where_memoryless_dqn_fails(seed):
    drqn = train(TrainConfig(env_id=MASKED_CARTPOLE_ID, seed=seed, total_steps=BUDGET, solve_threshold=475,
                             progress=False, torch_threads=1))
    assert drqn.summary["solved"], f"DRQN did not reach 475: evaluations {drqn.history['eval/mean_return']}"
    dqn = train(TrainConfig.memoryless(env_id=MASKED_CARTPOLE_ID, seed=seed, total_steps=drqn.summary["env_steps"],
                                       progress=False, torch_threads=1))
    assert dqn.summary["best_eval_return"] < 100, f"memoryless DQN got {dqn.history['eval/mean_return']}"
