"""benchmarks/gpu_learner.py (Chapter 7's GPU table): a CPU smoke run of the whole script, and its clear error."""
import importlib.util
import json
import pathlib

import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_learner", ROOT / "benchmarks" / "gpu_learner.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_both_tables(tmp_path, capsys):
    out = tmp_path / "gpu.json"
    results = load_script().main(["--quick", "--device", "cpu", "--out", str(out)])
    assert json.loads(out.read_text()) == results
    actors = [(r["actors"], r["free_running"]) for r in results["actors"]]
    assert actors == [(0, False), (1, False), (1, True)]
    for row in results["actors"]:
        assert row["env_steps_per_s"] > 0 and row["updates_per_s"] > 0
        if not row["free_running"]:  # the limiter (or the single process) holds the ratio
            assert row["updates_per_step_measured"] == pytest.approx(0.5, rel=0.05)
    assert sorted((r["device"], r["batch"]) for r in results["update_times"]) == [("cpu", 8), ("cpu", 16)]
    assert all(r["ms_per_update"] > 0 and len(r["blocks_ms"]) == 1 for r in results["update_times"])
    printed = capsys.readouterr().out
    assert "update time against batch size" in printed and "actors on CPU cores" in printed


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without CUDA")
def test_cuda_without_a_gpu_says_so(tmp_path):
    with pytest.raises(SystemExit, match="--device cpu"):
        load_script().main(["--device", "cuda", "--out", str(tmp_path / "x.json")])
