"""Mirroring a library folder into the catalogue: incremental sync and full rebuild.

The walk (``diff.py``) compares each file's (size, mtime_ns) with the
index and hands only new or changed files to reader processes (parse and
flatten use both cores).  A sync streams their rows to one writer
(``writer.py``) that commits in batches, so searches and the watcher see
progress.  A rebuild, and the first sync of a root, is a bulk load inside ONE
transaction: readers keep searching the old index until it commits, an
interrupted one leaves the old index as it was, and on SQLite the rows travel
through staging files (``bulk_load.py``) so that frame ids follow generation
time.  This module picks the path and holds the root's write lock.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing as mp
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from functools import partial
from typing import TYPE_CHECKING, Any

from kino_catalog.index.bulk_load import copy_staged, stage_chunk, staging_directory
from kino_catalog.index.diff import Differ
from kino_catalog.index.file_rows import read_frames
from kino_catalog.index.locks import WriteAccess, root_write_lock
from kino_catalog.index.result import SyncResult, Task
from kino_catalog.index.roots import resolve_folder, target_for_write
from kino_catalog.index.walk import Folder
from kino_catalog.index.writer import Writer
from kino_catalog.schema.database import placeholder
from kino_catalog.sidecar.files import is_inside

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from sqlalchemy.engine import Engine


__all__ = ["rebuild_root", "resolve_folder", "sync_paths", "sync_root"]

log = logging.getLogger(__name__)

CHUNK_FILES = 256  # files per reader task: big enough to amortise pickling
PARALLEL_MIN_FILES = 2000  # below this, process start-up costs more than it saves


# ---------------------------------------------------------------- reading

_Work = Callable[[list[Task]], Any]  # a picklable function of one chunk (a reader's job)


def _process_pool() -> Executor | None:
    """Worker processes for big jobs, or None to read in this process.

    Fork, not spawn/forkserver: those re-import ``__main__``, which breaks
    every user script without an ``if __name__ == "__main__"`` guard.  Forking
    is only safe while no other thread runs (a watcher's threads might hold
    locks), so then the work stays in this process.
    """
    if (
        (os.cpu_count() or 1) < 2
        or threading.active_count() > 1
        or ("fork" not in mp.get_all_start_methods())
    ):
        return None
    # Imported here: a few milliseconds that a sync with little to read
    # (nearly every sync) never needs.
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(2, mp_context=mp.get_context("fork"))


def _ordered_map(
    work: _Work, chunks: Iterable[list[Task]], in_flight: int = 8
) -> Iterator[tuple[list[Task], Any]]:
    """Run ``work`` on chunks in order, lazily (bounded memory), in processes once it is big.

    Small syncs (the common case) stay in this process: starting workers
    costs more than reading a few hundred files.
    """
    pool: Executor | None = None
    has_tried_pool = False
    pending: deque[tuple[list[Task], Future[Any] | Any]] = deque()
    submitted = 0
    try:
        for chunk in chunks:
            submitted += len(chunk)
            if not has_tried_pool and submitted >= PARALLEL_MIN_FILES:
                pool, has_tried_pool = _process_pool(), True
            pending.append((chunk, pool.submit(work, chunk) if pool else work(chunk)))
            while len(pending) >= in_flight or (pending and pool is None):
                tasks, done = pending.popleft()
                yield tasks, done.result() if isinstance(done, Future) else done
        while pending:
            tasks, done = pending.popleft()
            yield tasks, done.result() if isinstance(done, Future) else done
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _names_only(root: str) -> Iterator[Folder]:
    """Folders under ``root`` with their ``*.json`` names only (no stat, no symlinks)."""
    stack = [root]
    while stack:
        path = stack.pop()
        folder = Folder(path)
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.name.endswith(".json"):
                        folder.names.add(entry.name)
        except OSError:
            continue
        yield folder


def _expected_files(engine: Engine, root_id: int) -> int | None:
    with engine.connect() as conn:
        mark = placeholder(conn.dialect)
        count = conn.exec_driver_sql(
            f"SELECT (SELECT count(*) FROM frames WHERE root_id = {mark}) + "
            f"(SELECT count(*) FROM index_errors WHERE root_id = {mark})",
            (root_id, root_id),
        ).scalar()
    return int(count) if count else None


def _run(
    engine: Engine,
    root: str,
    progress: Callable[[int, int | None], None] | None,
    *,
    is_rebuild: bool,
    access: WriteAccess | None,
    scopes: list[str] | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> SyncResult:
    access = access or WriteAccess()
    target = target_for_write(engine, access.host, root)
    if heartbeat is None and progress is not None:
        heartbeat = partial(progress, 0, None)  # keeps a display (or a stop check) alive
    what = "rebuild" if is_rebuild else "sync" if scopes is None else "update"
    with root_write_lock(
        engine, target.root_id, target.name, access, what=what, heartbeat=heartbeat
    ) as check_lock:
        with _without_cycle_collector():
            result = _locked_run(
                engine,
                target.path,
                target.root_id,
                progress,
                is_rebuild=is_rebuild,
                scopes=scopes,
                host=access.host,
                check_lock=check_lock,
            )
    result.warnings[:0] = target.warnings
    return result


@contextlib.contextmanager
def _without_cycle_collector() -> Iterator[None]:
    """Turn Python's cycle collector off for the duration (back on after, if it was).

    A sync holds a few hundred thousand tuples (listings, index rows) that
    contain no cycles; each collection would walk them all again, which cost
    several percent of a no-change sync's CPU.  Forked readers inherit the setting: they
    build and drop one document at a time, freed by reference counting.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _locked_run(
    engine: Engine,
    root: str,
    root_id: int,
    progress: Callable[[int, int | None], None] | None,
    *,
    is_rebuild: bool,
    scopes: list[str] | None,
    host: str,
    check_lock: Callable[[], None],
) -> SyncResult:
    """One write of one root, its writer lock held (see locks.py)."""
    started = time.perf_counter()
    result = SyncResult(root)
    expected = _expected_files(engine, root_id)
    # A rebuild, or the first sync of a root (everything is new): one
    # transaction, secondary indexes rebuilt after the load when this root
    # holds most of the catalogue, and on SQLite the staged copy.
    bulk = is_rebuild or (expected is None and scopes is None)
    if expected is None and progress is not None:
        # A first sync reads everything: a names-only pre-walk (a few percent
        # of the work) buys the progress bar a total and an ETA.
        expected = sum(len(folder.names) for folder in _names_only(root))
    writer = Writer(
        engine, root_id, result, single_transaction=bulk, host=host, check_lock=check_lock
    )
    is_ok = False
    dropped = None
    try:
        if bulk:
            dropped = writer.begin_bulk_load()
        done = 0

        def report() -> None:
            if progress is not None:
                progress(done + result.unchanged, expected)

        differ = Differ(
            engine,
            root_id,
            writer,
            result,
            is_rebuild=bulk,
            chunk_files=CHUNK_FILES,
            on_progress=report,
        )
        try:
            if bulk and engine.dialect.name == "sqlite":
                _read_staged(engine, root, differ, writer, progress, expected)
            else:
                work = differ.tasks(root, scopes)
                for tasks, outcomes in _ordered_map(partial(read_frames, root), work):
                    writer.apply(tasks, outcomes)
                    done += len(tasks)
                    report()
        finally:
            differ.close()
        is_ok = True
    finally:
        writer.close(is_ok=is_ok, dropped_indexes=dropped)
    result.seconds = time.perf_counter() - started
    return result


def _read_staged(
    engine: Engine,
    root: str,
    differ: Differ,
    writer: Writer,
    progress: Callable[[int, int | None], None] | None,
    expected: int | None,
) -> None:
    """A bulk load on SQLite: readers stage their rows in files, then one C-speed copy."""
    started = time.perf_counter()
    with staging_directory(engine.url.database) as directory:
        done = 0
        for tasks, _ in _ordered_map(partial(stage_chunk, directory, root), differ.tasks(root)):
            done += len(tasks)
            if progress is not None:
                progress(done, expected)
        log.info(
            "%s: %d files read and staged in %.1f s", root, done, time.perf_counter() - started
        )
        if progress is not None:
            writer.keep_alive(lambda: progress(done, done))
        started = time.perf_counter()
        with writer.reraising():
            writer.result.added = copy_staged(writer.conn, directory, writer.root_id)
        log.info(
            "%s: %d frames copied in %.1f s",
            root,
            writer.result.added,
            time.perf_counter() - started,
        )


def sync_root(
    engine: Engine,
    root: str | os.PathLike[str],
    progress: Callable[[int, int | None], None] | None = None,
    *,
    access: WriteAccess | None = None,
) -> SyncResult:
    """Bring the index of one root up to date with the files on disk.

    ``root`` is a folder: the root this host maps there, or one recognised
    by its marker, or a new one (see roots.target_for_write).  ``access``
    names the host and says whether to wait for another writer of the root.

    Raises:
        UsageError: the folder is not one (see roots.target_for_write).
        RootBusyError: another process writes the root and ``access.wait`` is False.
        RootLockLostError: the root's write lock went while writing (see locks.py).
    """
    return _run(engine, os.fspath(root), progress, is_rebuild=False, access=access)


def sync_paths(
    engine: Engine,
    root: str | os.PathLike[str],
    paths: Iterable[str | os.PathLike[str]],
    *,
    access: WriteAccess | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> SyncResult:
    """Bring the index up to date for some paths under ``root`` only (the watcher's call).

    Each path (absolute, or relative to the root) may be a sidecar, an image
    (its sidecar's image state is rechecked) or a folder (synced as a
    subtree); paths that no longer exist drop their rows.  Paths outside the
    root are ignored.  ``heartbeat`` runs while waiting for another writer.

    Raises:
        UsageError: the root is not a folder.
        RootBusyError, RootLockLostError: as for sync_root.
    """
    resolved = resolve_folder(root)
    scopes = sorted({rel for rel in (_relative(resolved, p) for p in paths) if rel is not None})
    return _run(
        engine,
        resolved,
        None,
        is_rebuild=False,
        access=access,
        scopes=scopes,
        heartbeat=heartbeat,
    )


def _relative(root: str, path: str | os.PathLike[str]) -> str | None:
    full = os.path.normpath(os.path.join(root, os.fspath(path)))
    if full == root:
        return ""
    if not is_inside(root, full):
        return None
    return os.path.relpath(full, root).replace(os.sep, "/")


def rebuild_root(
    engine: Engine,
    root: str | os.PathLike[str],
    progress: Callable[[int, int | None], None] | None = None,
    *,
    access: WriteAccess | None = None,
) -> SyncResult:
    """Re-read every sidecar of a root and replace its index atomically.

    Raises:
        UsageError: as for sync_root.
        RootBusyError, RootLockLostError: as for sync_root.
    """
    return _run(engine, os.fspath(root), progress, is_rebuild=True, access=access)
