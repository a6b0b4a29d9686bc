"""Chapter 6's experiment script on a tiny budget: it writes a file shaped like the committed one, which the
page reads (the same keys), and the committed file holds what the page needs."""
import json
import pathlib

import pytest

from test_ch04_script import check_quick_like_committed, load_script_module, run_quick_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "book" / "scripts" / "ch06_experiments.py"
COMMITTED = ROOT / "book" / "data" / "ch06_results.json"


@pytest.fixture(scope="module")
def quick_file(tmp_path_factory):
    return run_quick_script(SCRIPT, tmp_path_factory.mktemp("ch06") / "quick.json", "--jobs", "1")


@pytest.mark.slow
def test_quick_run_writes_a_file_shaped_like_the_committed_one(quick_file):
    check_quick_like_committed(quick_file, COMMITTED)
    assert COMMITTED.stat().st_size < 300_000


def test_the_committed_file_has_what_the_page_reads():
    data = json.loads(COMMITTED.read_text())
    module = load_script_module(SCRIPT)
    expected = {(group, variant) for group, variant, _, _ in module.runs(quick=False)}
    got = {(r["group"], r["variant"]) for group in module.GROUPS for r in data[group]}
    assert got == expected
    for group in module.GROUPS:
        for record in data[group]:
            assert record["env_steps"] >= record["config"]["total_steps"], record["variant"]
            assert len(record["eval_means"]) == len(record["eval_steps"]) >= 5
    assert {r["K"] for r in data["ksweep"]} == set(module.K_VALUES)
    player = next(r["player"] for r in data["angle"] if r["variant"] == "DRQN" and r["seed"] == 0)
    assert len(player["angles"]) == 200 and len(player["torques"]) == 200
    assert data["final_episodes"] >= 100
    assert set(data["commands"]) == set(data["wall_seconds"]) == set(module.GROUPS)  # provenance per group


@pytest.mark.slow
def test_rerunning_one_group_keeps_the_other_groups_commands(quick_file, tmp_path):
    out = tmp_path / "partial.json"
    out.write_text(quick_file.read_text())
    module = load_script_module(SCRIPT)
    module.main(["--quick", "--jobs", "1", "--only", "reacher", "--out", str(out)])
    before, after = json.loads(quick_file.read_text()), json.loads(out.read_text())
    assert "command" not in after and "--only reacher" in after["commands"]["reacher"]
    assert {g: c for g, c in after["commands"].items() if g != "reacher"} == {
        g: c for g, c in before["commands"].items() if g != "reacher"}


@pytest.mark.slow
def test_screen_runs_the_noisy_drqn_with_overrides_and_writes_nothing(tmp_path, capsys):
    module = load_script_module(SCRIPT)
    out = tmp_path / "never.json"
    records = module.main(["--quick", "--jobs", "1", "--seeds", "0", "--out", str(out),
                           "--screen", 'lr={"learning_rate": 0.0005}'])
    (record,) = records
    assert record["variant"] == "lr" and record["seed"] == 0 and record["overrides"] == {"learning_rate": 0.0005}
    assert record["config"]["learning_rate"] == 0.0005
    assert record["config"]["env_id"] == module.NOISY_LONG.env_id and record["config"]["seq_len"] == 16
    assert not out.exists() and "lr" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="NAME=JSON"):
        module.main(["--quick", "--screen", "lr=notjson"])
