"""Chapter 4's masked-CartPole comparison script on a tiny budget, and the committed result file the page reads."""
import json
import pathlib

import pytest

from test_ch04_script import check_quick_like_committed, load_script_module, run_quick_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "book" / "scripts" / "ch04_masked.py"
COMMITTED = ROOT / "book" / "data" / "ch04_masked.json"


@pytest.fixture(scope="module")
def quick_file(tmp_path_factory):
    return run_quick_script(SCRIPT, tmp_path_factory.mktemp("masked") / "quick.json", "--jobs", "1")


@pytest.mark.slow
def test_quick_run_writes_a_file_shaped_like_the_committed_one(quick_file):
    check_quick_like_committed(quick_file, COMMITTED)


def test_the_agents_are_compared_like_for_like():
    """Same inputs (previous action for all) and the same TD terms per update; only what the network knows differs."""
    module = load_script_module(SCRIPT)
    configs = module.configs()
    assert set(configs) == set(module.METHODS)
    assert {c.batch_size * c.seq_len for c in configs.values()} == {256}
    assert all(c.prev_action_input for c in configs.values())
    assert configs["dqn_memoryless"].env_id == configs["drqn"].env_id
    assert configs["oracle"].env_id == "CartPole-v1" and configs["oracle"].cell == configs["drqn"].cell
    ignore = {"cell", "seq_len", "burn_in", "initial_state", "batch_size", "env_id"}
    assert configs["drqn_seq2"].seq_len < configs["drqn"].seq_len  # the ablation: only the window length differs
    for other in ("dqn_stack4", "dqn_memoryless", "oracle", "drqn_seq2"):
        a, b = vars(configs["drqn"]), vars(configs[other])
        assert {k for k in a if a[k] != b[k]} <= ignore, other


def test_the_committed_file_has_what_the_page_reads():
    data = json.loads(COMMITTED.read_text())
    module = load_script_module(SCRIPT)
    assert data["quick"] is False and len(data["seeds"]) >= 10 and data["final_episodes"] >= 100
    got = {(r["method"], r["seed"]) for r in data["runs"]}
    assert got == {(m, s) for m in module.METHODS for s in data["seeds"]}
    for r in data["runs"]:
        assert r["env_steps"] >= data["budget"] and r["td_terms_per_update"] == 256
        assert len(r["eval_means"]) == len(r["eval_steps"]) > 0
