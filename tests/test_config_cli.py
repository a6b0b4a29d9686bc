"""TrainConfig's ranges, the command line generated from it, checkpoint payloads and CLI errors."""
import dataclasses
import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from rdqn_core import (FLICKER_CARTPOLE_ID, FlickerObservation, TrainConfig, build_agent, load_checkpoint,
                       make_vector_env, save_checkpoint)
from rdqn_core.cli import _config_from_args, build_parser, config_to_argv, main


@pytest.mark.parametrize("kwargs, match", [
    (dict(gamma=1.5), r"gamma=1\.5 is out of range; allowed: \[0\.0, 1\.0\]"),
    (dict(gamma=-0.1), r"gamma=-0\.1 is out of range; allowed: \[0\.0, 1\.0\]"),
    (dict(learning_rate=-1e-3), r"learning_rate=-0\.001 is out of range; allowed: \(0\.0, inf\)"),
    (dict(learning_rate=0), r"learning_rate=0 is out of range; allowed: \(0\.0, inf\)"),
    (dict(target_tau=0), r"target_tau=0 is out of range; allowed: \(0\.0, 1\.0\]"),
    (dict(target_tau=1.5), r"target_tau=1\.5 is out of range; allowed: \(0\.0, 1\.0\]"),
    (dict(batch_size=0), r"batch_size=0 is out of range; allowed: \[1, inf\)"),
    (dict(updates_per_step=0), r"updates_per_step=0 is out of range; allowed: \(0\.0, inf\)"),
    (dict(adam_eps=0.0), r"adam_eps=0\.0 is out of range; allowed: \(0\.0, inf\)"),
    (dict(seed=-1), r"seed=-1 is out of range; allowed: \[0, inf\)"),
    (dict(obs_norm_steps=0), r"obs_norm_steps=0 is out of range; allowed: \[1, inf\)"),
    (dict(eps_start=0.1, eps_end=0.5), r"eps_end <= eps_start, got eps_end=0\.5, eps_start=0\.1"),
    (dict(learning_rate=1e-3, lr_end=1e-2), r"lr_end=0\.01 must not exceed learning_rate=0\.001"),
    (dict(eps_end=1.5), r"eps_end=1\.5 is out of range; allowed: \[0\.0, 1\.0\]"),
    (dict(gamma=float("nan")), r"gamma must be a number, got nan"),
    (dict(batch_size=True), r"batch_size must be a number, got True"),
    (dict(env_kwargs={"p": object()}), r"env_kwargs must hold JSON values only"),
    (dict(env_kwargs={"p": {1, 2}}), r"env_kwargs must hold JSON values only"),
    (dict(seed=None), r"seed must not be None"),
    (dict(encoder_sizes=(8, 0)), r"encoder_sizes must be positive integers, got \(8, 0\)"),
    (dict(device="gpu"), r"device='gpu' is not allowed"),
    (dict(loss="l1"), r"loss='l1' is not allowed; choose one of huber, mse"),
])
def test_out_of_range_values_are_rejected_naming_field_and_range(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


@pytest.mark.parametrize("kwargs", [
    dict(solve_threshold=None), dict(solve_threshold=0.0), dict(solve_threshold=-5.0), dict(gamma=0.0),
    dict(gamma=1.0), dict(target_tau=1.0), dict(obs_norm_steps=1), dict(obs_norm_steps=None),
    dict(learning_starts=0), dict(max_grad_norm=0.0), dict(eps_start=0.3, eps_end=0.3), dict(lr_end=0.0),
    dict(env_kwargs={"p": 0.3, "names": ["a"], "nested": {"x": None}}),
])
def test_edge_values_are_accepted(kwargs):
    config = TrainConfig(**kwargs)
    for name, value in kwargs.items():
        assert getattr(config, name) == value


# A valid value different from the default for every TrainConfig field (a new field must be added here).
NON_DEFAULT = dict(
    env_id=FLICKER_CARTPOLE_ID, env_kwargs={"p": 0.3, "tag": "a b", "list": [1, 2.5]}, action_bins=4,
    action_head="branching", seed=7, total_steps=1234,
    num_envs=3, cell="gru", hidden_size=16, encoder_sizes=(16, 8), prev_action_input=False, normalize_obs=False,
    obs_norm_steps=500, dueling=True, layer_norm=True, buffer_size=4000, batch_size=8, seq_len=6, burn_in=2,
    initial_state="zero", n_steps=3, gamma=0.95, double_dqn=False, advantage_learning=0.5, value_rescaling=True, loss="mse", value_bins=11, value_min=-5.0, value_max=50.0,
    learning_rate=5e-4, adam_eps=1e-3, lr_end=2e-4, lr_decay_steps=20_000,
    max_grad_norm=5.5, target_update_period=10, target_tau=0.5, average_tau=0.01, updates_per_step=0.25,
    priority_exponent=0.7,
    importance_exponent=0.4, priority_eta=0.5, learning_starts=100,
    actors=2, sync_every=7, chunk_len=5, free_running=True, vector_env="async",
    engine="ray", ray_address="auto",
    eps_start=0.9, eps_end=0.05, eps_decay_steps=500, eval_every=100, eval_episodes=3, solve_threshold=195.5,
    checkpoint_every=200, device="cpu", torch_threads=1, progress=False,
)

# Fields whose non-default value NON_DEFAULT's recurrent cell does not allow: a board configuration of their own.
BOARD_NON_DEFAULT = dict(cell="conv", seq_len=1, burn_in=0, initial_state="zero", prev_action_input=False,
                         normalize_obs=False, board_symmetries=True)
# ... and those that need the histogram loss with its range from the task, which NON_DEFAULT's dueling head does not.
HISTOGRAM_NON_DEFAULT = dict(loss="hl_gauss", value_bins=31, value_sigma=0.6)


def parse(argv):
    return _config_from_args(build_parser().parse_args(["train", *argv]))


def test_non_default_config_covers_every_field():
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert set(NON_DEFAULT) | {"board_symmetries", "value_sigma"} == set(fields), \
        "NON_DEFAULT must name every TrainConfig field"
    defaults = TrainConfig()
    for name, value in [*NON_DEFAULT.items(), ("board_symmetries", BOARD_NON_DEFAULT["board_symmetries"]),
                        ("value_sigma", HISTOGRAM_NON_DEFAULT["value_sigma"])]:
        assert getattr(defaults, name) != value, f"{name}: pick a value other than the default"


def test_every_field_round_trips_through_the_command_line():
    config = TrainConfig(**NON_DEFAULT)
    argv = config_to_argv(config)
    assert parse(argv) == config
    for f in dataclasses.fields(TrainConfig):  # field by field, so that a failure names the field
        assert getattr(parse(argv), f.name) == getattr(config, f.name), f.name


@pytest.mark.parametrize("overrides", [
    dict(obs_norm_steps=None, lr_end=None, solve_threshold=None),
    dict(solve_threshold=0.0, env_kwargs={}, encoder_sizes=()),
    dict(target_tau=0.005, learning_rate=3.0e-7, lr_end=1e-7, gamma=0.1 + 0.2),  # floats with long reprs
])
def test_none_and_edge_values_round_trip(overrides):
    config = TrainConfig(**{**NON_DEFAULT, **overrides})
    assert parse(config_to_argv(config)) == config


def test_board_config_round_trips():
    config = TrainConfig(**BOARD_NON_DEFAULT)
    assert parse(config_to_argv(config)) == config
    assert "--board-symmetries" in config_to_argv(config)


def test_histogram_config_round_trips():
    config = TrainConfig(**HISTOGRAM_NON_DEFAULT)
    assert parse(config_to_argv(config)) == config
    assert "--value-sigma" in config_to_argv(config)


def test_memoryless_config_round_trips():
    config = TrainConfig.memoryless(seed=3, hidden_size=32, n_steps=2)
    assert parse(config_to_argv(config)) == config


def test_defaults_come_back_from_no_flags():
    assert parse([]) == TrainConfig()
    assert parse(config_to_argv(TrainConfig())) == TrainConfig()


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), captured.err
    assert captured.out == ""
    return lines[0]


def test_evaluate_missing_checkpoint_is_exit_status_2(tmp_path, capsys):
    path = tmp_path / "nope.pt"
    assert main(["evaluate", "--checkpoint", str(path)]) == 2
    assert str(path) in one_error_line(capsys)


@pytest.mark.parametrize("content", [b"\x00\x01garbage bytes\xff" * 10, b""])
def test_evaluate_corrupt_checkpoint_is_exit_status_2(tmp_path, capsys, content):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(content)
    assert main(["evaluate", "--checkpoint", str(path)]) == 2
    assert "not a readable rdqn checkpoint" in one_error_line(capsys)


def test_evaluate_foreign_torch_file_is_exit_status_2(tmp_path, capsys):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    assert main(["evaluate", "--checkpoint", str(path)]) == 2
    assert "checkpoint format" in one_error_line(capsys)


def tiny_agent():
    config = TrainConfig(hidden_size=4, encoder_sizes=(4,), progress=False)
    return build_agent(config, 2, 2, torch.device("cpu")), config


def test_checkpoint_extra_with_numpy_values_loads_under_weights_only(tmp_path):
    agent, config = tiny_agent()
    path = save_checkpoint(tmp_path / "c.pt", agent, config,
                           extra={"x": np.float64(1.5), "a": np.arange(3), "n": np.int32(4), "nested": {"f": [1.0]}})
    payload = torch.load(path, weights_only=True)
    extra = payload["extra"]
    assert extra["x"] == 1.5 and type(extra["x"]) is float
    assert extra["n"] == 4 and type(extra["n"]) is int
    assert torch.equal(extra["a"], torch.arange(3))
    assert extra["nested"] == {"f": [1.0]}
    loaded, loaded_config = load_checkpoint(path, "cpu")
    assert loaded_config == config
    for p, q in zip(agent.online.parameters(), loaded.online.parameters()):
        assert torch.equal(p, q)


def test_checkpoint_extra_that_weights_only_cannot_hold_raises_naming_the_key(tmp_path):
    agent, config = tiny_agent()
    with pytest.raises(TypeError, match=r"extra\['bad'\] is a object"):
        save_checkpoint(tmp_path / "c.pt", agent, config, extra={"bad": object()})
    with pytest.raises(TypeError, match=r"extra\['ok'\]\[1\] is a set"):
        save_checkpoint(tmp_path / "c.pt", agent, config, extra={"ok": [1, {2}]})
    assert not (tmp_path / "c.pt").exists(), "nothing is written when the payload is rejected"


def flicker_ps(envs) -> list[float]:
    ps = []
    for env in envs.envs:
        while not isinstance(env, FlickerObservation):
            assert isinstance(env, gym.Wrapper), "no FlickerObservation in the wrapper chain"
            env = env.env
        ps.append(env.p)
    return ps


def test_env_kwargs_reach_the_vector_env():
    envs = make_vector_env(FLICKER_CARTPOLE_ID, 2, env_kwargs={"p": 0.3})
    assert flicker_ps(envs) == [0.3, 0.3]
    envs.close()
    envs = make_vector_env(FLICKER_CARTPOLE_ID, 1)
    assert flicker_ps(envs) == [0.5]  # the default, so the check above could fail
    envs.close()


def test_env_kwargs_flag_reaches_the_training_environment(tmp_path, capsys, monkeypatch):
    seen = []
    original = FlickerObservation.__init__

    def spy(self, env, p=0.5):
        seen.append(p)
        original(self, env, p=p)

    monkeypatch.setattr(FlickerObservation, "__init__", spy)
    code = main(["train", "--env", FLICKER_CARTPOLE_ID, "--env-kwargs", '{"p": 0.3}', "--total-steps", "40",
                 "--num-envs", "2", "--learning-starts", "40", "--eval-every", "0", "--buffer-size", "500",
                 "--hidden-size", "4", "--encoder-sizes", "4", "--torch-threads", "1", "--quiet",
                 "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    assert len(seen) >= 2 and set(seen) == {0.3}
    _, config = load_checkpoint(tmp_path / "checkpoint.pt", "cpu")
    assert config.env_kwargs == {"p": 0.3}


def test_env_kwargs_flag_must_be_a_json_object(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--env-kwargs", "[1, 2]"])
    assert "expected a JSON object" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--env-kwargs", "{p: 0.3}"])
    assert "expected a JSON object" in capsys.readouterr().err


def test_summary_json_is_the_last_line(tmp_path, capsys):
    code = main(["train", "--env", "CartPole-v1", "--total-steps", "40", "--learning-starts", "20",
                 "--batch-size", "2", "--eval-every", "0", "--buffer-size", "400", "--hidden-size", "4",
                 "--encoder-sizes", "4", "--num-envs", "2", "--torch-threads", "1", "--quiet"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["env_steps"] == 40 and summary["updates"] == TrainConfig(
        total_steps=40, learning_starts=20, num_envs=2).expected_updates()


def test_learning_rate_schedule_counts_env_steps():
    from rdqn_core.agent import learning_rate_at

    cfg = TrainConfig(learning_rate=1e-3, lr_end=1e-4, lr_decay_steps=10_000)
    assert [learning_rate_at(s, cfg) for s in (0, 5_000, 10_000, 20_000)] == pytest.approx([1e-3, 5.5e-4, 1e-4, 1e-4])
    assert learning_rate_at(7_000, TrainConfig(learning_rate=3e-4, lr_end=None)) == 3e-4  # None: constant


def test_trainer_follows_the_learning_rate_schedule():
    from rdqn_core import train

    cfg = TrainConfig(total_steps=400, learning_starts=100, lr_end=2e-4, lr_decay_steps=200, eval_every=0,
                      buffer_size=2_000, batch_size=4, hidden_size=8, encoder_sizes=(8,), progress=False,
                      torch_threads=1)
    agent = train(cfg).agent
    assert agent.optimizer.param_groups[0]["lr"] == pytest.approx(2e-4)
    half = train(dataclasses.replace(cfg, total_steps=100 + 4)).agent  # last lr set at env step 100
    assert half.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 + (2e-4 - 1e-3) * 100 / 200)


def test_a_bare_boolean_flag_means_true():
    assert parse(["--free-running"]).free_running is True
    assert parse(["--free-running", "false"]).free_running is False
