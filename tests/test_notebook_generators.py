"""The chapters written by a generator (book/scripts/_make_ch*_notebook.py) are what their generator writes:
an edit to the notebook alone, or to the generator alone, fails here."""
import json
import pathlib

import pytest

from test_ch04_script import load_script_module

BOOK = pathlib.Path(__file__).resolve().parents[1] / "book"
GENERATORS = sorted((BOOK / "scripts").glob("_make_ch*_notebook.py"))


def test_there_are_generators():
    assert len(GENERATORS) >= 2


@pytest.mark.parametrize("generator", GENERATORS, ids=lambda p: p.stem)
def test_the_committed_notebook_has_the_generated_cells(generator):
    module = load_script_module(generator)
    generated = module.book.notebook()["cells"]
    committed = json.loads(module.OUT.read_text())["cells"]
    assert [c["cell_type"] for c in committed] == [c["cell_type"] for c in generated]
    for i, (ours, theirs) in enumerate(zip(generated, committed)):
        assert "".join(theirs["source"]) == "".join(ours["source"]), f"{module.OUT.name}, cell {i}"
        assert theirs["metadata"].get("tags", []) == ours["metadata"].get("tags", []), f"{module.OUT.name}, cell {i}"
