"""rdqn_core.benchmark and `python -m rdqn_core benchmark`: what is timed, the table, errors."""
import collections
import dataclasses
import json

import pytest

import rdqn_core.benchmark as benchmark_module
from rdqn_core import QAgent, Rollout, TrainConfig
from rdqn_core.benchmark import benchmark, format_benchmark
from rdqn_core.cli import main as cli_main

SMALL = TrainConfig(hidden_size=8, encoder_sizes=(8,), batch_size=4, num_envs=2, progress=False, seed=0,
                    device="cpu", torch_threads=1)


def test_benchmark_times_every_row_and_the_requested_updates(monkeypatch):
    calls = {"update": 0, "rollout_sizes": [], "minimal": 0}
    original_update, original_step = QAgent.update, Rollout.step
    original_minimal = benchmark_module.MinimalUpdate.__call__

    def count_update(self, batch):
        calls["update"] += 1
        return original_update(self, batch)

    def count_step(self, epsilon, rng):
        calls["rollout_sizes"].append((self.num_envs, epsilon))
        return original_step(self, epsilon, rng)

    def count_minimal(self, *batch):
        calls["minimal"] += 1
        return original_minimal(self, *batch)

    monkeypatch.setattr(QAgent, "update", count_update)
    monkeypatch.setattr(Rollout, "step", count_step)
    monkeypatch.setattr(benchmark_module.MinimalUpdate, "__call__", count_minimal)
    result = benchmark(SMALL, num_envs=(1, 3), act_steps=5, updates=4, fill_steps=200, warmup_updates=2)
    assert [row["num_envs"] for row in result["rows"]] == [1, 3]
    assert all(row["env_steps_per_s"] > 0 and row["act_steps_per_s"] > 0 for row in result["rows"])
    assert calls["update"] == 2 + 4 and calls["minimal"] == 2 + 4  # warm-up and timed updates, nothing else
    # acting rows go through the one acting loop, greedily, with 1 and 3 envs (min(10, act_steps) untimed + act_steps timed);
    # the replay is filled once by random play through it with the config's 2 envs
    greedy = collections.Counter(n for n, eps in calls["rollout_sizes"] if eps == 0.0)
    assert greedy == {1: 10, 3: 10}
    assert sum(n for n, eps in calls["rollout_sizes"] if eps == 1.0) == 200
    assert result["minimal_update_ms"] > 0
    assert result["update_to_minimal_ratio"] == pytest.approx(result["update_ms"] / result["minimal_update_ms"])
    assert result["update_ms"] > 0 and result["updates_per_s"] == pytest.approx(1e3 / result["update_ms"])
    q25, q75 = result["update_ms_quartiles"]
    assert 0 < q25 <= result["update_ms"] <= q75
    assert result["peak_rss_mb"] > 10 and result["cuda_peak_mb"] is None and result["device"] == "cpu"
    table = format_benchmark(result)
    assert "ms per gradient step" in table and len(table.splitlines()) == 2 + 2 + 4
    assert "update / minimal ratio: " in table


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_envs=()), "non-empty"), (dict(num_envs=(0,)), "positive"),
    (dict(updates=0), "updates must be >= 1"), (dict(act_steps=0), "act_steps must be >= 1"),
    (dict(fill_steps=0), "fill_steps must be >= 1"),
])
def test_benchmark_rejects_bad_arguments(kwargs, match):
    args = dict(num_envs=(1,), act_steps=2, updates=1, fill_steps=200) | kwargs
    with pytest.raises(ValueError, match=match):
        benchmark(SMALL, **args)


def test_cli_benchmark_prints_a_table_then_json(capsys):
    code = cli_main(["benchmark", "--env", "CartPole-v1", "--cell", "gru", "--hidden-size", "8", "--encoder-sizes",
                     "8", "--batch-size", "4", "--envs", "1,2", "--act-steps", "3", "--updates", "2",
                     "--fill-steps", "200", "--device", "cpu"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    result = json.loads(lines[-1])
    assert result["config"]["env_id"] == "CartPole-v1" and result["config"]["cell"] == "gru"
    assert [row["num_envs"] for row in result["rows"]] == [1, 2]
    assert any("env steps/s" in line for line in lines[:-1])


def test_cli_benchmark_unknown_env_is_a_clear_error(capsys):
    assert cli_main(["benchmark", "--env", "NoSuchEnv-v9", "--envs", "1", "--act-steps", "1", "--updates", "1"]) == 2
    err = capsys.readouterr().err
    assert "NoSuchEnv-v9" in err
