"""Chapter 4's like-for-like comparison scripts (velocity-masked and flickering CartPole) on a tiny budget, and the
committed result files the page reads."""
import json
import pathlib

import pytest

from test_ch04_script import check_quick_like_committed, load_script_module, run_quick_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "book" / "scripts"
DATA = ROOT / "book" / "data"
NAMES = ("ch04_masked", "ch04_flicker")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_quick_run_writes_a_file_shaped_like_the_committed_one(name, tmp_path):
    quick = run_quick_script(SCRIPTS / f"{name}.py", tmp_path / "quick.json", "--jobs", "1")
    check_quick_like_committed(quick, DATA / f"{name}.json")


@pytest.mark.parametrize("name", NAMES)
def test_every_agent_gets_the_same_inputs_and_td_terms_per_update(name):
    configs = load_script_module(SCRIPTS / f"{name}.py").configs()
    assert {c.batch_size * c.seq_len for c in configs.values()} == {256}
    assert all(c.prev_action_input for c in configs.values())


def test_masked_agents_differ_only_in_what_the_network_knows():
    module = load_script_module(SCRIPTS / "ch04_masked.py")
    configs = module.configs()
    assert set(configs) == set(module.METHODS)
    assert configs["dqn_memoryless"].env_id == configs["drqn"].env_id
    assert configs["oracle"].env_id == "CartPole-v1" and configs["oracle"].cell == configs["drqn"].cell
    ignore = {"cell", "seq_len", "burn_in", "initial_state", "batch_size", "env_id"}
    assert configs["drqn_seq2"].seq_len < configs["drqn"].seq_len  # the ablation: only the window length differs
    for other in ("dqn_stack4", "dqn_memoryless", "oracle", "drqn_seq2"):
        a, b = vars(configs["drqn"]), vars(configs[other])
        assert {k for k in a if a[k] != b[k]} <= ignore, other


def test_flicker_agents_differ_only_in_the_memory():
    module = load_script_module(SCRIPTS / "ch04_flicker.py")
    configs = module.configs()
    assert set(configs) == set(module.METHODS)
    for name in ("drqn", "dqn_memoryless"):  # the DRQN and the memoryless DQN differ in the network only
        assert configs[name].env_id == configs["drqn"].env_id and configs[name].env_kwargs == {"p": module.TRAIN_P}
    assert configs["oracle"].env_kwargs == {"p": 0.0} and configs["oracle"].cell == configs["drqn"].cell
    ignore = {"cell", "seq_len", "burn_in", "initial_state", "batch_size", "env_id", "env_kwargs"}
    a, b = vars(configs["drqn"]), vars(configs["dqn_stack4"])
    assert {k for k in a if a[k] != b[k]} <= ignore


@pytest.mark.parametrize("name, min_seeds", [("ch04_masked", 10), ("ch04_flicker", 3)])
def test_the_committed_file_has_what_the_page_reads(name, min_seeds):
    data = json.loads((DATA / f"{name}.json").read_text())
    module = load_script_module(SCRIPTS / f"{name}.py")
    assert data["quick"] is False and len(data["seeds"]) >= min_seeds and data["final_episodes"] >= 100
    got = {(r["method"], r["seed"]) for r in data["runs"]}
    assert got == {(m, s) for m in module.METHODS for s in data["seeds"]}
    for r in data["runs"]:
        assert r["env_steps"] >= data["budget"] and r["td_terms_per_update"] == 256
        assert len(r["eval_means"]) == len(r["eval_steps"]) > 0
    if name == "ch04_flicker":  # every run was tested at every flicker probability the page plots
        assert all(set(r["final"]) == {str(p) for p in data["test_ps"]} for r in data["runs"])
