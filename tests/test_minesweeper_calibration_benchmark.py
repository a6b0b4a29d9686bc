"""benchmarks/minesweeper_calibration.py: a smoke run, and its configuration is the page's."""
import ast
import importlib.util
import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("minesweeper_calibration",
                                                  ROOT / "benchmarks" / "minesweeper_calibration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_page_config_matches_chapter_8s_training_cell():
    cells = json.loads((ROOT / "book" / "08_minesweeper.ipynb").read_text())["cells"]
    source = next("".join(c["source"]) for c in cells
                  if c["cell_type"] == "code" and "config = TrainConfig.board(" in "".join(c["source"]))
    page = dict(re.findall(r"^\s+(\w+)=(.+?),?$", source, flags=re.M))
    for key, value in load_script().PAGE_CONFIG.items():
        assert key in page, f"{key} is not set in the page's training cell"
        page_value = ast.literal_eval(page[key])
        assert page_value == value, (key, page_value, value)


@pytest.mark.slow
def test_quick_run_scores_network_and_exact_forecasts(capsys):
    records = load_script().main(["--quick", "--jobs", "1", "--variant", 'tiny={"updates_per_step": 0.5}'])
    (record,) = records
    assert record["variant"] == "tiny" and record["seed"] == 0
    assert 0.0 <= record["win_rate"] <= 1.0 and 0.0 <= record["ece"] <= 1.0
    assert record["exact_auroc"] > 0.6  # the exact probabilities rank mines far above chance
    assert 0.0 <= record["auroc"] <= 1.0 and record["forecasts"] > 0
    assert 0.0 <= record["sym_auroc"] <= 1.0 and 0.0 <= record["sym_win_rate"] <= 1.0
    assert record["sym_mean_abs_gap"] != record["mean_abs_gap"]  # the averaged forecasts are other numbers
    assert "tiny" in capsys.readouterr().out


def test_update_passes_benchmark_times_every_variant(capsys):
    spec = importlib.util.spec_from_file_location("update_passes", ROOT / "benchmarks" / "update_passes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    times = module.main(["--rounds", "1", "--updates", "2"])
    assert set(times) == set(module.VARIANTS) and all(len(t) == 1 and t[0] > 0 for t in times.values())
    out = capsys.readouterr().out
    assert all(name in out for name in module.VARIANTS) and "ratio" in out
    assert module.VARIANTS["gamma 0 (online pass only)"].gamma == 0.0
    with pytest.raises(SystemExit):
        module.main(["--rounds", "0"])
