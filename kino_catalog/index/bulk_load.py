"""Bulk loads on SQLite: readers stage rows in private files, the writer copies them in C.

Shipping row tuples from reader processes to one writer (pickle, unpickle,
one ``executemany`` per table) kept the writer busier than the readers.
Instead each reader process inserts its rows into a staging file of its own
(SQLite, no indexes, no journal: throwaway), and once reading is done the
writer attaches the files and copies every table with ``INSERT ... SELECT``
(in slices of COPY_FRAMES frames).  The copy numbers the frames by generation
time, so a rebuilt catalogue's frame ids follow time order: newest-first
full-text plans walk FTS5 rowids backwards and find the newest matches first.

Layout of a staging file: the catalogue's own columns (``rows.py``; a frame's
``raw_json`` beside its columns), keyed by ``sid`` (the reader's running
number), with LoRA, parameter and tag rows
clustered by ``sid`` so the copy reads them in the order it writes them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sqlite3
import tempfile
from typing import TYPE_CHECKING, Any

from kino_catalog.index.file_rows import (
    FAILURE_COLUMNS,
    FRAME_COLUMNS,
    LORA_COLUMNS,
    PARAMETER_COLUMNS,
    FailedFile,
    FrameRows,
    db_datetime,
    read_frames,
)
from kino_catalog.schema.database import PAGE_SIZE

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from sqlalchemy.engine import Connection

    from kino_catalog.index.walk import FileStat

__all__ = ["StagedCounts", "copy_staged", "detach_staged", "stage_chunk", "staging_directory"]

_SCHEMA = (
    f"CREATE TABLE frames (sid INTEGER PRIMARY KEY, {', '.join(FRAME_COLUMNS)}, raw_json)",
    f"CREATE TABLE loras (sid INTEGER, {', '.join(LORA_COLUMNS)}, "
    "PRIMARY KEY (sid, role, position)) WITHOUT ROWID",
    f"CREATE TABLE parameters (sid INTEGER, {', '.join(PARAMETER_COLUMNS)}, "
    "PRIMARY KEY (sid, key)) WITHOUT ROWID",
    "CREATE TABLE tags (sid INTEGER, tag, PRIMARY KEY (sid, tag)) WITHOUT ROWID",
    f"CREATE TABLE failures ({', '.join(FAILURE_COLUMNS)})",
)

COPY_FRAMES = 20_000  # frames per copy statement (bounds SQLite's statement journal)
FTS_BULK_HASHSIZE = 32 << 20  # bytes of pending terms per FTS5 segment in a bulk load
_FTS_DEFAULT_HASHSIZE = 1 << 20  # FTS5's own default
_FTS_HASHSIZE = "INSERT INTO frames_fts (frames_fts, rank) VALUES ('hashsize', ?)"
_SCHEMA_PREFIX = "kino_stage"  # attached staging files are kino_stage0, kino_stage1...
StagedCounts = tuple[int, int]  # (frames staged, failures staged) of one chunk


def _insert(table: str, width: int) -> str:
    return f"INSERT INTO {table} VALUES ({', '.join(['?'] * width)})"


class _StageFile:
    """One process's staging file; every chunk is committed on its own."""

    def __init__(self, path: str) -> None:
        self.pid = os.getpid()
        self.next_sid = 1
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # as the catalogue: the copy reads it all
        self.db.execute("PRAGMA journal_mode=OFF")  # a crash loses only throwaway data
        self.db.execute("PRAGMA synchronous=OFF")
        for statement in _SCHEMA:
            self.db.execute(statement)

    def add(self, outcomes: Sequence[FrameRows | FailedFile | None]) -> StagedCounts:
        frames: list[tuple[Any, ...]] = []
        loras: list[tuple[Any, ...]] = []
        params: list[tuple[Any, ...]] = []
        tags: list[tuple[int, str]] = []
        failures: list[tuple[Any, ...]] = []
        sid = self.next_sid
        for outcome in outcomes:
            if type(outcome) is FrameRows:
                frames.append((sid, *outcome.frame, outcome.raw_json))
                # Most frames have no tags and few LoRAs or parameters: no
                # generator is started for an empty list.
                if outcome.loras:
                    loras += [(sid, *lora) for lora in outcome.loras]
                if outcome.parameters:
                    params += [(sid, *param) for param in outcome.parameters]
                if outcome.tags:
                    tags += [(sid, tag) for tag in outcome.tags]
                failure = outcome.failure()
                if failure is not None:
                    failures.append(failure.row())
                sid += 1
            elif isinstance(outcome, FailedFile):
                failures.append(outcome.row())
        self.next_sid = sid
        db = self.db
        db.execute("BEGIN")
        db.executemany(_insert("frames", 2 + len(FRAME_COLUMNS)), frames)
        db.executemany(_insert("loras", 1 + len(LORA_COLUMNS)), loras)
        db.executemany(_insert("parameters", 1 + len(PARAMETER_COLUMNS)), params)
        db.executemany(_insert("tags", 2), tags)
        db.executemany(_insert("failures", len(FAILURE_COLUMNS)), failures)
        db.execute("COMMIT")
        return len(frames), len(failures)


_open_stages: dict[str, _StageFile] = {}  # this process's staging file per directory


def stage_chunk(
    directory: str, root: str, tasks: Sequence[tuple[str, FileStat, Any, Any, Any]]
) -> StagedCounts:
    """Read a chunk of files and stage their rows in this process's file (a reader's job)."""
    stage = _open_stages.get(directory)
    if stage is None or stage.pid != os.getpid():  # a forked reader: its own file
        stage = _open_stages[directory] = _StageFile(
            os.path.join(directory, f"stage-{os.getpid()}.db")
        )
    return stage.add(read_frames(root, tasks))


@contextlib.contextmanager
def staging_directory(catalogue: str | None) -> Iterator[str]:
    """A private folder for staging files, beside the catalogue (same disk), removed after.

    Call it while holding the catalogue's write lock: leftovers of this
    catalogue's earlier bulk loads (a killed process cannot clean up) are
    then certainly stale, and are removed first.
    """
    parent, prefix = None, ".kino-catalog-staging-"
    if catalogue and catalogue != ":memory:":
        parent = os.path.dirname(os.path.abspath(catalogue))
        prefix = f".{os.path.basename(catalogue)}.staging-"
        for name in os.listdir(parent):
            if name.startswith(prefix):
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
    directory = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        yield directory
    finally:
        stage = _open_stages.pop(directory, None)
        if stage is not None and stage.pid == os.getpid():
            stage.db.close()
        shutil.rmtree(directory, ignore_errors=True)


def copy_staged(conn: Connection, directory: str, root_id: int) -> int:
    """Copy every staging file in ``directory`` into the catalogue; returns the frame count.

    Runs inside the caller's write transaction, after this root's old rows
    and its folder listings are gone (Store.begin_bulk_load); the caller
    calls :func:`detach_staged` once that transaction has ended (SQLite
    cannot detach inside one).  New frame ids start above
    every id in use and follow (generated_at, folder, name).  The full-text
    rows are added afterwards in id order, the order FTS5 builds fastest.
    """
    names = sorted(name for name in os.listdir(directory) if name.endswith(".db"))
    schemas = [f"{_SCHEMA_PREFIX}{i}" for i in range(len(names))]
    dbapi: Any = conn.connection.dbapi_connection
    for schema, name in zip(schemas, names, strict=True):
        dbapi.execute(f"ATTACH DATABASE ? AS {schema}", (os.path.join(directory, name),))
    return _copy(dbapi, schemas, root_id) if schemas else 0


def detach_staged(conn: Connection) -> None:
    """Detach staging files from a pooled connection (outside any transaction)."""
    dbapi: Any = conn.connection.dbapi_connection
    for _, schema, _ in dbapi.execute("PRAGMA database_list").fetchall():
        if schema.startswith(_SCHEMA_PREFIX):
            dbapi.execute(f"DETACH DATABASE {schema}")


def _copy(db: Any, schemas: list[str], root_id: int) -> int:
    def each(template: str, *, is_ordered: bool = False) -> str:
        arms = " UNION ALL ".join(template.format(s=s, i=i) for i, s in enumerate(schemas))
        return arms + (" ORDER BY 1" if is_ordered else "")

    first_id = db.execute("SELECT coalesce(max(id), 0) + 1 FROM frames").fetchone()[0]
    db.execute("CREATE TEMP TABLE stage_order (id INTEGER PRIMARY KEY, stage INTEGER, sid INTEGER)")
    try:
        # The new ids themselves (a placeholder row starts the numbering), so
        # that the copies below can ORDER BY a plain rowid and need no sort.
        db.execute("INSERT INTO stage_order VALUES (?, -1, -1)", (first_id - 1,))
        db.execute(
            "INSERT INTO stage_order (stage, sid) SELECT stage, sid FROM ("
            + each("SELECT {i} AS stage, sid, generated_at, folder, name FROM {s}.frames")
            + ") ORDER BY generated_at, folder, name"
        )
        db.execute("DELETE FROM stage_order WHERE stage = -1")
        db.execute(
            "INSERT INTO projects (id) SELECT project_id FROM ("
            + each("SELECT project_id FROM {s}.frames WHERE project_id IS NOT NULL")
            + ") WHERE true ON CONFLICT DO NOTHING"
        )
        # Each arm walks stage_order in id order (CROSS JOIN fixes the loop
        # order) and looks its rows up by sid; ORDER BY 1 merges the arms, so
        # every table is written in frame-id order, appending to its b-trees.
        # One statement per COPY_FRAMES ids: a statement that rewrites pages
        # this transaction already changed (a rebuild deleted the old rows)
        # keeps their old content in a statement journal, in memory.
        count: int = db.execute("SELECT count(*) FROM stage_order").fetchone()[0]
        frame_columns = ", ".join(FRAME_COLUMNS)
        copies = [
            (
                f"INSERT INTO frames (id, root_id, {frame_columns}) "
                + each(
                    f"SELECT o.id, {root_id}, {_prefixed('x', FRAME_COLUMNS)} "
                    "FROM stage_order o CROSS JOIN {s}.frames x ON x.sid = o.sid "
                    "WHERE o.stage = {i} AND o.id BETWEEN :low AND :high",
                    is_ordered=True,
                )
            )
        ]
        for table, staged, columns in (
            ("frame_documents", "frames", ("raw_json",)),
            ("loras", "loras", LORA_COLUMNS),
            ("parameters", "parameters", PARAMETER_COLUMNS),
            ("tags", "tags", ("tag",)),
        ):
            copies.append(
                f"INSERT INTO {table} (frame_id, {', '.join(columns)}) "
                + each(
                    f"SELECT o.id, {_prefixed('x', columns)} "
                    f"FROM stage_order o CROSS JOIN {{s}}.{staged} x ON x.sid = o.sid "
                    "WHERE o.stage = {i} AND o.id BETWEEN :low AND :high",
                    is_ordered=True,
                )
            )
        for sql in copies:
            for low in range(first_id, first_id + count, COPY_FRAMES):
                db.execute(sql, {"low": low, "high": low + COPY_FRAMES - 1})
        _fill_full_text(db, first_id)
        now = db_datetime(dt.datetime.now().replace(microsecond=0))
        db.execute(
            f"INSERT INTO index_errors (root_id, {', '.join(FAILURE_COLUMNS)}, recorded_at) "
            + each(f"SELECT {root_id}, {', '.join(FAILURE_COLUMNS)}, ? FROM {{s}}.failures"),
            (now,) * len(schemas),
        )
    finally:
        db.execute("DROP TABLE temp.stage_order")
    return count


def _fill_full_text(db: Any, first_id: int) -> None:
    """Index the new frames' prompts in FTS5, in id order (the order it builds fastest).

    FTS5 writes a segment each time its buffer of pending terms ('hashsize',
    1 MiB by default) fills, and merges segments as they pile up.  One
    statement with a 32 MiB buffer was the fastest of the three variants
    measured (benchmarks/RESULTS.md, "Figures behind design choices").
    The buffer size is a setting stored in the index, so it is set inside
    the transaction and restored.  What a rebuild overwrites goes to the
    statement journal, a temp file during bulk loads (Writer), not memory.
    """
    db.execute(_FTS_HASHSIZE, (FTS_BULK_HASHSIZE,))
    db.execute(
        "INSERT INTO frames_fts (rowid, prompt, negative_prompt) "
        "SELECT id, prompt, negative_prompt FROM frames WHERE id >= ? ORDER BY id",
        (first_id,),
    )
    db.execute(_FTS_HASHSIZE, (_FTS_DEFAULT_HASHSIZE,))


def _prefixed(alias: str, columns: Sequence[str]) -> str:
    return ", ".join(f"{alias}.{column}" for column in columns)
