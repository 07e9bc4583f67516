"""Commands that only read refuse a catalogue that is not there (issue 15, item 2).

A mistyped --db used to create a new, empty catalogue (and its folder) and
answer 0.  Now only the commands that fill a catalogue create one.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from kino_catalog import Catalog, CatalogMissingError
from kino_catalog.cli import app as cli_app
from kino_catalog.schema.database import shown_target, to_url

READ_ONLY = [
    ("search", "lora:add_detail", "--count"),
    ("search",),
    ("show", "1"),
    ("stats",),
    ("report",),
    ("errors",),
    ("regen", "1"),
    ("verify",),
    ("duplicates",),
    ("serve",),
    ("roots",),
    ("tag", "add", "keeper", "1"),
    ("rate", "1", "4"),
    ("thumbs",),
]


def _files(tmp_path):
    return sorted(p.name for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a))
def test_a_read_only_command_refuses_a_missing_catalogue_and_creates_nothing(
    run_cli, tmp_path, args
):
    before = _files(tmp_path)
    for db in (tmp_path / "kino-exmaple.db", tmp_path / "nonexistent" / "dir" / "x.db"):
        result = run_cli(*args, db=db)
        assert result.code == 1, result
        assert result.out == ""
        [line] = result.err.splitlines()
        assert str(db) in line
        assert "run `kino-catalog sync FOLDER` first" in line
    assert _files(tmp_path) == before  # no file, no -wal, no folder


def test_the_default_catalogue_is_refused_the_same_way(run_cli, tmp_path, monkeypatch, capsys):
    default = tmp_path / "data" / "catalog.db"
    monkeypatch.setattr("kino_catalog.schema.database.default_database", lambda: default)
    monkeypatch.delenv("KINO_CATALOG_DB", raising=False)
    capsys.readouterr()
    from kino_catalog.cli import main

    assert main(["search", "castle"]) == 1
    assert f"no catalogue at {default}" in capsys.readouterr().err
    assert not default.parent.exists()
    # sync creates it, folder and all: the default location is the user's data folder.
    (tmp_path / "lib").mkdir()
    assert main(["sync", str(tmp_path / "lib")]) == 0
    assert default.is_file()


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("sync", "{lib}"), 0),
        (("rebuild", "{lib}"), 0),
        (("import", "{lib}"), 0),
        (("roots", "add", "studio", "{lib}"), 0),
    ],
    ids=lambda a: a[0] if isinstance(a, tuple) else str(a),
)
def test_the_commands_that_fill_a_catalogue_create_it(
    run_cli, example_library, tmp_path, args, code
):
    db = tmp_path / "new.db"
    result = run_cli(*(a.format(lib=example_library.root) for a in args), db=db)
    assert result.code == code, result.err
    assert db.is_file()
    assert run_cli("stats", db=db).code == 0


def test_a_new_catalogue_in_a_folder_that_does_not_exist_is_refused(
    run_cli, example_library, tmp_path
):
    db = tmp_path / "typo" / "new.db"
    result = run_cli("sync", str(example_library.root), db=db)
    assert result.code == 2
    assert result.err.strip() == (
        f"kino-catalog: no folder {db.parent} for the catalogue {db}: create it first"
    )
    assert not db.parent.exists()


def test_the_library_creates_unless_told_not_to(tmp_path):
    path = tmp_path / "sub" / "c.db"
    with pytest.raises(CatalogMissingError) as caught:
        Catalog.open(path, create=False)
    assert caught.value.target == str(path)
    assert not path.parent.exists()
    with Catalog.open(path) as cat:  # DESIGN §5: open creates
        assert cat.count() == 0
    with Catalog.open(path, create=False) as cat:
        assert cat.count() == 0


def test_a_sqlite_file_that_is_not_a_catalogue_is_left_alone(run_cli, tmp_path):
    other = tmp_path / "other.db"
    engine = create_engine(to_url(other))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE notes (body TEXT)")
    engine.dispose()
    result = run_cli("search", "castle", db=other)
    assert result.code == 1
    assert "no catalogue (no kino-catalog schema)" in result.err
    engine = create_engine(to_url(other))
    assert inspect(engine).get_table_names() == ["notes"]
    engine.dispose()


@pytest.mark.postgres
def test_a_postgresql_database_without_the_schema_is_refused_untouched(run_cli, pg_url):
    result = run_cli("search", "castle", "--count", db=pg_url)
    assert result.code == 1
    [line] = result.err.splitlines()
    assert "no catalogue (no kino-catalog schema)" in line
    assert "run `kino-catalog sync FOLDER` first" in line
    engine = create_engine(to_url(pg_url))
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_an_empty_catalogue_on_a_terminal_says_what_to_run(run_cli, tmp_path, monkeypatch):
    db = tmp_path / "empty.db"
    Catalog.open(db).close()
    result = run_cli("search", "castle", db=db)  # a pipe: no hint, just nothing
    assert (result.code, result.out, result.err) == (0, "", "")
    monkeypatch.setattr(cli_app, "is_terminal", lambda: True)
    monkeypatch.setattr("kino_catalog.cli.browse.is_terminal", lambda: True)
    for args in (("search", "castle"), ("search", "--count")):
        result = run_cli(*args, db=db)
        assert result.code == 0
        assert f"the catalogue {db} is empty: run `kino-catalog sync FOLDER` first" in result.err


def test_a_catalogue_with_frames_gives_no_hint_for_an_empty_result(
    run_cli, example_library, tmp_path, monkeypatch
):
    db = tmp_path / "c.db"
    assert run_cli("sync", str(example_library.root), db=db).code == 0
    monkeypatch.setattr(cli_app, "is_terminal", lambda: True)
    monkeypatch.setattr("kino_catalog.cli.browse.is_terminal", lambda: True)
    result = run_cli("search", "nothing_matches_this_word", db=db)
    assert result.code == 0
    assert "sync FOLDER" not in result.err


def test_messages_never_show_a_url_password():
    assert shown_target("postgresql://ana:secret@db/kino") == "postgresql://ana:***@db/kino"
    assert shown_target("/tmp/c.db") == "/tmp/c.db"
