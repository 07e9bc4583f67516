"""Pending filesystem changes, their coalescing into indexing batches, and retries (pure).

The watcher's event handler records ``path -> last event time`` here and a
worker takes out what has been quiet for ``debounce_seconds``.  Debouncing is
per path, not global: a steady stream of new frames never starves the index
(each frame is due shortly after its own last write), while a file that Kino
is still writing in chunks keeps being pushed back until it is quiet.  A
path that never goes quiet is taken anyway after ``max_wait_seconds``.

Nothing here reads a clock or touches the disk, so it is tested with a fake
clock.  It is not thread-safe: the watcher guards it with its Condition.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

from kino_catalog.index.image_location import IMAGE_SUFFIXES
from kino_catalog.sidecar.files import is_inside

__all__ = ["ChangeSet", "Pending", "Retries", "is_watched"]

WATCHED_SUFFIXES = (".json", *IMAGE_SUFFIXES)


@dataclass(slots=True)
class Pending:
    """One path waiting to be indexed: when it was first and last seen, and whether a folder."""

    first_seen: float
    last_seen: float
    is_folder: bool


class ChangeSet:
    """Paths waiting to be indexed, bounded by ``max_paths``.

    Two dicts hold the same entries: ``_by_last`` in last-event order (an
    entry is moved to the end when it is seen again) and ``_by_first`` in
    first-event order, so both "quiet for long enough" and "waited too long"
    are prefixes and taking a batch costs only what it takes.
    """

    def __init__(self, max_paths: int) -> None:
        if max_paths < 1:
            raise ValueError(f"max_paths must be >= 1, not {max_paths}")
        self.max_paths = max_paths
        self._by_last: dict[str, Pending] = {}
        self._by_first: dict[str, Pending] = {}
        self._deferred: dict[str, tuple[float, bool]] = {}  # path -> (not before, is_folder)

    def __len__(self) -> int:
        return len(self._by_last) + len(self._deferred)

    def __contains__(self, path: object) -> bool:
        return path in self._by_last or path in self._deferred

    def record(self, path: str, now: float, *, is_folder: bool = False) -> bool:
        """Note an event on ``path`` at time ``now``; False when full (the event is dropped).

        A path seen again keeps its place in the set (it never overflows) and
        becomes a folder scope if any of its events was a folder's.
        """
        retry = self._deferred.pop(path, None)  # a fresh event supersedes a retry
        is_folder = is_folder or (retry is not None and retry[1])
        entry = self._by_last.pop(path, None)
        if entry is None:
            if len(self._by_last) >= self.max_paths:
                return False
            entry = Pending(now, now, is_folder)
            self._by_first[path] = entry
        else:
            entry.last_seen = max(entry.last_seen, now)
            entry.is_folder = entry.is_folder or is_folder
        self._by_last[path] = entry
        return True

    def defer(self, path: str, not_before: float, *, is_folder: bool = False) -> None:
        """Record ``path`` again at ``not_before`` (a retry), without delaying other paths.

        Kept apart until due: entries are ordered by last event, and a
        future time among them would hold back every path recorded after it.
        """
        if path in self._by_last:
            return  # a fresh event will sync it anyway
        due, was_folder = self._deferred.get(path, (not_before, False))
        self._deferred[path] = (min(due, not_before), was_folder or is_folder)

    def next_due(self, debounce_seconds: float, max_wait_seconds: float) -> float | None:
        """The earliest time at which some path becomes ready, None when empty."""
        times = [due for due, _ in self._deferred.values()]
        if self._by_last:
            times.append(next(iter(self._by_last.values())).last_seen + debounce_seconds)
            times.append(next(iter(self._by_first.values())).first_seen + max_wait_seconds)
        return min(times, default=None)

    def take_ready(
        self, now: float, debounce_seconds: float, max_wait_seconds: float, limit: int
    ) -> dict[str, bool]:
        """Remove and return up to ``limit`` ready paths as ``{path: is_folder}``.

        Ready means quiet for ``debounce_seconds`` or first seen at least
        ``max_wait_seconds`` ago.  Paths inside a folder that is itself in the
        batch are dropped: syncing the folder covers them.
        """
        batch: dict[str, bool] = {}
        for path, (due, is_folder) in list(self._deferred.items()):
            if due <= now and len(batch) < limit:
                del self._deferred[path]
                batch[path] = is_folder
        ready: list[str] = []
        for path, entry in self._by_last.items():
            if len(batch) + len(ready) >= limit or entry.last_seen + debounce_seconds > now:
                break
            ready.append(path)
        for path, entry in self._by_first.items():
            if len(batch) + len(ready) >= limit or entry.first_seen + max_wait_seconds > now:
                break
            if entry.last_seen + debounce_seconds > now:  # not already taken above
                ready.append(path)
        for path in ready:
            batch[path] = self._remove(path).is_folder or batch.get(path, False)
        return drop_covered(batch)

    def discard_under(self, folder: str) -> int:
        """Forget every path at or under ``folder`` (a reconcile of it covers them)."""
        prefix = folder.rstrip("/") + "/"
        doomed = [p for p in self._by_last if p == folder or p.startswith(prefix)]
        for path in doomed:
            self._remove(path)
        late = [p for p in self._deferred if p == folder or p.startswith(prefix)]
        for path in late:
            del self._deferred[path]
        return len(doomed) + len(late)

    def clear(self) -> None:
        self._by_last.clear()
        self._by_first.clear()
        self._deferred.clear()

    def _remove(self, path: str) -> Pending:
        del self._by_first[path]
        return self._by_last.pop(path)


def is_watched(root: str, path: str, *, is_folder: bool) -> bool:
    """Whether an event on ``path`` can change the index of ``root``.

    Sidecars, images and folders inside the root; not dot files (atomic
    writers' temp files) nor anything in a hidden folder, as the walk skips them.
    """
    if not is_inside(root, path):
        return False
    rel = path[len(root) :]
    if f"{os.sep}." in rel:
        return False
    return is_folder or rel.lower().endswith(WATCHED_SUFFIXES)


def drop_covered(batch: dict[str, bool]) -> dict[str, bool]:
    """``batch`` without the paths that lie inside one of its folders."""
    folders = {path for path, is_folder in batch.items() if is_folder}
    if not folders:
        return batch
    kept: dict[str, bool] = {}
    for path, is_folder in batch.items():
        parent = posixpath.dirname(path)
        while parent and parent not in folders and parent != posixpath.dirname(parent):
            parent = posixpath.dirname(parent)
        if parent not in folders:
            kept[path] = is_folder
    return kept


class Retries:
    """How often each path was tried, and when to try it again (pure bookkeeping).

    A path whose indexing raises is retried with an exponential backoff and
    given up after ``max_attempts`` (the next reconcile covers it); a
    sidecar found in error while still fresh is looked at again a few times
    (a half-written file whose last event went missing).
    """

    def __init__(
        self, *, max_attempts: int = 5, max_backoff_seconds: float = 30.0, max_rechecks: int = 3
    ) -> None:
        self.max_attempts = max_attempts
        self.max_backoff_seconds = max_backoff_seconds
        self.max_rechecks = max_rechecks
        self._attempts: dict[str, int] = {}
        self._rechecks: dict[str, int] = {}

    def failed(self, paths: list[str]) -> float | None:
        """Note a failure of ``paths``: seconds to wait before retrying, None to give up."""
        tries = max((self._attempts.get(p, 0) for p in paths), default=0) + 1
        if tries > self.max_attempts:
            self.succeeded(paths)
            return None
        for path in paths:
            self._attempts[path] = tries
        return float(min(self.max_backoff_seconds, 0.5 * 2.0 ** (tries - 1)))

    def succeeded(self, paths: list[str]) -> None:
        for path in paths:
            self._attempts.pop(path, None)

    def should_recheck(self, path: str) -> bool:
        """True (and counted) while ``path`` has had fewer than ``max_rechecks`` rechecks."""
        if len(self._rechecks) > 10_000:  # bounded memory; rechecks are a safety net
            self._rechecks.clear()
        done = self._rechecks.get(path, 0)
        if done >= self.max_rechecks:
            return False
        self._rechecks[path] = done + 1
        return True

    def forget_rechecks(self) -> None:
        self._rechecks.clear()
