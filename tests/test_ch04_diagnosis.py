"""Chapter 4's diagnosis script on a tiny budget: the records the page reads, and how an episode's end is told."""
import json
import pathlib
import subprocess
import sys

import numpy as np

from test_ch04_script import load_script_module

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "book" / "scripts" / "ch04_diagnosis.py"
COMMITTED = ROOT / "book" / "data" / "ch04_diagnosis.json"


def load_script():
    return load_script_module(SCRIPT)


def test_end_reason_tells_cart_from_pole_from_time():
    diag = load_script()
    ended = lambda state, terminated=True: diag.end_reason(dict(terminated=terminated, final_env_state=state))
    assert ended(np.array([2.5, 0.0, 0.01, 0.0])) == "cart"
    assert ended(np.array([-2.41, 0.0, 0.0, 0.0])) == "cart"
    assert ended(np.array([0.3, 0.0, 0.25, 0.0])) == "pole"
    assert ended(np.array([0.3, 0.0, 0.0, 0.0]), terminated=False) == "time"


def test_tiny_run_writes_the_records_the_page_reads(tmp_path):
    out = tmp_path / "diag.json"
    subprocess.run([sys.executable, str(SCRIPT), "--seeds", "0", "--total", "1200", "--every", "600",
                    "--episodes", "2", "--jobs", "1", "--out", str(out)], cwd=ROOT, check=True, timeout=600,
                   capture_output=True)
    quick, committed = json.loads(out.read_text()), json.loads(COMMITTED.read_text())
    assert quick["meta"].keys() == committed["meta"].keys()
    assert {r["variant"] for r in quick["runs"]} == set(committed["meta"]["variants"])
    for run in quick["runs"]:
        assert [r["step"] for r in run["rows"]] == [600, 1200]
        for row in run["rows"]:
            assert row.keys() == committed["runs"][0]["rows"][0].keys()
            assert sum(row["ends"].values()) == 2
            assert row["action_gap"] >= 0 and np.isfinite(row["q_max"])
