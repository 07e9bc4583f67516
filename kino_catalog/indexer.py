"""Mirroring a library folder into the catalogue: incremental sync and full rebuild.

Both stream: the walk feeds per-folder work to reader processes (parse and
flatten use both cores), one writer applies the results.  Sync compares each
file's (size, mtime_ns) with the index and reads only what changed; it
commits in batches so readers and the watcher see progress.  Rebuild re-reads
everything inside ONE transaction: readers keep searching the old index until
it commits, and an interrupted rebuild leaves the old index as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing as mp
import os
import posixpath
import re
import stat as stat_module
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from kino_catalog.db import WRITE, placeholder
from kino_catalog.errors import UsageError
from kino_catalog.rows import FRAME_COLUMNS, FailedFile, FrameRows, db_datetime, read_frame
from kino_catalog.scan import (
    FileStat,
    Folder,
    is_sidecar_name,
    list_folder,
    locate_image,
    walk_root,
)
from kino_catalog.schema import Root
from kino_catalog.staging import (
    copy_staged,
    detach_staged,
    stage_chunk,
    staging_directory,
)
from kino_catalog.store import Store

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine


__all__ = ["SyncResult", "rebuild_root", "resolve_root", "sync_paths", "sync_root"]

log = logging.getLogger(__name__)

CHUNK_FILES = 256  # files per reader task: big enough to amortise pickling
BATCH_FILES = 2000  # files per sync transaction: short enough for the watcher
PARALLEL_MIN_FILES = 2000  # below this, process start-up costs more than it saves


@dataclass
class SyncResult:
    """What one sync or rebuild of one root did."""

    root: str
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    errors: int = 0  # files of this root in error after the run
    ignored: int = 0  # other JSON files, not Kino sidecars
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"root": self.root, "added": self.added, "updated": self.updated,
                "removed": self.removed, "unchanged": self.unchanged, "errors": self.errors,
                "ignored": self.ignored, "seconds": round(self.seconds, 3),
                "warnings": list(self.warnings)}


# A file to read: (folder, stat, id of its frame row or None, has a failure row,
# its image as found in the folder listing or None: see rows.read_frame)
_Task = tuple[str, FileStat, "int | None", bool, "tuple[str, bool, int] | None"]


def resolve_root(root: str | os.PathLike[str]) -> str:
    """The canonical absolute path of a library root.

    Raises:
        UsageError: it does not exist or is not a folder.
    """
    path = os.path.realpath(os.path.expanduser(os.fspath(root)))
    if not os.path.isdir(path):
        raise UsageError(f"not a folder: {os.fspath(root)}")
    return path


def _ensure_root(conn: Connection, path: str) -> int:
    table: Table = Root.__table__  # type: ignore[assignment]
    known = dict(conn.execute(table.select().with_only_columns(table.c.path, table.c.id)).all())
    if path in known:
        return int(known[path])
    for other in known:
        # Nested roots would index the same sidecars twice under two names.
        if path.startswith(other.rstrip(os.sep) + os.sep):
            raise UsageError(f"{path} is inside {other}, which is already indexed: "
                             f"sync {other} instead")
        if other.startswith(path.rstrip(os.sep) + os.sep):
            raise UsageError(f"{path} contains {other}, which is already indexed on its "
                             "own: sync that folder, or use a new catalogue (--db) for this one")
    result = conn.execute(table.insert().values(path=path, added_at=_now()))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


# ---------------------------------------------------------------- reading

def _read_chunk(root: str, tasks: list[_Task]) -> list[FrameRows | FailedFile | None]:
    return [read_frame(root, folder, stat, hint) for folder, stat, _, _, hint in tasks]


_Work = Callable[[list[_Task]], Any]  # a picklable function of one chunk (a reader's job)


def _process_pool() -> Executor | None:
    """Worker processes for big jobs, or None to read in this process.

    Fork, not spawn/forkserver: those re-import ``__main__``, which breaks
    every user script without an ``if __name__ == "__main__"`` guard.  Forking
    is only safe while no other thread runs (a watcher's threads might hold
    locks), so then the work stays in this process.
    """
    if (os.cpu_count() or 1) < 2 or threading.active_count() > 1 or (
            "fork" not in mp.get_all_start_methods()):
        return None
    return ProcessPoolExecutor(2, mp_context=mp.get_context("fork"))


def _ordered_map(work: _Work, chunks: Iterable[list[_Task]],
                 in_flight: int = 8) -> Iterator[tuple[list[_Task], Any]]:
    """Run ``work`` on chunks in order, lazily (bounded memory), in processes once it is big.

    Small syncs (the common case) stay in this process: starting workers
    costs more than reading a few hundred files.
    """
    pool: Executor | None = None
    tried_pool = False
    pending: deque[tuple[list[_Task], Future[Any] | Any]] = deque()
    submitted = 0
    try:
        for chunk in chunks:
            submitted += len(chunk)
            if not tried_pool and submitted >= PARALLEL_MIN_FILES:
                pool, tried_pool = _process_pool(), True
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


# ---------------------------------------------------------------- the writer

class _Writer:
    """Applies read results; commits every BATCH_FILES files unless in one transaction."""

    def __init__(self, engine: Engine, root_id: int, result: SyncResult, *,
                 single_transaction: bool) -> None:
        self.conn = engine.connect().execution_options(**WRITE)
        self.root_id = root_id
        self.result = result
        self.single = single_transaction
        self.pending = 0
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.store = self._begin()

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
            if time.monotonic() - last >= 0.2:
                last = time.monotonic()
                beat()
            return 0  # go on

        self._dbapi().set_progress_handler(handler, 100_000)

    def _dbapi(self) -> Any:
        return self.conn.connection.dbapi_connection

    def _begin(self) -> Store:
        self.conn.begin()
        return Store(self.conn, self.root_id)

    def _maybe_commit(self, files: int) -> None:
        self.pending += files
        if not self.single and self.pending >= BATCH_FILES:
            self.conn.commit()
            self.pending = 0
            self.store = self._begin()

    def apply(self, tasks: list[_Task], outcomes: list[FrameRows | FailedFile | None]) -> None:
        store, result = self.store, self.result
        inserts: list[tuple[int, FrameRows]] = []
        new_frames: list[FrameRows] = []
        replaced: list[int] = []
        failures: list[FailedFile] = []
        forget: list[tuple[str, str]] = []
        gone: list[int] = []
        for (folder, stat, frame_id, has_failure, _), outcome in zip(tasks, outcomes,
                                                                     strict=True):
            if isinstance(outcome, FrameRows):
                if frame_id is None:
                    new_frames.append(outcome)
                    result.added += 1
                else:
                    replaced.append(frame_id)
                    inserts.append((frame_id, outcome))
                    result.updated += 1
                if has_failure:
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
        store.delete_frames(replaced)
        # New ids in generation-time order, as a rebuild numbers them: the
        # newest-first full-text plan walks ids backwards.
        new_frames.sort(key=_time_order)
        inserts.extend(zip(store.reserve_ids(len(new_frames)), new_frames, strict=True))
        store.insert_frames(inserts)
        store.forget_failures(forget)
        store.record_failures(failures)
        self._maybe_commit(len(tasks))

    def remove(self, frame_ids: list[int], failure_keys: list[tuple[str, str]]) -> None:
        self.result.removed += self.store.delete_frames(frame_ids)
        self.store.forget_failures(failure_keys)
        self._maybe_commit(len(frame_ids))

    def close(self, *, is_ok: bool, dropped_indexes: list[Any] | None = None) -> None:
        try:
            if is_ok:
                if dropped_indexes is not None:
                    self.store.end_bulk_load(dropped_indexes)
                self._finish_counts()
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            if self.is_sqlite:
                self._dbapi().set_progress_handler(None, 0)
                detach_staged(self.conn)
            self.conn.close()

    def _finish_counts(self) -> None:
        m = placeholder(self.conn.dialect)
        self.conn.exec_driver_sql(
            f"UPDATE roots SET synced_at = {m} WHERE id = {m}",
            (db_datetime(_now()), self.root_id))
        rows = self.conn.exec_driver_sql(
            f"SELECT kind, count(*) FROM index_errors WHERE root_id = {m} GROUP BY kind",
            (self.root_id,)).all()
        counts: dict[str, int] = {kind: int(n) for kind, n in rows}
        self.result.errors = counts.get("error", 0)
        self.result.ignored = counts.get("not_sidecar", 0)


_GENERATED_AT = FRAME_COLUMNS.index("generated_at")


def _time_order(rows: FrameRows) -> tuple[str, str, str]:
    """The order of new frame ids: (generated_at, folder, name), as the staged copy uses."""
    return rows.frame[_GENERATED_AT], rows.frame[0], rows.frame[1]


# ---------------------------------------------------------------- diffing

class _Differ:
    """Compares each folder of the walk with the index (a read connection)."""

    def __init__(self, engine: Engine, root_id: int, writer: _Writer, result: SyncResult,
                 *, is_rebuild: bool) -> None:
        self.is_rebuild = is_rebuild  # everything is new: the old rows are already deleted
        self.conn = engine.connect()
        self.root_id = root_id
        self.writer = writer
        self.result = result
        self.mark = placeholder(self.conn.dialect)
        self.seen_folders: set[str] = set()
        self.image_updates: list[tuple[str, bool, int, int]] = []

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        if self.is_rebuild:
            return []
        # Plain DB-API cursor: these rows are compared, not shown, and SQLAlchemy's
        # Row objects cost more than the query for 100k-row folders.
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql.replace("?", self.mark), params)
            rows: list[Any] = list(cursor.fetchall())
        finally:
            cursor.close()
        self.conn.rollback()  # never pin an old snapshot while the writer commits
        return rows

    def tasks(self, root: str, scopes: list[str] | None = None) -> Iterator[list[_Task]]:
        """Yield chunks of files that need reading: the whole root, or only ``scopes``.

        A scope is a relative path: a folder is synced as a subtree, a file
        (sidecar or image) on its own, whether it exists or not.
        """
        chunk: list[_Task] = []
        for task in self._scoped_tasks(root, scopes if scopes is not None else [""]):
            chunk.append(task)
            if len(chunk) >= CHUNK_FILES:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _scoped_tasks(self, root: str, scopes: list[str]) -> Iterator[_Task]:
        files: dict[str, set[str]] = {}
        for scope in scopes:
            path = os.path.join(root, scope)
            is_dir, is_gone = os.path.isdir(path), not os.path.lexists(path)
            if is_dir or is_gone:  # a vanished path may have been a folder
                self.seen_folders.clear()
                if is_dir:
                    for folder in walk_root(root, self.result.warnings.append, start=scope):
                        self.seen_folders.add(folder.rel)
                        yield from self._diff_folder(folder)
                self._remove_unseen_folders(scope)
            if not is_dir:
                parent, name = posixpath.split(scope)
                files.setdefault(parent, set()).update(_affected_sidecars(name))
        for parent, names in files.items():
            yield from self._diff_folder(_folder_of(root, parent, names), only=names)

    def _diff_folder(self, folder: Folder, only: set[str] | None = None) -> Iterator[_Task]:
        # name -> (id, name, size, mtime_ns, image_name, image_exists, image_count)
        known = {row[1]: row for row in self._query(
            "SELECT id, name, size, mtime_ns, image_name, image_exists, image_count "
            "FROM frames WHERE root_id = ? AND folder = ?", (self.root_id, folder.rel))
                 if only is None or row[1] in only}
        failed = {name: (size, mtime) for name, size, mtime in self._query(
            "SELECT name, size, mtime_ns FROM index_errors WHERE root_id = ? AND folder = ?",
            (self.root_id, folder.rel)) if only is None or name in only}
        broken = {b.stat.name: b for b in folder.broken}
        listed = {s.name for s in folder.sidecars} | broken.keys()
        gone_frames = [known[name][0] for name in known.keys() - listed]
        gone_failures = [(folder.rel, name) for name in failed.keys() - listed]
        if gone_frames or gone_failures:
            self.writer.remove(gone_frames, gone_failures)
        self._record_broken(folder, broken, known, failed)
        for stat in folder.sidecars:
            frame = known.get(stat.name)
            failure = failed.get(stat.name)
            if frame is not None and frame[2] == stat.size and frame[3] == stat.mtime_ns:
                self.result.unchanged += 1
                self._check_image(folder, stat.name, frame)
            elif failure is not None and failure == (stat.size, stat.mtime_ns):
                continue  # the same bad file as last time
            else:
                # The listing answers "is the same-stem PNG there?" for free; only
                # that first choice of locate_image is certain without the JSON.
                png = stat.name[:-5] + ".png"
                hint = None
                if png in folder.names:
                    hint = (png, True, 1) if "_seq_" not in png else locate_image(
                        stat.name, None, folder.has_file, folder.count_sequence)
                yield (folder.rel, stat, frame[0] if frame else None, failure is not None, hint)
        self._flush_image_updates()

    def _record_broken(self, folder: Folder, broken: dict[str, Any],
                       known: dict[str, Any], failed: dict[str, Any]) -> None:
        fresh = [b for name, b in broken.items()
                 if failed.get(name) != (b.stat.size, b.stat.mtime_ns)]
        if not fresh:
            return
        tasks: list[_Task] = [(folder.rel, b.stat, known[b.stat.name][0] if b.stat.name in known
                               else None, b.stat.name in failed, None) for b in fresh]
        self.writer.apply(tasks, [FailedFile(folder.rel, b.stat.name, b.stat.size,
                                             b.stat.mtime_ns, "error", b.reason) for b in fresh])

    def _check_image(self, folder: Folder, name: str, frame: tuple[Any, ...]) -> None:
        frame_id, _, _, _, image, exists, count = frame
        if exists and image in folder.names and image == name[:-5] + ".png":
            # locate_image's first choice is still there (the common case): only
            # a PNG sequence can have changed, by its number of images.
            if count == (folder.sequence_size(image) or 1):
                return
        found = locate_image(name, image, folder.has_file, folder.count_sequence)
        if found != (image, bool(exists), count):
            self.image_updates.append((*found, frame_id))

    def _flush_image_updates(self) -> None:
        if self.image_updates:
            self.writer.store.update_images(self.image_updates)
            self.image_updates = []

    def _remove_unseen_folders(self, scope: str) -> None:
        """Drop rows of folders under ``scope`` that the walk did not see (deleted)."""
        prefix = scope + "/"
        where = "root_id = ?"
        params: tuple[Any, ...] = (self.root_id,)
        if scope:
            where += " AND (folder = ? OR substr(folder, 1, ?) = ?)"
            params += (scope, len(prefix), prefix)
        for table, key in (("frames", "id"), ("index_errors", "folder, name")):
            # Folders first (an index scan returning a handful of rows), rows
            # only for the vanished ones: a no-change sync fetches nothing.
            folders = [row[0] for row in self._query(
                f"SELECT DISTINCT folder FROM {table} WHERE {where}", params)]
            for gone in (folder for folder in folders if folder not in self.seen_folders):
                rows = self._query(f"SELECT {key} FROM {table} WHERE root_id = ? AND folder = ?",
                                   (self.root_id, gone))
                if table == "frames":
                    self.writer.remove([row[0] for row in rows], [])
                else:
                    self.writer.remove([], [(row[0], row[1]) for row in rows])

    def close(self) -> None:
        self.conn.close()


def _affected_sidecars(name: str) -> set[str]:
    """The sidecar names whose index rows a change to file ``name`` can affect."""
    stem, suffix = os.path.splitext(name)
    if suffix == ".json":
        return {name}
    names = {stem + ".json"}
    match = _SEQUENCE_MEMBER.match(stem)
    if match:  # any frame of a PNG sequence belongs to the sidecar beside frame 0
        names.add(f"{match['prefix']}{0:0{len(match['index'])}d}.json")
    return names


_SEQUENCE_MEMBER = re.compile(r"^(?P<prefix>.*_seq_)(?P<index>\d+)$")


def _folder_of(root: str, rel: str, names: set[str]) -> Folder:
    """The listing of one folder with only ``names`` as sidecars, for syncing single files."""
    directory = f"{root}/{rel}" if rel else root
    folder = list_folder(directory, rel)
    for name in sorted(names):
        try:
            st = os.stat(f"{directory}/{name}", follow_symlinks=False)
        except OSError:
            continue
        if stat_module.S_ISREG(st.st_mode) and is_sidecar_name(name):
            folder.sidecars.append(FileStat(name, st.st_size, st.st_mtime_ns))
    return folder


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
            (root_id, root_id)).scalar()
    return int(count) if count else None


def _run(engine: Engine, root: str, progress: Callable[[int, int | None], None] | None,
         *, rebuild: bool, scopes: list[str] | None = None) -> SyncResult:
    started = time.perf_counter()
    root = resolve_root(root)
    result = SyncResult(root)
    with engine.begin() as conn:
        root_id = _ensure_root(conn, root)
    expected = _expected_files(engine, root_id)
    # A rebuild, or the first sync of a root (everything is new): one
    # transaction, secondary indexes rebuilt after the load when this root
    # holds most of the catalogue, and on SQLite the staged copy.
    bulk = rebuild or (expected is None and scopes is None)
    if expected is None and progress is not None:
        # A first sync reads everything: a names-only pre-walk (a few percent
        # of the work) buys the progress bar a total and an ETA.
        expected = sum(len(folder.names) for folder in _names_only(root))
    writer = _Writer(engine, root_id, result, single_transaction=bulk)
    is_ok = False
    dropped = None
    try:
        if bulk:
            dropped = writer.store.begin_bulk_load()
        differ = _Differ(engine, root_id, writer, result, is_rebuild=bulk)
        try:
            if bulk and engine.dialect.name == "sqlite":
                _read_staged(engine, root, differ, writer, progress, expected)
            else:
                done = 0
                for tasks, outcomes in _ordered_map(partial(_read_chunk, root),
                                                    differ.tasks(root, scopes)):
                    writer.apply(tasks, outcomes)
                    done += len(tasks)
                    if progress is not None:
                        progress(done + result.unchanged, expected)
        finally:
            differ.close()
        is_ok = True
    finally:
        writer.close(is_ok=is_ok, dropped_indexes=dropped)
    result.seconds = time.perf_counter() - started
    return result


def _read_staged(engine: Engine, root: str, differ: _Differ, writer: _Writer,
                 progress: Callable[[int, int | None], None] | None,
                 expected: int | None) -> None:
    """A bulk load on SQLite: readers stage their rows in files, then one C-speed copy."""
    with staging_directory(engine.url.database) as directory:
        done = 0
        for tasks, _ in _ordered_map(partial(stage_chunk, directory, root), differ.tasks(root)):
            done += len(tasks)
            if progress is not None:
                progress(done, expected)
        if progress is not None:
            writer.keep_alive(lambda: progress(done, done))
        writer.result.added = copy_staged(writer.conn, directory, writer.root_id)


def sync_root(engine: Engine, root: str | os.PathLike[str],
              progress: Callable[[int, int | None], None] | None = None) -> SyncResult:
    """Bring the index of one root up to date with the files on disk.

    Raises:
        UsageError: the root is not a folder.
    """
    return _run(engine, os.fspath(root), progress, rebuild=False)


def sync_paths(engine: Engine, root: str | os.PathLike[str],
               paths: Iterable[str | os.PathLike[str]]) -> SyncResult:
    """Bring the index up to date for some paths under ``root`` only (the watcher's call).

    Each path (absolute, or relative to the root) may be a sidecar, an image
    (its sidecar's image state is rechecked) or a folder (synced as a
    subtree); paths that no longer exist drop their rows.  Paths outside the
    root are ignored.

    Raises:
        UsageError: the root is not a folder.
    """
    resolved = resolve_root(root)
    scopes = sorted({rel for rel in (_relative(resolved, p) for p in paths) if rel is not None})
    return _run(engine, resolved, None, rebuild=False, scopes=scopes)


def _relative(root: str, path: str | os.PathLike[str]) -> str | None:
    full = os.path.normpath(os.path.join(root, os.fspath(path)))
    if full == root:
        return ""
    if not full.startswith(root.rstrip(os.sep) + os.sep):
        return None
    return os.path.relpath(full, root).replace(os.sep, "/")


def rebuild_root(engine: Engine, root: str | os.PathLike[str],
                 progress: Callable[[int, int | None], None] | None = None) -> SyncResult:
    """Re-read every sidecar of a root and replace its index atomically.

    Raises:
        UsageError: the root is not a folder.
    """
    return _run(engine, os.fspath(root), progress, rebuild=True)
