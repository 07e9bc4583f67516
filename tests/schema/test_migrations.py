"""The schema is owned by Alembic: one head, up and down, models == migrations, both dialects."""

from __future__ import annotations

import sqlite3

import pytest
from pytest_alembic import tests as alembic_tests
from pytest_alembic.config import Config
from sqlalchemy import create_engine, inspect, text

from kino_catalog import Catalog, CatalogError
from kino_catalog.schema import database as db_module
from kino_catalog.schema.database import make_engine, migrations_dir, to_url
from tests.catalog_state import catalog_state


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def alembic_engine(request, tmp_path):
    if request.param == "sqlite":
        url = to_url(tmp_path / "migrations.db")
    else:
        url = to_url(request.getfixturevalue("pg_url"))
    engine = create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def alembic_config():
    return Config(config_options={"script_location": str(migrations_dir())})


def test_single_head_revision(alembic_runner):
    alembic_tests.test_single_head_revision(alembic_runner)


def test_head_revision_constant_is_alembics_head():
    """HEAD_REVISION lets a current catalogue open without Alembic: it must be the head
    (a new migration updates it; this fails until it does)."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    config = AlembicConfig()
    config.set_main_option("script_location", str(migrations_dir()))
    assert ScriptDirectory.from_config(config).get_heads() == [db_module.HEAD_REVISION]


def test_a_catalogue_behind_the_head_is_upgraded_by_alembic(tmp_path):
    from alembic import command

    path = tmp_path / "c.db"
    Catalog.open(path).close()
    engine = create_engine(to_url(path))  # no pragmas: foreign keys off, as 0005 needs
    with engine.begin() as conn:
        command.downgrade(db_module._alembic_config(conn), "0004")
    assert not db_module._is_at_head(engine)
    engine.dispose()
    with Catalog.open(path) as cat, cat.engine.connect() as conn:
        revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        assert revision == db_module.HEAD_REVISION
        assert "root_mounts" in inspect(cat.engine).get_table_names()


def test_upgrade_from_base_to_head(alembic_runner):
    alembic_tests.test_upgrade(alembic_runner)


def test_models_match_migrations(alembic_runner):
    alembic_tests.test_model_definitions_match_ddl(alembic_runner)


def test_every_migration_goes_up_and_down(alembic_runner):
    alembic_tests.test_up_down_consistency(alembic_runner)


def test_open_creates_the_full_text_index(tmp_path):
    with Catalog.open(tmp_path / "c.db") as cat:
        tables = set(inspect(cat.engine).get_table_names())
    assert {
        "projects",
        "frames",
        "parameters",
        "loras",
        "roots",
        "index_errors",
        "frames_fts",
    } <= tables


def test_open_refuses_a_catalogue_newer_than_the_code(tmp_path):
    path = tmp_path / "c.db"
    Catalog.open(path).close()
    engine = make_engine(path)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'from_the_future'")
    engine.dispose()
    with pytest.raises(CatalogError, match="newer than this kino-catalog"):
        Catalog.open(path)


def test_open_sets_wal_mode(tmp_path):
    with Catalog.open(tmp_path / "c.db") as cat, cat.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_size_limit").scalar() == 64 << 20
        # MEMORY again after the upgrade, which ran with temporary files
        assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 2


def test_a_new_catalogue_gets_the_bulk_friendly_page_size(tmp_path):
    with Catalog.open(tmp_path / "c.db") as cat, cat.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == db_module.PAGE_SIZE != 4096


def test_an_existing_catalogue_keeps_its_page_size_and_works(tmp_path, example_library):
    old = tmp_path / "old.db"
    made = sqlite3.connect(old)  # as kino-catalog made them before stop 24
    made.execute("PRAGMA page_size=4096")
    made.execute("PRAGMA journal_mode=WAL")
    made.close()
    with Catalog.open(old) as cat, Catalog.open(tmp_path / "new.db") as fresh:
        cat.rebuild(example_library.root)
        fresh.rebuild(example_library.root)
        with cat.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
        assert catalog_state(cat) == catalog_state(fresh)


def test_0004_moves_each_sidecar_text_to_frame_documents_and_back(alembic_runner, alembic_engine):
    texts = {1: '{"plugin": "sdxl", "prompt": "caf\u00e9 \U0001f409"}', 2: '{\n  "plugin": "x"\n}'}
    alembic_runner.migrate_up_to("0003")
    with alembic_engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO roots (id, path, added_at) VALUES (1, '/lib', '2026-01-01 00:00:00')"
        )
        conn.execute(
            text(
                "INSERT INTO frames (id, root_id, folder, name, image_name, image_exists, "
                "image_count, plugin, generated_at, size, mtime_ns, content_hash, raw_json) "
                "VALUES (:id, 1, '', :name, 'f.png', false, 0, 'sdxl', "
                "'2026-01-01 00:00:00', 1, 1, 'h', :raw_json)"
            ),
            [{"id": i, "name": f"f{i}.json", "raw_json": raw} for i, raw in texts.items()],
        )
    alembic_runner.migrate_up_to("0004")
    with alembic_engine.connect() as conn:
        moved = dict(conn.exec_driver_sql("SELECT frame_id, raw_json FROM frame_documents").all())
        columns = {c["name"] for c in inspect(conn).get_columns("frames")}
    assert moved == texts
    assert "raw_json" not in columns
    alembic_runner.migrate_down_to("0003")
    with alembic_engine.connect() as conn:
        restored = dict(conn.exec_driver_sql("SELECT id, raw_json FROM frames").all())
        tables = set(inspect(conn).get_table_names())
    assert restored == texts
    assert "frame_documents" not in tables


def test_the_write_ahead_log_is_cut_back_after_a_rebuild_while_others_stay_connected(
    tmp_path, library, monkeypatch
):
    monkeypatch.setattr(db_module, "WAL_SIZE_LIMIT", 0)
    for i in range(60):
        library.frame(1, i)
    wal = tmp_path / "c.db-wal"
    with Catalog.open(tmp_path / "c.db") as cat, cat.engine.connect() as watcher:
        watcher.exec_driver_sql("SELECT count(*) FROM frames").scalar()  # another connection,
        watcher.rollback()  # open but idle, as a watcher's between its syncs
        cat.rebuild(library.root)
        after_rebuild = wal.stat().st_size
        # What SQLite does by itself once the log passes 1,000 pages (a real rebuild's).
        watcher.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        library.frame(1, 99)
        cat.sync(library.root)  # the next write restarts the log from its beginning
        assert wal.stat().st_size < after_rebuild  # without a limit it never shrinks


def _alembic_on(conn):
    """An Alembic config that migrates on ``conn`` (as the alembic CLI would, on its engine)."""
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["connection"] = conn
    config.attributes["configure_logger"] = False
    return config


def _frames_of(conn):
    return sorted(
        conn.exec_driver_sql("SELECT root_id, folder, name FROM frames ORDER BY id").all()
    )


def test_0005_keeps_each_root_and_its_frames_with_its_path_as_this_hosts_mapping(
    alembic_runner, alembic_engine, monkeypatch
):
    monkeypatch.setenv("KINO_CATALOG_HOST", "ws-1")
    alembic_runner.migrate_up_to("0004")
    with alembic_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO roots (id, path, added_at) VALUES (:id, :path, '2026-01-01')"),
            [
                {"id": 1, "path": "/mnt/studio/frames"},
                {"id": 2, "path": "/home/ana/frames"},  # the same folder name: a new name
                {"id": 3, "path": "/data/renders"},
            ],
        )
        conn.execute(
            text(
                "INSERT INTO frames (id, root_id, folder, name, image_name, image_exists, "
                "image_count, plugin, generated_at, size, mtime_ns, content_hash) "
                "VALUES (:id, :root, :folder, :name, 'f.png', true, 1, 'sdxl', "
                "'2026-01-01 00:00:00', 1, 1, 'h')"
            ),
            [
                {"id": 10, "root": 1, "folder": "", "name": "a.json"},
                {"id": 11, "root": 1, "folder": "x/y", "name": "b.json"},
                {"id": 12, "root": 2, "folder": "", "name": "a.json"},
            ],
        )
        conn.execute(text("INSERT INTO frame_documents VALUES (10, '{}'), (11, '{}'), (12, '{}')"))
        before = _frames_of(conn)
    alembic_runner.migrate_up_to("0005")
    with alembic_engine.connect() as conn:
        roots = conn.exec_driver_sql("SELECT id, name, uuid FROM roots ORDER BY id").all()
        mounts = conn.exec_driver_sql(
            "SELECT root_id, host, path FROM root_mounts ORDER BY root_id"
        ).all()
        assert _frames_of(conn) == before
        assert conn.exec_driver_sql("SELECT count(*) FROM frame_documents").scalar() == 3
    assert [(i, name) for i, name, _ in roots] == [(1, "frames"), (2, "frames-2"), (3, "renders")]
    assert len({uuid for _, _, uuid in roots}) == 3
    assert [tuple(m) for m in mounts] == [
        (1, "ws-1", "/mnt/studio/frames"),
        (2, "ws-1", "/home/ana/frames"),
        (3, "ws-1", "/data/renders"),
    ]
    # Another host maps root 1; root 3 is mapped only elsewhere after a remap.
    with alembic_engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO root_mounts VALUES (1, 'ws-2', '/Volumes/studio/frames'), "
            "(3, 'ws-2', '/Volumes/renders')"
        )
        conn.exec_driver_sql("DELETE FROM root_mounts WHERE root_id = 3 AND host = 'ws-1'")
    alembic_runner.migrate_down_to("0004")
    with alembic_engine.connect() as conn:
        paths = conn.exec_driver_sql("SELECT id, path FROM roots ORDER BY id").all()
        assert _frames_of(conn) == before
        assert "root_mounts" not in set(inspect(conn).get_table_names())
    # This host's path where it has one, else another host's: nothing dropped.
    assert [tuple(p) for p in paths] == [
        (1, "/mnt/studio/frames"),
        (2, "/home/ana/frames"),
        (3, "/Volumes/renders"),
    ]


def test_0005_refuses_to_run_on_sqlite_with_foreign_keys_enforced(tmp_path):
    """The batch rebuild of roots would cascade to every frame: the script must refuse."""
    from alembic import command

    engine = make_engine(tmp_path / "c.db")  # kino-catalog's hooks: foreign_keys=ON
    try:
        with engine.connect() as conn:
            config = _alembic_on(conn)
            command.upgrade(config, "0004")
            conn.commit()
            with pytest.raises(RuntimeError, match="foreign_keys=OFF"):
                command.upgrade(config, "0005")
    finally:
        engine.dispose()


def test_an_old_sqlite_catalogue_opens_with_its_frames_and_paths(tmp_path, library, monkeypatch):
    """Catalog.open upgrades through 0005 with foreign keys off and keeps every frame."""
    monkeypatch.setenv("KINO_CATALOG_HOST", "ws-1")
    for i in range(3):
        library.frame(1, i)
    path = tmp_path / "c.db"
    with Catalog.open(path) as cat:
        cat.sync(library.root)
    # Back to an old catalogue, as 0004 left it (a plain engine, as the alembic
    # CLI would use: foreign keys off, SQLite's default).
    from alembic import command

    old = create_engine(to_url(path))
    with old.connect() as conn:
        command.downgrade(_alembic_on(conn), "0004")
        conn.commit()
        assert conn.exec_driver_sql("SELECT count(*) FROM frames").scalar() == 3
    old.dispose()
    with Catalog.open(path) as cat:
        assert cat.roots() == [str(library.root)]
        assert cat.count() == 3
        assert {f.sidecar_path for f in cat.search()} == {
            str(p) for p in (library.root / "frames").glob("*.json")
        }


def test_0009_reads_again_the_sidecars_refused_before_tolerant_typing(tmp_path, library):
    """A frame refused by an older version for one odd value is indexed by the next sync."""
    from alembic import command

    path = tmp_path / "c.db"
    odd = library.frame(1, 1, parameters={"steps": 30.0})
    imported = library.frame(1, 2)
    with Catalog.open(path) as cat:
        cat.sync(library.root)
        assert cat.count() == 2
        with cat.engine.begin() as conn:  # as an older version left it: not a frame...
            root_id, folder = conn.execute(
                text("SELECT root_id, folder FROM frames WHERE name = :n"), {"n": odd.name}
            ).one()
            conn.execute(text("DELETE FROM frames WHERE name = :n"), {"n": odd.name})
    stat = odd.stat()
    engine = create_engine(to_url(path))
    with engine.begin() as conn:  # ... but an error of the file as it is now
        command.downgrade(db_module._alembic_config(conn), "0008")
        conn.execute(
            text(
                "INSERT INTO index_errors (root_id, folder, name, kind, reason, size, "
                "mtime_ns, recorded_at) VALUES (:r, :f, :n, 'error', :why, :s, :m, "
                "'2026-11-30 00:00:00')"
            ),
            [
                {
                    "r": root_id,
                    "f": folder,
                    "n": odd.name,
                    "s": stat.st_size,
                    "m": stat.st_mtime_ns,
                    "why": "parameters.steps must be an integer",
                },
                {
                    "r": root_id,
                    "f": folder,
                    "n": imported.name,
                    "s": 1,
                    "m": 1,
                    "why": "imported metadata could not be read",
                },
            ],
        )
    engine.dispose()
    with Catalog.open(path) as cat:
        assert [e["kind"] for e in cat.errors()] == ["warning"]  # the indexed frame's
        result = cat.sync(library.root)
        assert (result.added, result.errors) == (1, 0)
        assert cat.count() == 2
