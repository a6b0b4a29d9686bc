"""Chapter 8's feedback script: its positions and targets, a tiny-budget run, and the committed result file."""
import json
import pathlib

import numpy as np
import pytest

from test_ch04_script import check_quick_like_committed, load_script_module, run_quick_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "book" / "scripts" / "ch08_feedback.py"
COMMITTED = ROOT / "book" / "data" / "ch08_feedback.json"


@pytest.fixture(scope="module")
def module():
    return load_script_module(SCRIPT)


def test_positions_hold_true_mines_exact_probabilities_and_one_unopened_cell(module):
    data = module.record_positions(40, seed=3, explore=0.5)
    assert data["boards"].shape == (40, 10 * module.ROWS * module.COLS)
    assert (data["mines"].sum(axis=1) == module.MINES).all()
    closed = data["unopened"]
    assert not (data["mines"] & ~closed).any(), "an opened cell cannot hold a mine"
    assert closed[np.arange(40), data["one"]].all(), "the labelled cell must be unopened"
    assert (data["exact"][~closed] == 0).all() and ((data["exact"] >= 0) & (data["exact"] <= 1)).all()
    # the exact probabilities of a position's unopened cells add up to the mines on the board
    np.testing.assert_allclose(data["exact"].sum(axis=1), module.MINES, rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_full_information_fits_the_mines_better_than_one_cell(module, seed):
    """Trained on the same positions for the same updates, labels on every unopened cell teach the mine map better
    than one label per position: the squared error against the mines on those positions is lower (measured over
    seeds 0-2: by 9-12%)."""
    import torch

    data = module.record_positions(200, seed=seed, explore=0.2)
    settings = {**module.QUICK, "conv_channels": (16, 16), "updates": 300}
    boards = torch.as_tensor(data["boards"]).reshape(-1, 10, module.ROWS, module.COLS)[None]
    y = 1.0 - 2.0 * torch.as_tensor(data["mines"]).float()
    closed = torch.as_tensor(data["unopened"])
    errors = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: one thread is fastest, and the test may share the machine
    try:
        for target in ("one cell", "all cells"):
            net = module.train_network(data, target, seed=seed, settings=settings)
            with torch.no_grad():
                q = net(boards)[0][0]
            errors[target] = float(((q - y)[closed] ** 2).mean())
    finally:
        torch.set_num_threads(threads)
    assert errors["all cells"] < 0.95 * errors["one cell"], errors


def test_the_page_budget_is_the_pages_run(module):
    page = json.loads((ROOT / "book" / "08_minesweeper.ipynb").read_text())
    source = next("".join(c["source"]) for c in page["cells"]
                  if c["cell_type"] == "code" and "config = TrainConfig.board(" in "".join(c["source"]))
    assert "encoder_sizes=(32, 32, 32, 32)" in source and "batch_size=64" in source
    assert "total_steps=60_000" in source and "updates_per_step=0.1" in source and "learning_starts=1_000" in source
    assert module.PAGE["updates"] == int((60_000 - 1_000) * 0.1) and module.PAGE["positions"] == 60_000


@pytest.mark.slow
def test_quick_run_writes_a_file_shaped_like_the_committed_one(tmp_path):
    check_quick_like_committed(run_quick_script(SCRIPT, tmp_path / "quick.json", "--jobs", "1"), COMMITTED)


def test_the_committed_file_has_what_the_page_reads(module):
    data = json.loads(COMMITTED.read_text())
    assert data["quick"] is False and data["games"] >= 1_000 and data["scored_games"] >= 300
    runs = {(r["seed"], r["budget"], r["target"]): r for r in data["records"]}
    assert set(runs) == {(s, b, t) for s in module.SEEDS for b in module.BUDGETS for t in module.TARGETS}
    for (seed, budget, target), r in runs.items():
        assert r["updates"] == module.BUDGETS[budget]["updates"]
        assert r["positions"] == module.BUDGETS[budget]["positions"]
        assert 0.5 < r["exact_auroc"] <= 1 and 0 <= r["auroc"] <= 1 and 0 <= r["win_rate"] <= 1
