"""Shared fixtures: library folders, catalogues (SQLite and PostgreSQL), the CLI.

Builders (make_sidecar, Library, PNG_8X8, ...) live in tests/factories.py.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

import pytest

from kino_catalog import Catalog
from kino_catalog.cli import main
from tests.factories import CliResult, Library, copy_examples
from tests.kino_double import KinoDouble

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

PG_ADMIN_URL = os.environ.get("KINO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def library(tmp_path: Path) -> Library:
    root = tmp_path / "library"
    root.mkdir()
    return Library(root)


@pytest.fixture
def example_library(tmp_path: Path) -> Library:
    """A private copy of examples/library (tests may change it)."""
    root = tmp_path / "examples"
    copy_examples(root)
    return Library(root)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "catalog.db"


@pytest.fixture
def catalog(db_path: Path) -> Iterator[Catalog]:
    with Catalog.open(db_path) as cat:
        yield cat


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_server() -> str:
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but not reachable at {PG_ADMIN_URL}")
        pytest.skip(f"no PostgreSQL at {PG_ADMIN_URL}")
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"kc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = pg_server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new catalogue's --db on SQLite and on PostgreSQL, for tests that open it several times
    (several processes or "hosts")."""
    if request.param == "sqlite":
        return str(tmp_path / "catalog.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    """The same test on SQLite and on PostgreSQL."""
    target = (
        str(tmp_path / "catalog.db")
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    with Catalog.open(target) as cat:
        yield cat


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], db_path: Path) -> Callable[..., CliResult]:
    """Run ``kino-catalog --db <tmp> ARGS`` in-process; returns code, stdout, stderr."""

    def run(*args: str, db: str | os.PathLike[str] | None = None) -> CliResult:
        capsys.readouterr()
        code = main(["--db", str(db or db_path), *args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture
def kino(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KinoDouble]:
    """A Kino server double (tests/kino_double.py) on 127.0.0.1, reached without a proxy."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    monkeypatch.delenv("KINO_URL", raising=False)
    double = KinoDouble(tmp_path / "kino-frames").start()
    try:
        yield double
    finally:
        double.close()
