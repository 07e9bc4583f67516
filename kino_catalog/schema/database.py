"""Engines, per-connection pragmas, and bringing a catalogue to the newest schema.

SQLite is opened in WAL mode with a long busy timeout, so readers never see
"database is locked" while a writer works and writers queue instead of
failing.  Writers take the write lock at BEGIN (``BEGIN IMMEDIATE``) so two
writers cannot deadlock upgrading read transactions.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import make_url

from kino_catalog.errors import CatalogError, CatalogMissingError
from kino_catalog.schema.models import use_postgresql_conditions

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Connection, Dialect, Engine

__all__ = [
    "ADVISORY_LOCK_SPACE",
    "HEAD_REVISION",
    "PAGE_SIZE",
    "WRITE",
    "bulk_sorting",
    "default_database",
    "foreign_keys_unenforced",
    "make_engine",
    "migrate_to_head",
    "migrations_dir",
    "placeholder",
    "shown_target",
    "sqlite_file",
    "temp_files",
    "to_url",
]

#: The newest schema revision in migrations/versions (tests/schema/test_migrations.py
#: checks it against Alembic's head): a catalogue at it opens without loading Alembic.
HEAD_REVISION = "0011"
#: Execution options for a connection that will write (BEGIN IMMEDIATE on SQLite).
WRITE = {"kino_write": True}
BUSY_TIMEOUT_SECONDS = 60.0
CACHE_KIB = 65536  # SQLite page cache of every connection (64 MiB)
WAL_SIZE_LIMIT = 64 << 20  # bytes of write-ahead log kept on disk after a checkpoint
#: Bytes per page of a new SQLite catalogue (SQLite's default is 4096).  A bulk
#: load reads every table back through the write-ahead log, one frame per page,
#: once per index it builds: at a million frames 16 KiB pages cut a rebuild's
#: copy, index and commit phases from ~92 to ~72 s, while first-50 queries
#: stayed within noise of 4 KiB (32 KiB made LoRA searches ~30% slower).
#: benchmarks/RESULTS.md, "Stop 24".  Existing catalogues keep their size:
#: SQLite fixes it when the file is created (in WAL mode even VACUUM cannot
#: change it).
PAGE_SIZE = 16384


def placeholder(dialect: Dialect) -> str:
    """The positional parameter mark for raw driver SQL: ``?`` (sqlite3) or ``%s`` (psycopg)."""
    return "?" if dialect.paramstyle == "qmark" else "%s"


def default_database() -> Path:
    """The catalogue used when neither --db nor KINO_CATALOG_DB is given."""
    import platformdirs  # only when no --db is given: start-up (issue 15)

    return Path(platformdirs.user_data_dir("kino-catalog")) / "catalog.db"


def to_url(target: str | os.PathLike[str]) -> str:
    """A SQLAlchemy URL for a path (SQLite) or a URL; ``postgresql://`` uses psycopg 3."""
    text = os.fspath(target)
    if "://" not in text:
        return "sqlite:///" + str(Path(text).expanduser().resolve())
    url = make_url(text)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


class HintingSQLiteCompiler(SQLiteCompiler):
    """SQLite's compiler, rendering ``Select.with_hint(table, text, "sqlite")`` after the table."""

    def get_from_hint_text(self, table: Any, text: str | None) -> str | None:
        return text


def shown_target(target: str | os.PathLike[str]) -> str:
    """A catalogue path or URL as messages show it: a URL's password hidden."""
    text = os.fspath(target)
    return make_url(text).render_as_string(hide_password=True) if "://" in text else text


def sqlite_file(target: str | os.PathLike[str]) -> Path | None:
    """The file of a SQLite catalogue path or URL; None for other databases (and memory)."""
    url = make_url(to_url(target))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def make_engine(target: str | os.PathLike[str]) -> Engine:
    """Create an engine for a catalogue path or URL with the pragmas it needs.

    Raises:
        CatalogError: the URL is malformed or its driver is not installed.
    """
    url = to_url(target)
    try:
        if url.startswith("sqlite"):
            database = make_url(url).database
            if database:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})
            # Index hints (``INDEXED BY``, ``NOT INDEXED``): query.plan chooses the
            # access path per query from the terms' sizes, which SQLite cannot see.
            engine.dialect.statement_compiler = HintingSQLiteCompiler
            _install_sqlite_hooks(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True)
            use_postgresql_conditions()  # PostgreSQL's dialect is loaded now anyway
    except ImportError as exc:  # the driver is an optional extra
        shown = make_url(url).render_as_string(hide_password=True)
        if url.startswith("postgresql"):
            raise CatalogError(
                f"cannot open catalogue {shown}: PostgreSQL needs its driver "
                f"({exc}): pip install 'kino-catalog[postgres]'"
            ) from exc
        raise CatalogError(f"cannot open catalogue {shown}: {exc}") from exc
    except ValueError as exc:  # unknown dialect
        raise CatalogError(f"cannot open catalogue {target}: {exc}") from exc
    return engine


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transactions into our own hands (see the "begin" hook): the
        # driver's implicit BEGIN would be DEFERRED and would not cover DDL.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Before journal_mode: switching a new, empty file to WAL writes its
        # header, and with it the page size.  On an existing file: no effect.
        cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL, much faster
        # A rebuild grows the write-ahead log to about the catalogue's size;
        # while another process (a `watch`) keeps a connection open, SQLite
        # would keep that file at full size. Cut it back once it is reused.
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        is_write = conn.get_execution_options().get("kino_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if is_write else "BEGIN")


def migrations_dir() -> Path:
    """The Alembic scripts: inside the installed package, or the checkout's migrations/."""
    here = Path(__file__).resolve().parent.parent  # the kino_catalog package
    for candidate in (here / "_migrations", here.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise CatalogError("the schema migrations are missing from this installation")


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["connection"] = connection
    config.attributes["configure_logger"] = False
    return config


#: The first key of every PostgreSQL advisory lock kino-catalog takes ("kino");
#: the second is 0 for the schema, -1 for the root registry, a root's id for its writer.
ADVISORY_LOCK_SPACE = 0x6B696E6F
#: pg_advisory_xact_lock(*MIGRATION_LOCK): one process at a time upgrades a catalogue.
MIGRATION_LOCK = (ADVISORY_LOCK_SPACE, 0)


def migrate_to_head(engine: Engine, *, create: bool = True) -> None:
    """Create the catalogue or upgrade it to the newest schema; refuse a newer one.

    ``create=False`` (commands that only read) refuses a database without the
    schema instead of creating it there: a mistyped PostgreSQL URL or an
    empty database is then one clear line, and the database stays untouched.

    Safe when several processes (several workstations) open one new or old
    catalogue at once: the revision is read first without any lock (the
    common case: already current); otherwise PostgreSQL takes a
    transaction-level advisory lock and SQLite its write lock (BEGIN
    IMMEDIATE), and the revision is read again, so whoever waited finds the
    schema current instead of creating the same tables a second time.

    The common case costs one SELECT: a catalogue at HEAD_REVISION is
    current without loading Alembic and reading its scripts (~0.2 s of every
    command's start-up; issue 15).

    Raises:
        CatalogError: the database was made by a newer kino-catalog, or is
            not a catalogue at all.
        CatalogMissingError: ``create`` is False and the database has no schema.
    """
    if _is_at_head(engine):
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    with engine.connect() as conn:
        heads = set(ScriptDirectory.from_config(_alembic_config(conn)).get_heads())
        current = _current_heads(conn)
        conn.rollback()
    if current == heads:
        return
    if not current and not create:
        target = engine.url.render_as_string(hide_password=True)
        raise CatalogMissingError(target, "no catalogue (no kino-catalog schema)")
    with engine.connect().execution_options(**WRITE) as conn:
        config = _alembic_config(conn)
        script = ScriptDirectory.from_config(config)
        # SQLite takes the pragmas only outside a transaction (see temp_files).
        with temp_files(conn), foreign_keys_unenforced(conn), conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s, %s)", MIGRATION_LOCK)
            current = _current_heads(conn)
            if current == heads:
                return
            unknown = [rev for rev in current if not _is_known(script, rev)]
            if unknown:
                raise CatalogError(
                    f"the catalogue {engine.url.render_as_string()} has schema revision "
                    f"{', '.join(unknown)}, newer than this kino-catalog knows: upgrade "
                    "kino-catalog (or use another --db)"
                )
            command.upgrade(config, "head")
            if conn.dialect.name == "sqlite":
                _check_foreign_keys(conn)


def _is_at_head(engine: Engine) -> bool:
    """Whether the catalogue's recorded revision is HEAD_REVISION (read with plain SQL)."""
    from sqlalchemy.exc import DBAPIError

    with engine.connect() as conn:
        try:
            revisions = set(
                conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
            )
        except DBAPIError:  # no such table: a new (or foreign) database; Alembic decides
            return False
        finally:
            conn.rollback()
    return revisions == {HEAD_REVISION}


def _current_heads(conn: Connection) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    return set(MigrationContext.configure(conn).get_current_heads())


@contextlib.contextmanager
def foreign_keys_unenforced(conn: Connection) -> Iterator[None]:
    """SQLite: foreign keys unenforced for the duration (no-op elsewhere).

    For writes whose references hold by construction.  A migration in batch
    mode rebuilds a table by copying it and dropping the old one; with
    foreign keys on, that DROP would cascade to every row referencing it
    (0005 rebuilds ``roots``: every frame), and _check_foreign_keys then
    proves the migration left no dangling reference.  A bulk load deletes
    the old rows of every child table itself and numbers the new frames
    itself; enforcement would look up the frame of each document, LoRA and
    parameter row (0.9 of the 3 CPU seconds of a 100k copy).  SQLite takes
    the pragma only outside a transaction, so enter this before BEGIN.
    """
    with _sqlite_pragma(conn, "foreign_keys=OFF", "foreign_keys=ON"):
        yield


def _check_foreign_keys(conn: Connection) -> None:
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchmany(5)
    if broken:
        raise CatalogError(f"the schema upgrade left dangling references: {broken}")


@contextlib.contextmanager
def temp_files(conn: Connection) -> Iterator[None]:
    """SQLite's temporary data in files, not memory, for the duration (no-op elsewhere).

    For work whose sorts and statement journals grow with its size: a bulk
    load, or a migration that rewrites a whole table (0004's DROP COLUMN kept
    each changed page's old content in an in-memory statement journal; see
    benchmarks/RESULTS.md, "Figures behind design choices").  SQLite takes
    the pragma only outside a transaction, so enter this before BEGIN.
    """
    with _sqlite_pragma(conn, "temp_store=FILE", "temp_store=MEMORY"):
        yield


@contextlib.contextmanager
def bulk_sorting(conn: Connection, cache_kib: int) -> Iterator[None]:
    """A page cache of ``cache_kib`` and a sorter helper thread for the duration (SQLite only).

    For a bulk load.  SQLite sizes a sort's in-memory runs by the page cache,
    and with ``PRAGMA threads`` a helper thread sorts one run while the next
    is read; a load that builds its indexes afresh sorts fastest in small runs
    (see index.store.BULK_CACHE_KIB), one that writes into kept indexes wants
    their pages cached instead.
    """
    with (
        _sqlite_pragma(conn, f"cache_size=-{cache_kib}", f"cache_size=-{CACHE_KIB}"),
        _sqlite_pragma(conn, "threads=2", "threads=0"),
    ):
        yield


@contextlib.contextmanager
def _sqlite_pragma(conn: Connection, setting: str, restore: str) -> Iterator[None]:
    """``PRAGMA setting`` for the duration, then ``PRAGMA restore`` (SQLite only).

    ``restore`` is what _install_sqlite_hooks sets on every connection.
    """
    dbapi: Any = conn.connection.dbapi_connection
    is_sqlite = conn.dialect.name == "sqlite"
    if is_sqlite:
        dbapi.execute(f"PRAGMA {setting}")
    try:
        yield
    finally:
        if is_sqlite:
            dbapi.execute(f"PRAGMA {restore}")


def _is_known(script: Any, revision: str) -> bool:
    from alembic.util import CommandError

    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False
