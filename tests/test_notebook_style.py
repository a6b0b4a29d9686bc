"""Notebook code fits the book's column: no code-cell line wider than 88 characters.

The rendered page shows code in a fixed-width block; a longer line scrolls sideways (STYLE.md,
habit 13). Black or ruff with ``--line-length 88`` reformat a cell; comments and long strings
have to be broken by hand. Markdown cells are not restricted. One test case per notebook, so
that a failure names the chapter.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
MAX_LINE = 88
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))


def test_book_has_notebooks():
    # guards the parametrization below: an empty glob would make it pass vacuously
    assert NOTEBOOKS, f"no notebooks found in {BOOK}"


def code_cells(notebook: Path) -> list[tuple[int, list[str], str]]:
    """``(index, tags, source text)`` of every code cell; the index counts all cells from 0."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    found = []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            text = "".join(source) if isinstance(source, list) else source
            found.append((index, cell.get("metadata", {}).get("tags", []), text))
    return found


def long_code_lines(notebook: Path) -> list[str]:
    """'cell <index>, line <n> (<width> chars): <text>' for every over-long code line."""
    found = []
    for index, _, text in code_cells(notebook):
        for number, line in enumerate(text.splitlines(), start=1):
            if len(line) > MAX_LINE:
                found.append(f"cell {index}, line {number} ({len(line)} chars): {line}")
    return found


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_code_lines_fit_the_column(notebook: Path):
    found = long_code_lines(notebook)
    assert not found, (
        f"{notebook.relative_to(BOOK.parent)}: {len(found)} code line(s) wider than "
        f"{MAX_LINE} characters (cell index counts all cells from 0):\n  "
        + "\n  ".join(found)
    )


MAX_FIGURE_WIDTH = 9.0  # inches: a wider figure is shrunk into the column and its text becomes unreadable


def wide_figures(notebook: Path) -> list[str]:
    """'cell <index>: figsize=(w, h)' for every literal ``figsize`` wider than the column allows."""
    import re

    found = []
    for index, _, text in code_cells(notebook):
        for match in re.finditer(r"figsize=\(\s*([0-9.]+)\s*,", text):
            if float(match.group(1)) > MAX_FIGURE_WIDTH:
                found.append(f"cell {index}: {match.group(0)}")
    return found


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_figures_fit_the_column(notebook):
    wide = wide_figures(notebook)
    assert not wide, f"{notebook.name}: figures wider than {MAX_FIGURE_WIDTH} in:\n" + "\n".join(wide)


def glue_in_checked_cells(notebook: Path) -> list[int]:
    """Indices of cells that nbval compares (tag ``nbval-check-output``) and also call ``glue``."""
    return [index for index, tags, text in code_cells(notebook)
            if "nbval-check-output" in tags and "glue(" in text]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_checked_cells_glue_nothing(notebook: Path):
    # nbval compares every output of a checked cell, glue records included, to the digit. A glued
    # figure of a trained network differs in its last digits on another processor (chapter 8's win
    # rate was 83.2 under ONEDNN_MAX_CPU_ISA=SSE41 against 85.399 stored), so a checked cell prints
    # only its robust verdict and the glue calls live in a cell of their own that nbval does not check.
    found = glue_in_checked_cells(notebook)
    assert not found, (
        f"{notebook.relative_to(BOOK.parent)}: cells {found} are tagged nbval-check-output and call "
        "glue(); move the glue calls into a following cell without that tag"
    )
