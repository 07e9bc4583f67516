"""The schema is owned by Alembic: one head, up and down, models == migrations, both dialects."""

from __future__ import annotations

import pytest
from pytest_alembic import tests as alembic_tests
from pytest_alembic.config import Config
from sqlalchemy import create_engine, inspect

from kino_catalog import Catalog, CatalogError
from kino_catalog.db import make_engine, migrations_dir, to_url


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


def test_upgrade_from_base_to_head(alembic_runner):
    alembic_tests.test_upgrade(alembic_runner)


def test_models_match_migrations(alembic_runner):
    alembic_tests.test_model_definitions_match_ddl(alembic_runner)


def test_every_migration_goes_up_and_down(alembic_runner):
    alembic_tests.test_up_down_consistency(alembic_runner)


def test_open_creates_the_full_text_index(tmp_path):
    with Catalog.open(tmp_path / "c.db") as cat:
        tables = set(inspect(cat.engine).get_table_names())
    assert {"projects", "frames", "parameters", "loras", "roots", "index_errors",
            "frames_fts"} <= tables


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
