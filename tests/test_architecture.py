"""One direction of dependency: every module imports only from layers below it (STYLE habit 7).

The import graph is read from the source with ``ast``, in all three forms a module can use:
``from .x import y`` / ``from ..x import y``, ``from . import x`` and ``import rdqn_core.x`` /
``from rdqn_core.x import y``.
"""
import ast
import json
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "rdqn_core"

# Layer of every module (a folder's modules share its layer unless listed); lower numbers sit lower.
LAYERS = {
    "types": 0, "utils": 0,
    "envs": 1, "config": 1,
    "networks": 2,
    "losses": 3,
    "replay": 4,
    "rollout": 5,
    "agent": 6,
    "checkpoint": 7,
    "trainer": 8,
    "parallel": 9,
    "instruments": 10,
    "display": 10,
    "benchmark": 11,
    "cli": 12, "__main__": 13,
}
# Inside a folder, modules may import their siblings (networks.recurrent uses networks.base); these are
# the orders within folders, lowest first.
FOLDER_ORDER = {
    "envs": ["partial", "control", "market", "minesweeper", "slow", "registry", "stacking", "__init__"],
    "networks": ["normalizer", "base", "heads", "mlp", "recurrent", "conv", "__init__"],
    "instruments": ["tasks", "tabular", "gradients", "diagnostics", "finance", "throughput", "minesweeper", "control",
                    "__init__"],
    "parallel": ["limiter", "transport", "actor", "ray_engine", "learner", "data_parallel", "__init__"],
}


def _modules() -> list[pathlib.Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def _name(path: pathlib.Path) -> tuple[str, ...]:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts


def _imports(path: pathlib.Path, here: tuple[str, ...] | None = None) -> set[tuple[str, ...]]:
    """Every rdqn_core module ``path`` imports, as a tuple of path parts below the package.

    ``here`` names the module ``path`` is read as (default: where it sits in the package).
    """
    here = _name(path) if here is None else here
    package = here[:-1] if here[-1] != "__init__" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .x import y, from . import x, from ..x import y
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = base + tuple((node.module or "").split(".")) if node.module else base
                if node.module is None:
                    found |= {target + (alias.name,) for alias in node.names}
                else:
                    found.add(tuple(p for p in target if p))
            elif (node.module or "").split(".")[0] == "rdqn_core":
                found.add(tuple(node.module.split(".")[1:]))
        elif isinstance(node, ast.Import):
            found |= {tuple(alias.name.split(".")[1:]) for alias in node.names if alias.name.split(".")[0] == "rdqn_core"}
    return {f for f in found if f}


def _layer(parts: tuple[str, ...]) -> int:
    if parts[0] not in LAYERS:
        raise AssertionError(f"module rdqn_core.{'.'.join(parts)} has no layer in tests/test_architecture.py")
    return LAYERS[parts[0]]


def test_every_module_has_a_layer():
    for path in _modules():
        _layer(_name(path))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: ".".join(_name(p)))
def test_module_imports_only_lower_layers(path):
    here = _name(path)
    for target in _imports(path):
        if target[0] == here[0] and len(here) > 1:  # a sibling in the same folder
            order = FOLDER_ORDER.get(here[0])
            if order is not None and len(target) > 1:
                assert order.index(target[1]) < order.index(here[1]), f"{here} imports its later sibling {target}"
            continue
        if here == ("envs", "__init__") or here == ("instruments", "__init__") or here == ("networks", "__init__"):
            assert _layer(target) <= _layer(here), f"{here} re-exports {target} from a higher layer"
            continue
        assert _layer(target) < _layer(here), (
            f"rdqn_core.{'.'.join(here)} (layer {_layer(here)}) imports rdqn_core.{'.'.join(target)} "
            f"(layer {_layer(target)}), which does not sit below it")


def test_the_import_reader_sees_all_three_forms(tmp_path):
    """The reader must catch the forms a `from .x import` scan misses: `from . import x` and absolute imports."""
    probe = tmp_path / "probe.py"
    probe.write_text("from . import agent\nimport rdqn_core.trainer\nfrom rdqn_core.cli import main\n"
                     "from .types import LOSSES\nfrom ..replay import SequenceReplay\n")
    assert _imports(probe, here=("losses",)) >= {("agent",), ("trainer",), ("cli",), ("types",)}
    assert ("replay",) in _imports(probe, here=("networks", "mlp"))


def test_envs_never_import_torch():
    for path in (PACKAGE / "envs").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "torch" for n in names), f"{path.name} imports torch"
    # a bare parent package, so that rdqn_core/__init__.py (which re-exports torch code) does not run
    code = ("import sys, types; pkg = types.ModuleType('rdqn_core'); pkg.__path__ = [%r]; "
            "sys.modules['rdqn_core'] = pkg; import rdqn_core.envs; rdqn_core.envs.make_env('rdqn/MaskedCartPole-v0'); "
            "assert 'torch' not in sys.modules, 'importing rdqn_core.envs pulled in torch'" % str(PACKAGE))
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_core_never_imports_instruments():
    core = [p for p in _modules() if _name(p)[0] not in ("instruments", "benchmark", "cli", "__main__", "display")]
    for path in core:
        assert not any(t[0] == "instruments" for t in _imports(path)), f"{_name(path)} imports an instrument"


def test_public_names_are_listed():
    import rdqn_core

    for name in rdqn_core.__all__:
        assert hasattr(rdqn_core, name), name


def test_display_is_a_leaf_and_optional():
    """rdqn_core.display (matplotlib) imports no other rdqn_core module, and the package works without it."""
    assert not _imports(PACKAGE / "display.py"), "display imports rdqn_core modules: plotting must not depend on them"
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
