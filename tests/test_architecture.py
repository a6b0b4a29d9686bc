"""One direction of dependency: low-level modules never import the agent, trainer or CLI."""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "rdqn_core"
LAYERS = ["utils", "envs", "stacking", "networks", "losses", "gradients", "replay", "diagnostics", "config", "agent", "trainer", "cli"]


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
