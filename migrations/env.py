"""Alembic environment: runs on a connection from kino_catalog.schema.database, or on a URL."""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, Engine, create_engine

from kino_catalog.schema import metadata
from kino_catalog.schema.models import use_postgresql_conditions

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Objects that exist only in the migrations (dialect-specific full-text
# index): `alembic check` must not ask to drop them.
MIGRATION_ONLY_PREFIXES = ("frames_fts", "ix_frames_fts")


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    return not (name or "").startswith(MIGRATION_ONLY_PREFIXES)


def _url() -> str:
    from kino_catalog.schema.database import to_url

    target = os.environ.get("KINO_CATALOG_DB")
    return to_url(target) if target else config.get_main_option("sqlalchemy.url") or ""


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    if connection.dialect.name == "postgresql":  # an engine not made by make_engine
        use_postgresql_conditions()
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite ALTER TABLE goes through batch mode
        include_object=include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connectable = config.attributes.get("connection")
if isinstance(connectable, Connection):
    _run(connectable)
elif isinstance(connectable, Engine):  # pytest-alembic hands in an engine
    with connectable.connect() as conn:
        _run(conn)
else:
    engine = create_engine(_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
