"""Chapter 9's experiment script on a tiny budget: it writes a file shaped like the committed one, which the
page reads (the same keys), and the committed file holds what the page needs."""
import json
import pathlib

import pytest

from test_ch04_script import check_quick_like_committed, load_script_module, run_quick_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "book" / "scripts" / "ch09_experiments.py"
COMMITTED = ROOT / "book" / "data" / "ch09_results.json"


@pytest.fixture(scope="module")
def quick_file(tmp_path_factory):
    return run_quick_script(SCRIPT, tmp_path_factory.mktemp("ch09") / "quick.json")


@pytest.mark.slow
def test_quick_run_writes_a_file_shaped_like_the_committed_one(quick_file):
    check_quick_like_committed(quick_file, COMMITTED)
    assert COMMITTED.stat().st_size < 200_000


def test_the_committed_file_has_what_the_page_reads():
    data = json.loads(COMMITTED.read_text())
    module = load_script_module(SCRIPT)
    assert set(data["variants"]) == set(module.variants(module.DRQN))
    assert data["test_years"] >= 100
    for name, variant in data["variants"].items():
        assert len(variant["runs"]) >= 1, name
        assert {"sharpe", "sharpe_low", "sharpe_high", "annual_return", "turnover"} <= set(variant["runs"][0]["test"])
    assert len(data["player"]["positions"]) == 252
    assert {"0", "5", "10", "shifted"} <= set(data["baselines"])


def test_variants_differ_from_the_drqn_only_where_they_say():
    module = load_script_module(SCRIPT)
    found = module.variants(module.DRQN)
    assert found["dqn"].cell == "mlp" and found["dqn"].seq_len == 1
    assert found["stacked_dqn"].env_kwargs["window"] == 20
    assert found["drqn_lookahead"].env_kwargs["lookahead"] is True
    assert found["drqn_10bp"].env_kwargs["cost_bp"] == 10.0
