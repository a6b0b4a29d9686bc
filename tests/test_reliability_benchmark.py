"""benchmarks/reliability.py: the criteria it summarizes a run by, and scoring the online net of an averaged run."""
import importlib.util
import pathlib
import types

import numpy as np
import pytest

import rdqn_core.trainer as trainer

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reliability():
    spec = importlib.util.spec_from_file_location("reliability", ROOT / "benchmarks" / "reliability.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_summary_finds_the_first_solve_and_the_share_after_it(reliability):
    steps = [2500, 5000, 7500, 10000, 12500]
    summary = reliability._summary(steps, [100.0, 480.0, 400.0, 475.0, 500.0], [1.0, 2.0, 3.0, 4.0, 5.0], 475.0)
    assert summary["first_solve"] == 5000 and summary["train_seconds_to_first_solve"] == 2.0
    assert summary["share_after_first_solve"] == pytest.approx(2 / 3)  # 400 falls short, 475 and 500 count
    never = reliability._summary(steps, [1.0] * 5, [1.0] * 5, 475.0)
    assert never["first_solve"] is None and never["share_after_first_solve"] is None


def test_online_too_scores_the_online_net_beside_the_average_and_restores_it(reliability, monkeypatch):
    played = []

    def fake_evaluate(agent, env_id, episodes, seed, **kwargs):
        played.append((agent.average, seed))
        return np.array([1.0 if agent.average is None else 2.0])

    monkeypatch.setattr(trainer, "evaluate", fake_evaluate)
    online_means: list[float] = []
    reliability._score_online_too(online_means)
    average = object()
    agent = types.SimpleNamespace(average=average)
    assert trainer.evaluate(agent, "env", 20, seed=7).tolist() == [2.0]  # the trainer still gets the average's
    assert online_means == [1.0] and played == [(None, 7), (average, 7)]  # same episode seeds for both
    assert agent.average is average
    plain = types.SimpleNamespace(average=None)  # without averaging nothing extra is played
    trainer.evaluate(plain, "env", 20, seed=8)
    assert online_means == [1.0] and played[-1] == (None, 8)
