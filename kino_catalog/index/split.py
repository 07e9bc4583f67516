"""A whole-root sync's comparison, split between two processes.

A no-change sync is a walk, a stat per sidecar and a comparison with the
index: one core's work.  Split by a hash of each file's stem (so a
sidecar, its images and its PNG sequence stay together), two processes
share it, and in Kino's one flat folder each holds only half the listing,
so the peak memory drops too (figures: benchmarks/RESULTS.md, "Figures
behind design choices").
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import threading
from typing import TYPE_CHECKING, Any

from kino_catalog.errors import CatalogError
from kino_catalog.index.diff import Differ
from kino_catalog.index.result import Task
from kino_catalog.index.store import chunked
from kino_catalog.schema.database import make_engine

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from sqlalchemy.engine import Engine

    from kino_catalog.index.result import SyncResult, Writes
    from kino_catalog.index.walk import Share

__all__ = ["ShareDiff", "ShareWorkers", "diff_share", "replay"]


class _Recorder:
    """The Writer's stand-in in a share's process: the parent replays its writes."""

    def __init__(self) -> None:
        self.ops: list[tuple[str, tuple[Any, ...]]] = []
        self.store = self  # the Differ calls writer.store.update_images

    def remove(self, frame_ids: list[int], failure_keys: list[tuple[str, str]]) -> None:
        self.ops.append(("remove", (frame_ids, failure_keys)))

    def apply(self, tasks: list[Task], outcomes: list[Any]) -> None:
        self.ops.append(("apply", (tasks, outcomes)))

    def update_images(self, rows: Sequence[tuple[str, bool, int, int]]) -> None:
        self.ops.append(("update_images", (rows,)))

    def settle_listing(self, folder: str, digest: bytes, unchanged: int) -> None:
        self.ops.append(("settle_listing", (folder, digest, unchanged)))


# What a share's process sends back: the writes to replay, the files to read,
# the number of unchanged files and the walk's warnings.
ShareDiff = tuple[list[tuple[str, tuple[Any, ...]]], list[Task], int, list[str]]


def diff_share(url: str, root: str, root_id: int, result: SyncResult, share: Share) -> ShareDiff:
    """One process's part of a whole-root sync's comparison (in a ShareWorkers process).

    Compares this share's files with the index on a connection of its own
    and records, instead of doing, the writes the comparison calls for.
    """
    engine = make_engine(url)
    recorder = _Recorder()
    differ = Differ(
        engine,
        root_id,
        recorder,
        result,
        is_rebuild=False,
        chunk_files=10_000,
        share=share,
    )
    try:
        tasks = [task for chunk in differ.tasks(root) for task in chunk]
    finally:
        differ.close()
        engine.dispose()
    return recorder.ops, tasks, result.unchanged, result.warnings


def replay(writer: Writes, ops: list[tuple[str, tuple[Any, ...]]]) -> None:
    """Carry out the writes a share's process recorded, in its order."""
    for name, args in ops:
        target: Any = writer.store if name == "update_images" else writer
        getattr(target, name)(*args)


class ShareWorkers:
    """Two processes that compare a big root with the index, each for its share of the files.

    Each lists every folder but stats and compares only the files whose
    :func:`scan.share_key` hashes to its share (:func:`diff_share`); this
    process replays the writes they call for.  They are forked before this
    process opens its write transaction and with no catalogue connection
    open (SQLite keeps per-process lock state in memory, which a forked
    child would inherit), and get their job once the write lock is held, so
    no other writer changes the index while they read.
    """

    SHARES = 2

    def __init__(self) -> None:
        context = mp.get_context("fork")
        self.links: list[tuple[Any, Any]] = []
        for index in range(self.SHARES):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=_share_worker, args=(theirs, (index, self.SHARES)), daemon=True
            )
            process.start()
            theirs.close()
            self.links.append((process, mine))

    @classmethod
    def start(cls, engine: Engine) -> ShareWorkers | None:
        """The workers, or None where they cannot run (one core, threads, an in-memory DB)."""
        if (
            (os.cpu_count() or 1) < 2
            or threading.active_count() > 1
            or ("fork" not in mp.get_all_start_methods())
            or (engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"))
        ):
            return None
        if getattr(engine.pool, "checkedout", lambda: 1)():  # a connection is in use
            return None
        engine.dispose()  # no catalogue connection may be open across the fork
        return cls()

    def tasks(
        self,
        engine: Engine,
        root: str,
        root_id: int,
        writer: Writes,
        result: SyncResult,
        blank: SyncResult,
        chunk_files: int,
    ) -> Iterator[list[Task]]:
        """Run the comparison; replays its writes now and returns the files to read.

        ``result`` is the sync's own, ``blank`` an empty one for the workers to count into.
        """
        url = engine.url.render_as_string(hide_password=False)
        for _, link in self.links:
            link.send((url, root, root_id, blank))
        tasks: list[Task] = []
        for process, link in self.links:
            try:
                status, answer = link.recv()
            except EOFError:
                raise CatalogError(
                    f"a sync worker process ended without an answer (exit code {process.exitcode})"
                ) from None
            if status != "ok":
                raise answer
            ops, share_tasks, unchanged, warnings = answer
            replay(writer, ops)
            tasks.extend(share_tasks)
            result.unchanged += unchanged
            result.warnings.extend(warnings)
        self.close()
        return iter(list(chunked(tasks, chunk_files)))

    def close(self) -> None:
        for process, link in self.links:
            with contextlib.suppress(OSError):
                link.send(None)  # a worker still waiting for its job exits
            link.close()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        self.links = []


def _share_worker(link: Any, share: Share) -> None:
    """A forked worker: wait for the job, send back its share of the comparison."""
    try:
        job = link.recv()
        if job is not None:
            url, root, root_id, blank = job
            link.send(("ok", diff_share(url, root, root_id, blank, share)))
    except BaseException as exc:  # the parent re-raises it
        with contextlib.suppress(Exception):
            link.send(("error", exc))
    finally:
        link.close()
