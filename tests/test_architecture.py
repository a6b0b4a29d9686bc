"""One direction of dependency: low-level modules never import the agent, trainer or CLI."""
import ast
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
