"""examples/: a practitioner's own environment, trained through the command line as the README shows."""
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from examples.angle_only_pendulum import make_env, make_full_env
from rdqn_core import TrainConfig
from rdqn_core.envs import check_spaces

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_angle_only_pendulum_hides_the_velocity_and_offers_bins_torques():
    env = make_env(bins=4)
    check_env(env, skip_render_check=True)
    assert check_spaces(env.observation_space, env.action_space) == (2, 4)
    obs, _ = env.reset(seed=0)
    theta = env.unwrapped.state[0]
    np.testing.assert_allclose(obs, [np.cos(theta), np.sin(theta)], rtol=1e-6)
    torques = [float(env.action(a)[0]) for a in range(4)]
    np.testing.assert_allclose(torques, [-1.5, -0.5, 0.5, 1.5], atol=1e-6)  # centres of 4 intervals of [-2, 2]
    full = make_full_env(bins=4)
    assert check_spaces(full.observation_space, full.action_space) == (3, 4)
    np.testing.assert_allclose(full.reset(seed=0)[0][:2], obs, rtol=1e-6)  # same start, velocity shown as well


@pytest.mark.parametrize("bins", [0, 1, 2.5])
def test_angle_only_pendulum_rejects_fewer_than_two_bins(bins):
    with pytest.raises(ValueError, match="bins must be an integer >= 2"):
        make_env(bins=bins)


def test_cli_trains_on_the_example_environment(tmp_path):
    """The README command, on a tiny budget, run from the repository root as a reader would."""
    cmd = [sys.executable, "-m", "rdqn_core", "train", "--env", "examples.angle_only_pendulum:make_env",
           "--total-steps", "400", "--learning-starts", "200", "--eval-every", "400", "--eval-episodes", "2",
           "--hidden-size", "8", "--encoder-sizes", "8", "--batch-size", "4", "--torch-threads", "1",
           "--quiet", "--out", str(tmp_path / "run")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    # the default updates_per_step per env step after the first 200
    assert summary["env_steps"] == 400 and summary["updates"] == int(200 * TrainConfig().updates_per_step)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history["losses/td_loss"]) == summary["updates"] and history["eval/step"] == [400]
    evaluated = subprocess.run([sys.executable, "-m", "rdqn_core", "evaluate", "--checkpoint",
                                str(tmp_path / "run" / "checkpoint.pt"), "--episodes", "2", "--seed", "7"],
                               cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    result = json.loads(evaluated.stdout.strip().splitlines()[-1])
    # the command line evaluates the very agent train saved, on the example env it was trained on
    from rdqn_core import evaluate, load_checkpoint

    agent, config = load_checkpoint(tmp_path / "run" / "checkpoint.pt", "cpu")
    assert config.env_id == "examples.angle_only_pendulum:make_env" and result["episodes"] == 2
    assert result["mean_return"] == pytest.approx(float(evaluate(agent, config.env_id, 2, seed=7).mean()))
