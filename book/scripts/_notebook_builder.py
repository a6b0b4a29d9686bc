"""The few lines every notebook generator (``_make_ch*_notebook.py``) shares: collect cells, write the notebook.

A generator keeps a chapter's cells as Python source beside the chapter so the notebook can be rebuilt; the
builder writes them as an unexecuted nbformat-4 notebook (``jupyter execute --inplace`` then runs it).

    book = NotebookBuilder("ch06")
    book.md(r'''# Title''')
    book.code(r'''print(1)''', "hide-input")
    book.write(path)
"""
from __future__ import annotations

import json
import pathlib


class NotebookBuilder:
    """Cells in order; ``prefix`` makes the stable cell ids (``<prefix>-00``, ``<prefix>-01``, ...)."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.cells: list[tuple[str, str, list[str]]] = []

    def md(self, text: str) -> None:
        self.cells.append(("markdown", text.strip("\n"), []))

    def code(self, text: str, *tags: str) -> None:
        self.cells.append(("code", text.strip("\n"), list(tags)))

    def notebook(self) -> dict:
        cells = []
        for i, (kind, text, tags) in enumerate(self.cells):
            cell = {"cell_type": kind, "id": f"{self.prefix}-{i:02d}", "metadata": {"tags": tags} if tags else {},
                    "source": text.splitlines(keepends=True)}
            if kind == "code":
                cell.update(execution_count=None, outputs=[])
            cells.append(cell)
        return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                            "name": "python3"},
                                             "language_info": {"name": "python"}},
                "nbformat": 4, "nbformat_minor": 5}

    def write(self, path: pathlib.Path) -> None:
        path.write_text(json.dumps(self.notebook(), indent=1) + "\n")
        print("wrote", path)
