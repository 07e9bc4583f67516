"""The package's shape holds: the import-linter contracts, a docstring and __all__ per module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kino_catalog"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")


def test_the_import_contracts_hold():
    # Layers (cli -> catalog -> watch -> index|query|regen|report -> schema
    # -> sidecar -> errors), no circles, sidecar free of SQLAlchemy.  In a
    # child process: import-linter changes logging state that the watcher's
    # overflow detection (a logging handler) relies on in later tests.
    check = (
        "import sys; from importlinter import cli; "
        "sys.exit(cli.lint_imports(sys.argv[1], no_cache=True, no_logo=True))"
    )
    run = subprocess.run(
        [sys.executable, "-c", check, str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


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
