"""Chapter 4's experiment script, on a tiny budget: it writes a file shaped like the committed one, and the
chapter's loading and plotting helpers (which live in the script) accept it."""
import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "book" / "scripts" / "ch04_experiments.py"
COMMITTED = ROOT / "book" / "data" / "ch04_results.json"


def load_script_module(path=SCRIPT):
    """Import a book script (book/scripts/*.py) as a module, by its path."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def structure(value):
    """Keys of dicts (recursively), the structure of a list's first item, and the kind of a leaf.

    Names of methods and variants are keys, so a file with a missing or renamed variant differs.
    Leaves are compared by kind only (number, text, flag, empty), because budgets and results differ;
    the ``overrides`` of a variant count as one leaf.
    """
    if isinstance(value, dict):
        # a run's overrides and configs are data (the quick run overrides more fields, and TrainConfig gains
        # fields over time), not part of the format; test_configs_in_the_files_load checks them
        return {k: "dict" if k in ("overrides", "config", "defaults") else structure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [structure(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)) or value is None:
        return "number"  # None: a run that never solved has no steps_to_solve
    return type(value).__name__


def loose(a, b):
    """Compare two structures, letting an empty list match any list."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"keys differ: {sorted(a.keys() ^ b.keys())}"
        for k in a:
            loose(a[k], b[k])
    elif isinstance(a, list) and isinstance(b, list):
        if a and b:
            loose(a[0], b[0])
    else:
        assert a == b, f"{a} != {b}"


def run_quick_script(script: pathlib.Path, out: pathlib.Path, *extra: str, timeout: int = 900) -> pathlib.Path:
    """Run a book script with ``--quick --out OUT`` (plus ``extra`` flags) from the repository root; it must
    succeed and say that it wrote the file. One runner for every chapter's script test."""
    completed = subprocess.run([sys.executable, str(script), "--quick", *extra, "--out", str(out)], cwd=ROOT,
                               capture_output=True, text=True, timeout=timeout)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "wrote" in completed.stdout
    return out


def check_quick_like_committed(quick_file: pathlib.Path, committed_file: pathlib.Path) -> tuple[dict, dict]:
    """A script's ``--quick`` file says it is quick, the committed one says it is not, and both have the same
    structure (what the page reads). Returns both, for checks of their own."""
    quick, committed = json.loads(quick_file.read_text()), json.loads(committed_file.read_text())
    assert quick["quick"] is True and committed["quick"] is False
    loose(structure(quick), structure(committed))
    return quick, committed


@pytest.fixture(scope="module")
def quick_file(tmp_path_factory):
    return run_quick_script(SCRIPT, tmp_path_factory.mktemp("ch04") / "quick.json", timeout=600)


def test_quick_run_writes_a_file_shaped_like_the_committed_one(quick_file):
    quick = json.loads(quick_file.read_text())
    committed = json.loads(COMMITTED.read_text())
    assert quick["meta"]["quick"] is True and committed["meta"]["quick"] is False
    assert quick["meta"]["command"] == "python book/scripts/ch04_experiments.py --quick"
    loose(structure(quick), structure(committed))
    assert COMMITTED.stat().st_size < 200_000


def test_configs_in_the_files_load(quick_file):
    from rdqn_core import TrainConfig, config_from_dict

    for path in (quick_file, COMMITTED):
        data = json.loads(path.read_text())
        assert isinstance(config_from_dict(data["meta"]["defaults"]), TrainConfig)
        for section in ("comparison", "ablation"):
            for variant in data[section].values():
                assert isinstance(config_from_dict(variant["config"]), TrainConfig)


def test_the_pages_helpers_accept_the_quick_file(quick_file):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ch04 = load_script_module()
    results = ch04.load_results(quick_file)
    for section in ("comparison", "ablation"):
        for entry in results[section].values():
            summary = ch04.summarize(entry)
            assert summary["seeds"] == 1 and 0 <= summary["solved"] <= 1
    table = ch04.staleness_table(results)
    assert table["updates"][0] == 0 and table["stored_state_gap"][0] < 1e-4  # exact right after collection
    fig, axes = plt.subplots(1, 4)
    ch04.plot_comparison(results, axes[0])
    ch04.plot_ablation(results, axes[1:3])
    ch04.plot_staleness(results, axes[3])
    plt.close(fig)


def test_the_committed_file_loads_and_a_broken_one_is_rejected(tmp_path):
    ch04 = load_script_module()
    results = ch04.load_results(COMMITTED)
    assert len(results["meta"]["seeds"]) >= 3
    del results["comparison"]["dqn_frame_stack"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(results))
    with pytest.raises(ValueError, match="dqn_frame_stack"):
        ch04.load_results(broken)
    with pytest.raises(FileNotFoundError, match="ch04_experiments.py"):
        ch04.load_results(tmp_path / "missing.json")
