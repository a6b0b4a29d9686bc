"""Trainer and agent: per-env memory resets, fresh evaluation memory, checkpoints, determinism, errors."""
import collections
import dataclasses
import json

import numpy as np
import pytest
import torch

import rdqn_core.rollout as rollout_module
import rdqn_core.trainer as trainer_module
from rdqn_core import (QAgent, TrainConfig, build_agent, evaluate, get_device, load_checkpoint, save_checkpoint,
                       train)
from rdqn_core.cli import main as cli_main

TINY = TrainConfig(total_steps=600, num_envs=3, learning_starts=200, eval_every=300, eval_episodes=2,
                   buffer_size=3000, batch_size=4, hidden_size=8, encoder_sizes=(8,), progress=False, seed=3)


def test_memory_is_reset_for_exactly_the_envs_whose_episode_started(monkeypatch):
    """Record the state handed to act() in training: rows of envs that just started an episode are zero."""
    calls = []
    original = rollout_module.act_epsilon_greedy

    def spy(network, obs, state, starts, prev, epsilon, rng):
        if len(obs) == TINY.num_envs:  # training envs, not evaluation
            calls.append((state.h.clone(), state.c.clone(), np.array(starts), np.array(prev)))
        return original(network, obs, state, starts, prev, epsilon, rng)

    monkeypatch.setattr(rollout_module, "act_epsilon_greedy", spy)
    train(dataclasses.replace(TINY, eval_every=0))
    checked_start = checked_carry = 0
    for h, c, starts, prev in calls[1:]:
        for e in range(TINY.num_envs):
            if starts[e]:
                assert h[0, e].abs().sum() == 0 and c[0, e].abs().sum() == 0, "memory must be reset"
                assert prev[e] == -1, "no previous action at an episode start"
                checked_start += 1
            else:
                assert h[0, e].abs().sum() > 0, "memory of a running episode must be carried"
                checked_carry += 1
    assert checked_start >= 10 and checked_carry > 100
    # and in at least one step some envs were reset while others were not
    assert any(0 < s.sum() < TINY.num_envs for _, _, s, _ in calls)


def test_evaluation_starts_from_a_fresh_memory(monkeypatch):
    agent = build_agent(TINY, 2, 2, get_device("cpu"))
    seen = []
    original = rollout_module.act_epsilon_greedy

    def spy(network, obs, state, starts, prev, epsilon, rng):
        seen.append((state, np.array(starts), epsilon))
        return original(network, obs, state, starts, prev, epsilon, rng)

    monkeypatch.setattr(rollout_module, "act_epsilon_greedy", spy)
    evaluate(agent, TINY.env_id, episodes=3, seed=0)
    state, starts, epsilon = seen[0]
    assert state.h.abs().sum() == 0 and starts.all() and epsilon == 0.0


def test_same_seed_gives_identical_metrics():
    a, b = train(TINY), train(TINY)
    for key in ("losses/td_loss", "eval/mean_return", "charts/episodic_return"):
        assert a.history[key] == b.history[key]
    c = train(dataclasses.replace(TINY, seed=4))
    assert c.history["losses/td_loss"] != a.history["losses/td_loss"]


@pytest.mark.parametrize("average_tau", [0.0, 0.05])
def test_checkpoint_round_trip_gives_identical_q_values(tmp_path, average_tau):
    config = dataclasses.replace(TINY, average_tau=average_tau)
    result = train(config, out_dir=tmp_path)
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "best.pt").is_file()
    assert not list(tmp_path.glob("*.tmp")), "no temporary file left behind"
    agent, loaded = load_checkpoint(tmp_path / "checkpoint.pt", "cpu")
    assert loaded == config
    obs = torch.randn(5, 4, 2)
    for name in ("online", "greedy_network"):  # with averaging the greedy player is the average, restored too
        q1, _ = getattr(result.agent, name)(obs)
        q2, _ = getattr(agent, name)(obs)
        assert torch.equal(q1, q2), name
    if average_tau:
        assert not torch.equal(agent.greedy_network(obs)[0], agent.online(obs)[0])


def test_checkpoint_is_written_atomically(tmp_path, monkeypatch):
    agent = build_agent(TINY, 2, 2, get_device("cpu"))
    path = save_checkpoint(tmp_path / "c.pt", agent, TINY)
    before = path.read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(trainer_module.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, agent, TINY)
    assert path.read_bytes() == before and not list(tmp_path.glob("*.tmp"))


def test_nan_loss_stops_training_with_a_clear_error():
    agent = build_agent(TINY, 2, 2, get_device("cpu"))
    from rdqn_core.trainer import build_replay
    replay = build_replay(TINY, 2, agent)
    for _ in range(30):
        replay.add(np.zeros((3, 2)), np.zeros(3, int), np.full(3, np.nan), np.zeros(3, bool), np.zeros(3, bool),
                   np.zeros((3, 2)), None, agent.initial_state(3))
    metrics = agent.update(replay.sample(4, np.random.default_rng(0)))
    assert not torch.isfinite(metrics["losses/td_loss"])  # the update itself never waits for the device
    # the trainer reads the metrics in blocks and stops at the first non-finite loss, naming its update
    log = trainer_module._MetricLog(collections.defaultdict(list))
    finite = {k: torch.tensor(1.0) for k in metrics}
    for m in (finite, finite, metrics):
        log.add(m)
    with pytest.raises(FloatingPointError, match="TD loss became nan at update 12; .*learning_rate"):
        log.flush(first_update=10)


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=0), r"batch_size=0 is out of range; allowed: \[1, inf\)"),
    (dict(cell="transformer"), "cell='transformer' is not allowed"),
    (dict(cell="mlp"), "cell='mlp' has no memory"),
    (dict(gamma_typo=0.9), "unexpected keyword"),
])
def test_bad_config_raises(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        TrainConfig(**kwargs)


def test_non_discrete_action_space_is_rejected():
    with pytest.raises(ValueError, match="Discrete action space, got Box"):
        train(dataclasses.replace(TINY, env_id="Pendulum-v1"))


def test_cli_train_and_evaluate_print_json(tmp_path, capsys):
    code = cli_main(["train", "--env", "CartPole-v1", "--seed", "1", "--total-steps", "400", "--learning-starts",
                     "200", "--batch-size", "4", "--eval-every", "200", "--eval-episodes", "2", "--cell", "gru",
                     "--encoder-sizes", "8,8", "--quiet", "--out", str(tmp_path)])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    for key in ("solved", "steps_to_solve", "wall_seconds", "wall_seconds_to_solve", "best_eval_return",
                "final_eval_return", "env_steps", "updates"):
        assert key in summary
    assert summary["env_steps"] == 400 and summary["updates"] > 0
    assert json.loads((tmp_path / "history.json").read_text())["eval/step"] == [200, 400]
    cli_main(["evaluate", "--checkpoint", str(tmp_path / "checkpoint.pt"), "--episodes", "3"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["episodes"] == 3 and set(result) >= {"mean_return", "std_return"}


def test_cli_rejects_bad_values(capsys):
    assert cli_main(["train", "--batch-size", "0", "--quiet"]) == 2
    assert "batch_size=0 is out of range" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["train", "--cell", "transformer"])
    # device and environment are checked before training starts: a message and exit status 2, not a traceback
    assert cli_main(["train", "--device", "tpu", "--quiet"]) == 2
    assert "device='tpu' is not allowed" in capsys.readouterr().err
    assert cli_main(["train", "--env", "CartPol-v1", "--quiet"]) == 2
    assert "Did you mean CartPole-v1" in capsys.readouterr().err
    assert cli_main(["train", "--env", "Pendulum-v1", "--quiet"]) == 2
    assert "needs a Discrete action space" in capsys.readouterr().err


def test_glossary_defines_exactly_the_metrics_training_logs():
    """book/glossary.md is the reader's reference for history and summary keys: no key undocumented, none stale."""
    import pathlib
    import re

    glossary = (pathlib.Path(__file__).resolve().parents[1] / "book" / "glossary.md").read_text()
    block = glossary.split("```{glossary}", 1)[1].split("```", 1)[0]
    terms = set(re.findall(r"^([a-z_/]+)$", block, flags=re.MULTILINE))
    result = train(TINY)
    logged = set(result.history) | set(result.summary)
    assert len(result.history["losses/td_loss"]) > 0 and len(result.history["eval/step"]) > 0  # all kinds logged
    assert logged - terms == set(), f"logged but not in the glossary: {sorted(logged - terms)}"
    assert terms - logged == set(), f"in the glossary but never logged: {sorted(terms - logged)}"


def test_cli_config_takes_memoryless_defaults_for_cell_mlp(capsys):
    from rdqn_core.cli import _config_from_args, build_parser

    def config(*flags):
        return _config_from_args(build_parser().parse_args(["train", *flags]))

    assert config() == TrainConfig()
    assert config("--cell", "gru", "--seq-len", "4") == TrainConfig(cell="gru", seq_len=4)
    assert config("--cell", "mlp") == TrainConfig.memoryless()
    assert config("--cell", "mlp", "--hidden-size", "16", "--prev-action-input", "true") == \
        TrainConfig.memoryless(hidden_size=16, prev_action_input=True)  # a flag given explicitly wins
    assert config("--cell", "mlp", "--quiet").progress is False
    assert cli_main(["train", "--cell", "mlp", "--seq-len", "8", "--quiet"]) == 2  # still no sense: rejected
    assert "has no memory" in capsys.readouterr().err


def test_rdqn_device_decides_auto_only(monkeypatch):
    monkeypatch.setenv("RDQN_DEVICE", "cpu")
    assert get_device("auto") == torch.device("cpu")
    monkeypatch.setenv("RDQN_DEVICE", "tpu")
    with pytest.raises(ValueError, match=r"RDQN_DEVICE='tpu' is not allowed; use 'cpu', 'cuda'"):
        get_device("auto")
    assert get_device("cpu") == torch.device("cpu")  # an explicit device is never overridden
    if not torch.cuda.is_available():
        monkeypatch.setenv("RDQN_DEVICE", "cuda")
        with pytest.raises(ValueError, match="CUDA is not available"):
            get_device("auto")
    monkeypatch.delenv("RDQN_DEVICE")
    assert get_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")


def test_histogram_range_is_taken_from_the_rewards_of_the_random_play():
    """loss='hl_gauss' without value_min/value_max: when learning starts, the range comes from the replay's
    rewards and gamma. The run stops one vector step after learning starts, so the replay it returns is the
    one the range was fitted to; the pendulum's rewards are all negative, so the range is not CartPole's."""
    from rdqn_core.losses import value_range_from_rewards
    config = dataclasses.replace(TINY, env_id="rdqn/AnglePendulum-v0", action_bins=5, loss="hl_gauss", gamma=0.9,
                                 learning_starts=198, total_steps=201, eval_every=0)
    result = train(config, return_replay=True)
    low, high = result.summary["value_range"]
    reward_min, reward_max = result.replay.reward_range()
    assert reward_max < 0 and (low, high) == value_range_from_rewards(reward_min, reward_max, 0.9)
    assert low < 10 * reward_min < 0 < high
    edges = result.agent.target.head.bin_edges
    assert (edges[0].item(), edges[-1].item()) == pytest.approx((low, high))
    assert "value_sigma" not in result.summary  # 0.75 bin widths unless value_sigma is set
    scaled = train(dataclasses.replace(config, value_sigma=0.5), return_replay=True)
    assert scaled.summary["value_sigma"] == pytest.approx(-0.5 * scaled.replay.reward_range()[0])  # all < 0
