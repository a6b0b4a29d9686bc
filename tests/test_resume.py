"""Resumable runs: stop, resume, and get bit for bit the run that never stopped; progress.csv as it goes."""
import csv
import dataclasses
import json

import numpy as np
import pytest
import torch

from rdqn_core import TrainConfig, train
from rdqn_core.cli import config_to_argv, main
from rdqn_core.trainer import PROGRESS_COLUMNS

N = 400
CONFIG = TrainConfig(total_steps=N, learning_starts=100, eval_every=200, eval_episodes=2, buffer_size=2000,
                     num_envs=2, hidden_size=8, encoder_sizes=(8,), seq_len=4, burn_in=2, n_steps=2, batch_size=4,
                     updates_per_step=0.25, eps_decay_steps=400, device="cpu", progress=False, torch_threads=1,
                     seed=2)
TIMING_KEYS = {"eval/train_seconds"}  # wall-clock numbers differ between any two runs


def progress_rows(path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def assert_same_run(a, b) -> None:
    for key in ("env_steps", "updates", "best_eval_return", "final_eval_return", "solved"):
        assert a.summary[key] == b.summary[key], key
    assert set(a.history) == set(b.history)
    for key in a.history:
        assert len(a.history[key]) == len(b.history[key]), key
        if key not in TIMING_KEYS:
            assert a.history[key] == b.history[key], key
    for name in ("online", "target", "average"):
        if getattr(a.agent, name) is None:
            assert getattr(b.agent, name) is None
            continue
        sa, sb = getattr(a.agent, name).state_dict(), getattr(b.agent, name).state_dict()
        assert list(sa) == list(sb)
        for k in sa:  # the normalizer's mean, var and count are buffers in here too
            assert torch.equal(sa[k], sb[k]), f"{name}.{k}"
    assert any(k.startswith("normalizer.") for k in a.agent.online.state_dict())
    for pa, pb in zip(a.agent.optimizer.state.values(), b.agent.optimizer.state.values()):
        for k in pa:
            assert torch.equal(torch.as_tensor(pa[k]), torch.as_tensor(pb[k])), f"optimizer {k}"


@pytest.mark.parametrize("priority_exponent, average_tau, loss, value_sigma",
                         [(0.0, 0.0, "huber", None), (0.9, 0.0, "huber", None), (0.0, 0.01, "huber", None),
                          (0.0, 0.01, "hl_gauss", None), (0.0, 0.0, "hl_gauss", 0.75)])
def test_resumed_run_equals_the_uninterrupted_one(tmp_path, priority_exponent, average_tau, loss, value_sigma):
    # uniform and prioritized replay; a weight average that plays the evaluations; a histogram head whose
    # range (and, with value_sigma, its target's width) was taken from the task when learning started: the resumed
    # run must read them from the checkpoint
    config = dataclasses.replace(CONFIG, priority_exponent=priority_exponent, average_tau=average_tau, loss=loss,
                                 value_sigma=value_sigma)
    rows_during_run = []

    def callback(env_steps, history):  # progress.csv is flushed at every evaluation, before the callback
        _, rows = progress_rows(tmp_path / "resumed" / "progress.csv")
        rows_during_run.append((env_steps, len(rows), int(rows[-1]["env_steps"])))

    first = train(config, tmp_path / "resumed", callback=callback)
    assert first.summary["env_steps"] == N
    for name in ("checkpoint.pt", "best.pt", "resume.pt", "envs.pkl", "progress.csv"):
        assert (tmp_path / "resumed" / name).is_file(), name
    longer = dataclasses.replace(config, total_steps=2 * N)
    resumed = train(longer, tmp_path / "resumed", callback=callback, resume=True, return_replay=True)
    straight = train(longer, tmp_path / "straight", return_replay=True)
    assert resumed.summary["updates"] == longer.expected_updates() > first.summary["updates"] > 0
    assert_same_run(resumed, straight)
    for name in ("obs", "actions", "rewards", "terminated", "truncated", "episode_id", "step_in_episode",
                 "state_h", "state_c", "pos", "size", "priority", "_weight"):
        assert np.array_equal(getattr(resumed.replay, name), getattr(straight.replay, name)), name
    if priority_exponent:  # the priorities the learner handed back survived the stop, not just the initial ones
        assert len(np.unique(resumed.replay.priority)) > 10

    # one row per evaluation, each visible while the run was still going
    evals = resumed.history["eval/step"]
    assert evals == [200, 400, 600, 800]
    assert rows_during_run == [(s, i + 1, s) for i, s in enumerate(evals)]
    header, rows = progress_rows(tmp_path / "resumed" / "progress.csv")
    assert header == list(PROGRESS_COLUMNS)
    assert [int(r["env_steps"]) for r in rows] == evals
    assert [float(r["eval/mean_return"]) for r in rows] == resumed.history["eval/mean_return"]
    assert int(rows[-1]["updates"]) == resumed.summary["updates"]
    straight_header, straight_rows = progress_rows(tmp_path / "straight" / "progress.csv")
    assert straight_header == header
    drop = {"eval/train_seconds"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows] == \
        [{k: v for k, v in r.items() if k not in drop} for r in straight_rows]


def test_resume_refuses_a_changed_field_and_a_missing_run(tmp_path):
    train(dataclasses.replace(CONFIG, total_steps=100, eval_every=0), tmp_path)
    with pytest.raises(ValueError, match="cannot resume with different gamma"):
        train(dataclasses.replace(CONFIG, total_steps=200, gamma=0.9), tmp_path, resume=True)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(CONFIG, tmp_path / "empty", resume=True)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(CONFIG, None, resume=True)


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_train_then_resume(tmp_path, capsys):
    run = str(tmp_path / "run")
    argv = config_to_argv(dataclasses.replace(CONFIG, env_id="CartPole-v1", total_steps=200, eval_every=100))
    assert main(["train", *argv, "--out", run]) == 0
    assert last_json(capsys)["env_steps"] == 200
    assert main(["train", "--resume", run, "--total-steps", "400", "--quiet"]) == 0
    summary = last_json(capsys)
    expected = dataclasses.replace(CONFIG, total_steps=400)
    assert summary["env_steps"] == 400 and summary["updates"] == expected.expected_updates()
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["eval/step"] == [100, 200, 300, 400]
    _, rows = progress_rows(tmp_path / "run" / "progress.csv")
    assert [int(r["env_steps"]) for r in rows] == [100, 200, 300, 400]

    # a field that is not resumable: a one-line message naming it and exit status 2, before any training
    assert main(["train", "--resume", run, "--total-steps", "600", "--gamma", "0.9", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot resume with different gamma")
    assert json.loads((tmp_path / "run" / "history.json").read_text())["eval/step"][-1] == 400  # untouched
    assert main(["train", "--resume", str(tmp_path / "nothing"), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("error: no checkpoint at")
    assert main(["train", "--resume", run, "--out", str(tmp_path / "elsewhere"), "--quiet"]) == 2
    assert "differs from --resume" in capsys.readouterr().err
