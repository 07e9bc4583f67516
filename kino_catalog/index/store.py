"""Bulk writes of frame rows inside one open transaction (the indexer's only writer).

Rows go through the driver on SQLAlchemy's connection (``executemany`` on
SQLite, ``COPY`` on PostgreSQL), not through the ORM or Core ``insert()``
with dicts: for millions of rows that difference is minutes.  The FTS5 table
uses external content, so it is kept in step here: the old text is deleted
before a frame row goes or its prompts change, the new text inserted after.

Every write of a folder's frames or index errors also deletes the folder's
``folder_listings`` row in the same transaction (index.listings):
that row lets a sync skip the folder, and it may only ever attest rows that
have not been written since (index.diff).  This module and bulk_load.py are
the only writers of those tables (tests/index/test_folder_listings.py checks).
"""

from __future__ import annotations

import datetime as dt
from itertools import islice
from typing import TYPE_CHECKING, Any

from sqlalchemy.schema import CreateIndex, DropIndex

from kino_catalog.index.file_rows import (
    FAILURE_COLUMNS,
    FRAME_COLUMNS,
    LORA_COLUMNS,
    PARAMETER_COLUMNS,
    TAG_COLUMNS,
    db_datetime,
)
from kino_catalog.index.listings import (
    forget_listings,
    forget_listings_of_frames,
    forget_root_listings,
    settle_listing,
    settle_loaded_listings,
)
from kino_catalog.schema import (
    frames_table,
    loras_table,
    parameters_table,
    tags_table,
)
from kino_catalog.schema.database import placeholder
from kino_catalog.schema.models import use_postgresql_conditions

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from sqlalchemy import Index, Table
    from sqlalchemy.engine import Connection

    from kino_catalog.index.file_rows import FailedFile, FrameRows

__all__ = ["BULK_CACHE_KIB", "KEPT_INDEXES_CACHE_KIB", "Store", "chunked"]

#: KiB of SQLite page cache for a bulk load that builds its indexes afresh.
#: Small on purpose: SQLite sizes a sort's in-memory runs by the page cache,
#: and an index build that sorts small runs (the helper thread sorting one
#: while the next is read) and merges them beats one big in-memory sort.  At
#: 1M frames the 24 builds took 39 s with 128 MiB, 28 s with 8 MiB, 22 s with
#: 4 MiB (2 MiB no faster); the copy, which appends, did not slow down, and
#: peak RSS fell from 392 to 200 MB (benchmarks/RESULTS.md, stop 27).
BULK_CACHE_KIB = 4096
#: ... and for one that keeps the indexes (a small root beside big ones): its
#: rows go into them at random places, so their pages are worth caching.
KEPT_INDEXES_CACHE_KIB = 131072

# Tables whose secondary indexes a rebuild drops and recreates around its load.
_BULK_TABLES: tuple[Table, ...] = (
    frames_table,
    loras_table,
    parameters_table,
    tags_table,
)
# Column order of the rows Store._insert appends to each table.
_INSERT_COLUMNS: dict[str, tuple[str, ...]] = {
    "frames": ("id", "root_id", *FRAME_COLUMNS),
    "frame_documents": ("frame_id", "raw_json"),
    "loras": ("frame_id", *LORA_COLUMNS),
    "parameters": ("frame_id", *PARAMETER_COLUMNS),
    "tags": ("frame_id", *TAG_COLUMNS),
    "index_errors": ("root_id", *FAILURE_COLUMNS, "recorded_at"),
}
_ID_CHUNK = 500  # ids per IN (...) list: well under every driver's parameter limit
_PROMPT, _NEGATIVE = FRAME_COLUMNS.index("prompt"), FRAME_COLUMNS.index("negative_prompt")
_FOLDER = FRAME_COLUMNS.index("folder")


def _same_value(stored: Any, new: Any) -> bool:
    """Whether a column already holds ``new`` (same type too, so 1 never stands for True)."""
    return (
        type(stored) is type(new)
        and stored == new
        and (type(new) is not float or repr(stored) == repr(new))
    )  # -0.0 is not 0.0


def chunked(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    """Split an iterable into lists of at most ``size`` items."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Store:
    """Writes for one root within the caller's transaction on ``conn``."""

    def __init__(self, conn: Connection, root_id: int) -> None:
        self.conn = conn
        self.root_id = root_id
        self.is_sqlite = conn.dialect.name == "sqlite"
        self._mark = placeholder(conn.dialect)
        # Taken before this transaction deletes anything, so a frame replaced in
        # place (same id) can never collide with a new one.
        self._next_id = (
            conn.exec_driver_sql("SELECT coalesce(max(id), 0) + 1 FROM frames").scalar_one()
            if self.is_sqlite
            else 0
        )
        self._projects: set[int] = set()
        self._insert_sql = {
            table: self._statement(table, columns) for table, columns in _INSERT_COLUMNS.items()
        }

    def _statement(self, table: str, columns: Sequence[str]) -> str:
        if not self.is_sqlite:
            return f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        marks = ", ".join([self._mark] * len(columns))
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"

    def _insert(self, table: str, rows: Sequence[Sequence[Any]]) -> None:
        """Append rows to a table (columns: _INSERT_COLUMNS): executemany, or COPY on PostgreSQL.

        psycopg runs an executemany as one statement per row (parsed, bound
        and executed by the server, each a Python round trip); COPY streams
        the rows in one command, several times faster for a rebuild
        (benchmarks/RESULTS.md, "Figures behind design choices").
        """
        if not rows:
            return
        if self.is_sqlite:
            self.conn.exec_driver_sql(self._insert_sql[table], list(rows))
            return
        driver: Any = self.conn.connection.dbapi_connection  # a psycopg Connection
        with driver.cursor() as cursor, cursor.copy(self._insert_sql[table]) as copy:
            for row in rows:
                copy.write_row(row)

    def _ids_sql(self, template: str, ids: Sequence[int]) -> str:
        return template.format(", ".join([self._mark] * len(ids)))

    # ------------------------------------------------------------ ids
    def reserve_ids(self, count: int) -> list[int]:
        """New frame ids; on SQLite the caller's write lock makes max(id) safe."""
        if count == 0:
            return []
        if not self.is_sqlite:
            rows = self.conn.exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence('frames', 'id')) "
                f"FROM generate_series(1, {int(count)})"
            ).all()
            return [row[0] for row in rows]
        first = self._next_id
        self._next_id += count
        return list(range(first, first + count))

    # ------------------------------------------------------------ frames
    def insert_frames(self, frames: Sequence[tuple[int, FrameRows]]) -> None:
        """Insert frames with the given ids, plus their document, LoRA, parameter and tag rows."""
        if not frames:
            return
        self._forget_listings({rows.frame[_FOLDER] for _, rows in frames})
        self._ensure_projects(rows.project_id for _, rows in frames)
        head = (self.root_id,)
        self._insert("frames", [(frame_id, *head, *rows.frame) for frame_id, rows in frames])
        self._insert("frame_documents", [(frame_id, rows.raw_json) for frame_id, rows in frames])
        self._insert_children(frames)
        if self.is_sqlite:
            # In step with the frames (a bulk load on SQLite goes through
            # staging.copy_staged instead, which fills it after its copy).
            self._insert_full_text(frames)

    def _insert_children(self, frames: Sequence[tuple[int, FrameRows]]) -> None:
        """The LoRA, parameter and tag rows of frames whose frame rows are written."""
        lora_rows: list[tuple[Any, ...]] = []
        param_rows: list[tuple[Any, ...]] = []
        tag_rows: list[tuple[Any, ...]] = []
        for frame_id, rows in frames:
            key = (frame_id,)
            lora_rows.extend(key + lora for lora in rows.loras)
            param_rows.extend(key + param for param in rows.parameters)
            tag_rows.extend((frame_id, tag) for tag in rows.tags)
        self._insert("loras", lora_rows)
        self._insert("parameters", param_rows)
        self._insert("tags", tag_rows)

    def _insert_full_text(self, frames: Sequence[tuple[int, FrameRows]]) -> None:
        self._executemany(
            "INSERT INTO frames_fts (rowid, prompt, negative_prompt) VALUES (?, ?, ?)",
            [(frame_id, rows.frame[_PROMPT], rows.frame[_NEGATIVE]) for frame_id, rows in frames],
        )

    def _delete_full_text(self, ids: Sequence[int]) -> None:
        """Take frames out of FTS5 (external content: it needs their current text)."""
        for chunk in chunked(ids, _ID_CHUNK):
            self.conn.exec_driver_sql(
                self._ids_sql(
                    "INSERT INTO frames_fts (frames_fts, rowid, prompt, negative_prompt) "
                    "SELECT 'delete', id, prompt, negative_prompt FROM frames WHERE id IN ({})",
                    chunk,
                ),
                tuple(chunk),
            )

    def update_frames(self, frames: Sequence[tuple[int, FrameRows]]) -> None:
        """Rewrite frames whose sidecar changed, in place, keeping their ids.

        Only the columns whose values changed are SET, and SQLite leaves alone
        every index that holds none of them; a rewritten sidecar usually
        changes a few values (size, mtime, hash, a parameter).  Deleting and
        re-inserting the row touched all fourteen indexes (about three times
        slower: benchmarks/RESULTS.md, "Figures behind design choices").
        The document and the LoRA, parameter and tag rows are replaced; the
        full-text entry only if a prompt changed.
        """
        if not frames:
            return
        old = self._current_rows([frame_id for frame_id, _ in frames])
        # The folders the rows are in now and (should a row move) were in before.
        self._forget_listings(
            {rows.frame[_FOLDER] for _, rows in frames} | {row[_FOLDER] for row in old.values()}
        )
        gone = [(frame_id, rows) for frame_id, rows in frames if frame_id not in old]
        if gone:  # deleted by another writer since the walk: the file is new again
            self.insert_frames(gone)
            frames = [(frame_id, rows) for frame_id, rows in frames if frame_id in old]
        self._ensure_projects(rows.project_id for _, rows in frames)
        by_columns: dict[tuple[int, ...], list[tuple[Any, ...]]] = {}
        retext: list[tuple[int, FrameRows]] = []
        for frame_id, rows in frames:
            before = old[frame_id]
            changed = tuple(
                i
                for i, (was, now) in enumerate(zip(before, rows.frame, strict=True))
                if not _same_value(was, now)
            )
            if changed:
                by_columns.setdefault(changed, []).append(
                    (*(rows.frame[i] for i in changed), frame_id)
                )
            if _PROMPT in changed or _NEGATIVE in changed:
                retext.append((frame_id, rows))
        ids = [frame_id for frame_id, _ in frames]
        if self.is_sqlite:
            self._delete_full_text([frame_id for frame_id, _ in retext])
        m = self._mark
        for changed, values in by_columns.items():
            assignments = ", ".join(f"{FRAME_COLUMNS[i]} = {m}" for i in changed)
            self._executemany(f"UPDATE frames SET {assignments} WHERE id = {m}", values)
        self._executemany(
            f"UPDATE frame_documents SET raw_json = {m} WHERE frame_id = {m}",
            [(rows.raw_json, frame_id) for frame_id, rows in frames],
        )
        for chunk in chunked(ids, _ID_CHUNK):
            for table in ("loras", "parameters", "tags"):
                self.conn.exec_driver_sql(
                    self._ids_sql(f"DELETE FROM {table} WHERE frame_id IN ({{}})", chunk),
                    tuple(chunk),
                )
        self._insert_children(frames)
        if self.is_sqlite:
            self._insert_full_text(retext)

    def _current_rows(self, ids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
        rows: dict[int, tuple[Any, ...]] = {}
        for chunk in chunked(ids, _ID_CHUNK):
            for row in self.conn.exec_driver_sql(
                self._ids_sql(
                    f"SELECT id, {', '.join(FRAME_COLUMNS)} FROM frames WHERE id IN ({{}})", chunk
                ),
                tuple(chunk),
            ):
                rows[row[0]] = tuple(row[1:])
        return rows

    def delete_frames(self, ids: Iterable[int]) -> int:
        """Delete frames (document, LoRA, parameter and tag rows cascade); returns how many."""
        deleted = 0
        for chunk in chunked(ids, _ID_CHUNK):
            self._forget_listings_of(chunk)
            if self.is_sqlite:
                self._delete_full_text(chunk)
            result = self.conn.exec_driver_sql(
                self._ids_sql("DELETE FROM frames WHERE id IN ({})", chunk), tuple(chunk)
            )
            deleted += result.rowcount
        return deleted

    # ------------------------------------------------------------ bulk loads
    def begin_bulk_load(self) -> list[Index]:
        """Forget this root's rows and, if it holds most frames, drop secondary indexes.

        Everything happens inside the caller's transaction, so readers keep
        the old rows and indexes until it commits, and a rollback restores
        them.  Dropping pays when the load rewrites most of each index; a
        small root beside big ones keeps them (rebuilding every index of a
        million other frames would cost more than maintaining them).
        Returns the dropped indexes for :meth:`end_bulk_load`.
        """
        mine, total = self.conn.exec_driver_sql(  # two index-only counts
            f"SELECT (SELECT count(*) FROM frames WHERE root_id = {self._mark}), "
            "(SELECT count(*) FROM frames)",
            (self.root_id,),
        ).one()
        dropped = (
            [index for table in _BULK_TABLES for index in table.indexes]
            if 2 * mine >= total
            else []
        )
        for index in dropped:
            # IF EXISTS, not checkfirst: reflection cannot see expression indexes.
            self.conn.execute(DropIndex(index, if_exists=True))
        mark = self._mark
        only_root = (
            self.conn.exec_driver_sql(
                f"SELECT count(*) FROM roots WHERE id <> {mark}", (self.root_id,)
            ).scalar()
            == 0
        )
        if self.is_sqlite:
            if only_root:
                self.conn.exec_driver_sql(
                    "INSERT INTO frames_fts (frames_fts) VALUES ('delete-all')"
                )
            else:
                self.conn.exec_driver_sql(
                    "INSERT INTO frames_fts (frames_fts, rowid, prompt, negative_prompt) "
                    "SELECT 'delete', id, prompt, negative_prompt FROM frames "
                    f"WHERE root_id = {mark}",
                    (self.root_id,),
                )
        for table in ("frame_documents", "loras", "parameters", "tags"):
            if only_root:
                self.conn.exec_driver_sql(f"DELETE FROM {table}")
            else:
                self.conn.exec_driver_sql(
                    f"DELETE FROM {table} WHERE frame_id IN "
                    f"(SELECT id FROM frames WHERE root_id = {mark})",
                    (self.root_id,),
                )
        self.conn.exec_driver_sql(f"DELETE FROM frames WHERE root_id = {mark}", (self.root_id,))
        self.conn.exec_driver_sql(
            f"DELETE FROM index_errors WHERE root_id = {mark}", (self.root_id,)
        )
        self.forget_all_listings()
        return dropped

    def end_bulk_load(self, dropped: Sequence[Index]) -> None:
        """Recreate the indexes dropped by :meth:`begin_bulk_load`."""
        if not self.is_sqlite:  # an engine not made by make_engine may not have them yet
            use_postgresql_conditions()
        for index in dropped:
            self.conn.execute(CreateIndex(index, if_not_exists=True))

    def update_images(self, rows: Sequence[tuple[str, bool, int, int]]) -> None:
        """Apply (image_name, image_exists, image_count, id) after images came or went."""
        for chunk in chunked([row[3] for row in rows], _ID_CHUNK):
            self._forget_listings_of(chunk)
        m = self._mark
        self._executemany(
            f"UPDATE frames SET image_name = {m}, image_exists = {m}, image_count = {m} "
            f"WHERE id = {m}",
            rows,
        )

    def _ensure_projects(self, project_ids: Iterable[int | None]) -> None:
        new = {pid for pid in project_ids if pid is not None} - self._projects
        if not new:
            return
        self._projects |= new
        sql = f"INSERT INTO projects (id) VALUES ({self._mark}) ON CONFLICT DO NOTHING"
        self._executemany(sql, [(pid,) for pid in sorted(new)])

    # ------------------------------------------------------------ failures
    def record_failures(self, failures: Sequence[FailedFile]) -> None:
        """Record (or replace) files that could not be indexed."""
        if not failures:
            return
        self.forget_failures([(f.folder, f.name) for f in failures])
        now = db_datetime(dt.datetime.now().replace(microsecond=0))
        self._insert("index_errors", [(self.root_id, *f.row(), now) for f in failures])

    def forget_failures(self, keys: Sequence[tuple[str, str]]) -> None:
        """Drop failure records for (folder, name) keys that are fixed or gone."""
        self._forget_listings({folder for folder, _ in keys})
        m = self._mark
        self._executemany(
            f"DELETE FROM index_errors WHERE root_id = {m} AND folder = {m} AND name = {m}",
            [(self.root_id, folder, name) for folder, name in keys],
        )

    # ------------------------------------------------------------ folder listings
    def settle_listing(self, folder: str, digest: bytes, unchanged: int) -> None:
        """Record that ``folder``'s rows are exactly what a listing with ``digest`` calls for.

        Only a whole-root sync's comparison that found nothing to change in
        the folder may call this (index.diff); ``unchanged`` is what it counted.
        """
        settle_listing(self.conn, self.root_id, folder, digest, unchanged)

    def settle_loaded_listings(self, digests: Mapping[str, bytes]) -> None:
        """Store the listings a bulk load's walk took (see listings.settle_loaded_listings)."""
        settle_loaded_listings(self.conn, self.root_id, digests)

    def forget_all_listings(self) -> None:
        """Drop every folder listing of this root (a bulk load replaces all its rows)."""
        forget_root_listings(self.conn, self.root_id)

    def _forget_listings(self, folders: Iterable[str]) -> None:
        """Drop the listings of ``folders``, whose rows this transaction writes."""
        forget_listings(self.conn, self.root_id, folders)

    def _forget_listings_of(self, ids: Sequence[int]) -> None:
        """Drop the listings of the folders holding frames ``ids`` (before their rows change)."""
        forget_listings_of_frames(self.conn, ids)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.conn.exec_driver_sql(sql, list(rows))
