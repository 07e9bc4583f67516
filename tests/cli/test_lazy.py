"""Start-up: `--help` loads no command module, and a current catalogue opens without Alembic.

Which modules load is checked here, in a fresh interpreter; how long it
takes is measured by benchmarks/bench_startup.py, never by a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import click
import pytest

from kino_catalog.cli import cli
from kino_catalog.cli.lazy import COMMANDS

if TYPE_CHECKING:
    from pathlib import Path

    from tests.factories import Library

_LOADED = """
import json, sys
from kino_catalog.cli import main
code = main(sys.argv[1:])
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules_loaded(*args: str) -> set[str]:
    """The modules loaded by running ``kino-catalog ARGS`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    names: set[str] = set(json.loads(done.stderr.strip().splitlines()[-1]))
    return names


def _packages(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def test_help_loads_neither_the_library_nor_sqlalchemy() -> None:
    loaded = _modules_loaded("--help")
    assert not _packages(loaded) & {"sqlalchemy", "alembic", "rich", "starlette", "watchdog"}
    ours = {name for name in loaded if name.startswith("kino_catalog.")}
    assert ours <= {
        "kino_catalog.cli",
        "kino_catalog.cli.app",
        "kino_catalog.cli.lazy",
        "kino_catalog.errors",
    }


def test_a_search_on_a_current_catalogue_loads_no_alembic_nor_other_commands(
    example_library: Library, tmp_path: Path
) -> None:
    db = str(tmp_path / "c.db")
    assert _packages(_modules_loaded("--db", db, "sync", str(example_library.root))) & {
        "alembic"
    }  # a new catalogue is created by Alembic
    loaded = _modules_loaded("--db", db, "search", "lora:add_detail", "--count")
    assert "alembic" not in _packages(loaded)
    assert not _packages(loaded) & {"starlette", "watchdog", "PIL"}
    # The tables are Core metadata, and PostgreSQL-only index conditions are
    # attached only for PostgreSQL (schema.models): ~70 ms of start-up.
    assert not loaded & {"sqlalchemy.orm", "sqlalchemy.dialects.postgresql", "psycopg"}
    other_commands = {f"kino_catalog.cli.{module}" for module, _ in COMMANDS.values()}
    assert loaded & other_commands == {"kino_catalog.cli.browse"}


def test_the_listed_short_help_is_each_commands_own() -> None:
    commands = cli.load_all()  # type: ignore[attr-defined]
    assert set(commands) == set(COMMANDS)
    for name, command in commands.items():
        module = (command.callback.__module__ if command.callback else "").rsplit(".", 1)[-1]
        assert (module, command.get_short_help_str(limit=10_000)) == COMMANDS[name], name


@pytest.mark.parametrize("width", [60, 80, 120])
def test_help_reads_the_same_lazily_as_with_every_command_loaded(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setenv("COLUMNS", str(width))
    env = dict(os.environ)
    lazily = subprocess.run(
        [sys.executable, "-m", "kino_catalog", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    cli.load_all()  # type: ignore[attr-defined]
    with click.Context(cli, info_name="kino-catalog", **cli.context_settings) as ctx:
        loaded = cli.get_help(ctx)
    assert lazily.rstrip("\n") == loaded.rstrip("\n")
    assert all(f"  {name}  " in lazily for name in COMMANDS)
