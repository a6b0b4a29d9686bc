"""Chapter 6's LunarLander script: the committed result file, and (where Box2D is installed) a smoke run."""
import json
import pathlib

import pytest

from test_ch04_script import check_quick_like_committed, load_script_module, run_quick_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "book" / "scripts" / "ch06_lunar.py"
COMMITTED = ROOT / "book" / "data" / "ch06_lunar.json"


def test_the_committed_file_holds_both_heads_over_the_seeds():
    data = json.loads(COMMITTED.read_text())
    module = load_script_module(SCRIPT)
    assert data["quick"] is False and data["final_episodes"] >= 100
    assert {(r["head"], r["seed"]) for r in data["lunar"]} == {(h, s) for h in module.HEADS for s in module.SEEDS}
    for r in data["lunar"]:
        assert r["env_steps"] >= module.LUNAR.total_steps
        assert r["q_outputs"] == (25 if r["head"] == "joint" else 10)


@pytest.mark.slow
def test_quick_run_writes_a_file_shaped_like_the_committed_one(tmp_path):
    pytest.importorskip("Box2D", reason="Box2D is a benchmark extra (requirements-bench.txt)")
    check_quick_like_committed(run_quick_script(SCRIPT, tmp_path / "quick.json", "--jobs", "1"), COMMITTED)


def test_without_box2d_the_script_says_how_to_get_it(monkeypatch, capsys):
    import sys

    module = load_script_module(SCRIPT)
    monkeypatch.setitem(sys.modules, "Box2D", None)  # an import of Box2D now raises ImportError
    with pytest.raises(SystemExit):
        module.main(["--quick", "--out", "/dev/null"])
    assert "requirements-bench.txt" in capsys.readouterr().err
