"""The package's shape holds: the import-linter contracts, a docstring and __all__ per module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from importlinter import cli as import_linter

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kino_catalog"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")


def test_the_import_contracts_hold():
    # Layers (cli -> catalog -> watch -> index|query|regen|report -> schema
    # -> sidecar -> errors), no circles, sidecar free of SQLAlchemy.
    assert import_linter.lint_imports(str(ROOT / "pyproject.toml"), no_cache=True) == 0


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_says_what_it_owns_and_exports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{path.name}: no module docstring"
    names = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    is_package_marker = path.name == "__init__.py" and len(tree.body) == 1
    assert is_package_marker or "__all__" in names, f"{path.name}: no __all__"
