"""Chapter 7's measurement script on a tiny budget: it writes a file shaped like the committed one, which loads."""
import json
import pathlib

import pytest

from test_ch04_script import load_script_module, loose, run_quick_script, structure

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "book" / "scripts" / "ch07_parallel.py"
COMMITTED = ROOT / "book" / "data" / "ch07_results.json"


@pytest.fixture(scope="module")
def quick_file(tmp_path_factory):
    return run_quick_script(SCRIPT, tmp_path_factory.mktemp("ch07") / "quick.json", "--skip-ray")


def test_quick_run_writes_a_file_shaped_like_the_committed_one(quick_file):
    ch07 = load_script_module(SCRIPT)
    quick = ch07.load_results(quick_file)
    committed = ch07.load_results(COMMITTED)
    assert quick["quick"] is True and committed["quick"] is False
    # the Ray section is empty when Ray is not installed (or skipped): compare the rest
    quick.pop("ray"), committed.pop("ray")
    loose(structure(quick), structure(committed))
    assert COMMITTED.stat().st_size < 100_000
    assert quick["ddp"]["max_abs_grad_diff"] <= 1e-6
    held = [r for r in quick["scaling"] if r["actors"] and not r["free_running"]]
    assert held and all(abs(r["updates_per_step_measured"] / r["updates_per_step"] - 1) <= 0.05 for r in held)


def test_a_missing_section_is_named(tmp_path):
    ch07 = load_script_module(SCRIPT)
    data = json.loads(COMMITTED.read_text())
    del data["staleness"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="staleness"):
        ch07.load_results(broken)
    with pytest.raises(FileNotFoundError, match="ch07_parallel.py"):
        ch07.load_results(tmp_path / "missing.json")
