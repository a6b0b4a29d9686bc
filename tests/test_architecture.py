"""One direction of dependency: low-level modules never import the agent, trainer or CLI."""
import ast
import json
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "rdqn_core"
LAYERS = ["utils", "envs", "stacking", "networks", "losses", "gradients", "replay", "diagnostics", "config", "agent",
          "trainer", "benchmark", "cli"]


@pytest.mark.parametrize("module", LAYERS)
def test_module_imports_only_lower_layers(module):
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 1}
    higher = set(LAYERS[LAYERS.index(module):])
    assert not imported & higher, f"{module} imports {imported & higher}, which sit above it"


def test_public_names_are_listed():
    import rdqn_core

    for name in rdqn_core.__all__:
        assert hasattr(rdqn_core, name), name


def test_display_is_a_leaf_and_optional():
    """rdqn_core.display (matplotlib) imports no other rdqn_core module, and the package works without it."""
    tree = ast.parse((PACKAGE / "display.py").read_text())
    relative = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level >= 1}
    assert not relative, f"display imports {relative}: plotting must not depend on training code"
    code = "import sys, rdqn_core; assert 'matplotlib' not in sys.modules, 'import rdqn_core pulled in matplotlib'"
    subprocess.run([sys.executable, "-c", code], check=True)


def _notebook_code(path: pathlib.Path) -> ast.Module:
    cells = json.loads(path.read_text())["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] == "code":  # IPython magics and shell escapes are not Python
            lines += [line for line in "".join(cell["source"]).splitlines() if not line.lstrip().startswith(("%", "!"))]
    return ast.parse("\n".join(lines), filename=str(path))


NOTEBOOKS = sorted((PACKAGE.parent / "book").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_use_only_public_names(notebook):
    """The package is the book's vocabulary: a chapter imports only names its module lists in __all__."""
    import importlib

    tree = _notebook_code(notebook)
    module_aliases = {}
    used = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "rdqn_core":
            used += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            module_aliases |= {alias.asname or alias.name: alias.name for alias in node.names
                               if alias.name.split(".")[0] == "rdqn_core"}
    for node in ast.walk(tree):  # rdqn_core.name after `import rdqn_core`
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in module_aliases:
            used.append((module_aliases[node.value.id], node.attr))
    private = [f"{module}.{name}" for module, name in used
               if not name.startswith("__") and name not in getattr(importlib.import_module(module), "__all__", ())]
    assert not private, f"{notebook.name} uses names outside __all__: {private}"


def test_every_chapter_is_checked_for_public_names():
    assert len(NOTEBOOKS) >= 5 and all(_notebook_code(nb).body for nb in NOTEBOOKS)
