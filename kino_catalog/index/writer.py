"""The writer of a sync: applies readers' results to the catalogue in transactions.

A sync commits every BATCH_FILES files, so searches and the watcher see its
progress; a bulk load (a rebuild, a root's first sync) stays in one
transaction, rebuilds the indexes it dropped before committing, and keeps a
progress display alive through its long statements (keep_alive).  Before
every commit it checks that the root's write lock is still held (locks.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from typing import TYPE_CHECKING, Any

from kino_catalog.index.bulk_load import detach_staged
from kino_catalog.index.file_rows import FRAME_COLUMNS, FailedFile, FrameRows, db_datetime
from kino_catalog.index.store import BULK_CACHE_KIB, KEPT_INDEXES_CACHE_KIB, Store
from kino_catalog.schema.database import (
    WRITE,
    bulk_sorting,
    foreign_keys_unenforced,
    placeholder,
    temp_files,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy.engine import Engine

    from kino_catalog.index.result import SyncResult, Task

__all__ = ["BATCH_FILES", "Writer"]

log = logging.getLogger(__name__)

BATCH_FILES = 2000  # files per sync transaction: short enough for the watcher
SLOW_COMMIT_SECONDS = 0.5  # a commit that long gets an INFO line (else DEBUG)
KEEP_ALIVE_SECONDS = 0.2  # progress calls during a bulk load's long statements...
KEEP_ALIVE_OPS = 100_000  # ...checked every this many SQLite VM steps


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


class Writer:
    """Applies read results; commits every BATCH_FILES files unless in one transaction."""

    def __init__(
        self,
        engine: Engine,
        root_id: int,
        result: SyncResult,
        *,
        single_transaction: bool,
        host: str | None = None,
        check_lock: Callable[[], None] = lambda: None,
    ) -> None:
        self.conn = engine.connect().execution_options(**WRITE)
        # Raises if the root's write lock is gone: called before every commit.
        self.check_lock = check_lock
        self.root_id = root_id
        self.host = host  # recorded as the root's synced_by
        self.result = result
        self.single = single_transaction
        self.pending = 0
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.interrupted: BaseException | None = None
        self._settings = contextlib.ExitStack()  # undone in close()
        self._loaded_listings: dict[str, bytes] = {}  # a bulk load's, stored at its commit
        if single_transaction:  # a bulk load's sorts and journals grow with the load
            self._settings.enter_context(temp_files(self.conn))
            # It deletes the old child rows itself and writes only consistent ones.
            self._settings.enter_context(foreign_keys_unenforced(self.conn))
        self.store = self._begin()

    def begin_bulk_load(self) -> list[Any]:
        """Start a bulk load (Store.begin_bulk_load); returns the dropped indexes for close().

        The connection sorts with the page cache that suits the load, until
        close() (see database.bulk_sorting).
        """
        dropped = self.store.begin_bulk_load()
        cache_kib = BULK_CACHE_KIB if dropped else KEPT_INDEXES_CACHE_KIB
        self._settings.enter_context(bulk_sorting(self.conn, cache_kib))
        return dropped

    def keep_alive(self, beat: Callable[[], None]) -> None:
        """Call ``beat`` every ~0.2 s while long SQLite statements run (a bulk load's tail).

        Keeps a progress display (and its clock) alive during minutes of
        copying and index building that report nothing else.
        """
        if not self.is_sqlite:
            return
        last = time.monotonic()

        def handler() -> int:
            nonlocal last
            if time.monotonic() - last >= KEEP_ALIVE_SECONDS:
                last = time.monotonic()
                try:
                    beat()
                except BaseException as exc:  # Ctrl-C, a watcher stopping: see reraising()
                    self.interrupted = exc
                    return 1  # SQLite aborts the statement ("interrupted")
            return 0  # go on

        self._dbapi().set_progress_handler(handler, KEEP_ALIVE_OPS)

    @contextlib.contextmanager
    def reraising(self) -> Iterator[None]:
        """Raise what interrupted a statement from keep_alive's callback, not "interrupted"."""
        try:
            yield
        except Exception:
            if self.interrupted is not None:
                raise self.interrupted from None
            raise

    def _dbapi(self) -> Any:
        return self.conn.connection.dbapi_connection

    def _begin(self) -> Store:
        self.conn.begin()
        return Store(self.conn, self.root_id)

    def _maybe_commit(self, files: int) -> None:
        self.pending += files
        if not self.single and self.pending >= BATCH_FILES:
            self.check_lock()
            self.conn.commit()
            self.pending = 0
            self.store = self._begin()

    def apply(self, tasks: list[Task], outcomes: list[FrameRows | FailedFile | None]) -> None:
        store, result = self.store, self.result
        new_frames: list[FrameRows] = []
        replaced: list[tuple[int, FrameRows]] = []
        failures: list[FailedFile] = []
        forget: list[tuple[str, str]] = []
        gone: list[int] = []
        for (folder, stat, frame_id, has_failure, _), outcome in zip(tasks, outcomes, strict=True):
            if isinstance(outcome, FrameRows):
                if frame_id is None:
                    new_frames.append(outcome)
                    result.added += 1
                else:
                    replaced.append((frame_id, outcome))
                    result.updated += 1
                failure = outcome.failure()
                if failure is not None:  # a frame with warnings: listed, still indexed
                    failures.append(failure)
                elif has_failure:
                    forget.append((folder, stat.name))
            elif isinstance(outcome, FailedFile):
                failures.append(outcome)
                if frame_id is not None:
                    gone.append(frame_id)
            else:  # vanished between the walk and the read
                if frame_id is not None:
                    gone.append(frame_id)
                if has_failure:
                    forget.append((folder, stat.name))
        result.removed += store.delete_frames(gone)
        store.update_frames(replaced)
        # New ids in generation-time order, as a rebuild numbers them: the
        # newest-first full-text plan walks ids backwards.
        new_frames.sort(key=_time_order)
        store.insert_frames(list(zip(store.reserve_ids(len(new_frames)), new_frames, strict=True)))
        store.forget_failures(forget)
        store.record_failures(failures)
        self._maybe_commit(len(tasks))

    def remove(self, frame_ids: list[int], failure_keys: list[tuple[str, str]]) -> None:
        self.result.removed += self.store.delete_frames(frame_ids)
        self.store.forget_failures(failure_keys)
        self._maybe_commit(len(frame_ids))

    def settle_listing(self, folder: str, digest: bytes, unchanged: int) -> None:
        """Store a folder's listing digest: its rows need nothing (see diff.py)."""
        self.store.settle_listing(folder, digest, unchanged)

    def settle_when_loaded(self, folder: str, digest: bytes) -> None:
        """Store a bulk load's folder listing digest just before it commits (see diff.py)."""
        self._loaded_listings[folder] = digest

    def close(self, *, is_ok: bool, dropped_indexes: list[Any] | None = None) -> None:
        """Commit (rebuilding dropped indexes first) or roll back, then let go of the connection.

        Whatever stops the commit on its way (Ctrl-C while indexes build, a
        lost root lock) rolls back before the staging files are detached:
        SQLite cannot detach them while the transaction holds them.
        """
        try:
            try:
                if is_ok:
                    self._commit(dropped_indexes)
                else:
                    self.conn.rollback()
            except BaseException:
                self.conn.rollback()
                raise
        finally:
            if self.is_sqlite:
                self._dbapi().set_progress_handler(None, 0)
                detach_staged(self.conn)
            self._settings.close()
            self.conn.close()

    def _commit(self, dropped_indexes: list[Any] | None) -> None:
        started = time.perf_counter()
        if dropped_indexes is not None:
            with self.reraising():
                self.store.end_bulk_load(dropped_indexes)
            log.info(
                "%s: %d indexes built in %.1f s",
                self.result.root,
                len(dropped_indexes),
                time.perf_counter() - started,
            )
        # After the indexes: each folder's frames are counted through one.
        self.store.settle_loaded_listings(self._loaded_listings)
        self._finish_counts()
        self.check_lock()
        started = time.perf_counter()
        self.conn.commit()
        seconds = time.perf_counter() - started
        # A phase worth a line in `sync -v`; a watcher's small batches
        # commit thousands of times a day in milliseconds.
        log.log(
            logging.INFO if seconds >= SLOW_COMMIT_SECONDS else logging.DEBUG,
            "%s: committed in %.1f s",
            self.result.root,
            seconds,
        )

    def _finish_counts(self) -> None:
        m = placeholder(self.conn.dialect)
        self.conn.exec_driver_sql(
            f"UPDATE roots SET synced_at = {m}, synced_by = {m} WHERE id = {m}",
            (db_datetime(_now()), self.host, self.root_id),
        )
        rows = self.conn.exec_driver_sql(
            f"SELECT kind, count(*) FROM index_errors WHERE root_id = {m} GROUP BY kind",
            (self.root_id,),
        ).all()
        counts: dict[str, int] = {kind: int(n) for kind, n in rows}
        self.result.errors = counts.get("error", 0)
        self.result.warned = counts.get("warning", 0)
        self.result.ignored = counts.get("not_sidecar", 0)


_GENERATED_AT = FRAME_COLUMNS.index("generated_at")


def _time_order(rows: FrameRows) -> tuple[str, str, str]:
    """The order of new frame ids: (generated_at, folder, name), as the staged copy uses."""
    return rows.frame[_GENERATED_AT], rows.frame[0], rows.frame[1]
