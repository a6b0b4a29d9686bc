"""Chapter 8's large-board script on a tiny budget, and the committed result file the page reads."""
import json
import pathlib

import pytest

from test_ch04_script import check_quick_like_committed, load_script_module, run_quick_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "book" / "scripts" / "ch08_boards.py"
COMMITTED = ROOT / "book" / "data" / "ch08_boards.json"


@pytest.mark.slow
def test_quick_run_writes_a_file_shaped_like_the_committed_one(tmp_path):
    check_quick_like_committed(run_quick_script(SCRIPT, tmp_path / "quick.json", "--jobs", "1"), COMMITTED)


def test_the_committed_file_has_what_the_page_reads():
    data = json.loads(COMMITTED.read_text())
    module = load_script_module(SCRIPT)
    assert data["quick"] is False and data["games"] >= 1_000
    runs = {r["trained_on"]: r for r in data["runs"]}
    assert set(runs) == set(module.BOARDS)
    for name, run in runs.items():
        assert run["env_steps"] >= module.BUDGETS[name]
        for score in run["scores"].values():
            for player in ("dqn", "greedy"):
                assert score[player]["games"] == data["games"] and 0 <= score[player]["rate"] <= 1
    assert set(runs["6x6/4"]["scores"]) == set(module.BOARDS)  # the 6x6 agent plays every board

