"""The live watcher: watchdog events, debounced into batches for the indexer, with reconciles.

Watchdog is a hint, never the truth (`issues show 5`): its inotify observer drops
events when the kernel queue overflows, an exception in a handler kills its
thread, and a polling observer takes an unmounted share for "everything was
deleted".  So the handler only records paths; one worker thread debounces
them (per path, see ``debounce``) and calls ``index.sync.sync_paths`` outside
the lock, and a full stat-diff ``sync_root`` (a *reconcile*) repairs any
drift at start, after an overflow, after the observer is restarted, and
periodically.  The same worker supervises: it restarts a dead observer, and
when a root disappears it stops touching that root's index until it is back.
The watcher never writes SQL itself: every change goes through the indexer.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from kino_catalog.errors import RootLockLostError
from kino_catalog.index import sync as indexer
from kino_catalog.index.locks import WriteAccess
from kino_catalog.sidecar.files import is_inside
from kino_catalog.watch import observers as observing
from kino_catalog.watch.debounce import ChangeSet, Retries, is_watched

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import TracebackType

    from sqlalchemy.engine import Engine
    from watchdog.events import FileSystemEvent
    from watchdog.observers.api import BaseObserver

    from kino_catalog.index.result import SyncResult

__all__ = ["WatchStats", "Watcher"]

log = logging.getLogger(__name__)

RECENT_SECONDS = 2.0  # a sidecar modified this recently may still be being written
RECHECK_DELAY_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0


@dataclass
class WatchStats:
    """Counters for tests, benchmarks and curious users (overflows: episodes, per root)."""

    batches: int = 0
    reconciles: int = 0
    overflows: int = 0
    observer_restarts: int = 0
    failures: int = 0


@dataclass(eq=False)
class _Root(observing.WatchedRoot):
    is_missing: bool = False
    reconcile_reason: str | None = "start"
    not_before: float = 0.0  # no reconcile before this (backoff after a failure)
    watch_retry_at: float = 0.0  # no observer restart before this (it failed to start)
    last_reconcile: float = 0.0
    failures: int = 0
    errors_seen: int = 0
    is_overflowing: bool = False


class _Stopping(Exception):
    """Raised from the reconcile's progress callback to end it early on stop()."""


class Watcher:
    """Keeps the index of some library roots live while files change.

    ``start()`` returns at once: the worker first starts the observers, then
    reconciles each root (so nothing that happens during the first sync is
    missed), then follows events.  Use it as a context manager, or call
    ``stop()`` (idempotent; joins every thread it started).
    """

    def __init__(
        self,
        engine: Engine,
        roots: Iterable[str | os.PathLike[str]],
        *,
        debounce_seconds: float = 0.2,
        reconcile_interval_seconds: float = 300.0,
        use_polling: bool = False,
        poll_interval_seconds: float = 1.0,
        max_pending_paths: int = 50_000,
        max_batch_paths: int = 5_000,
        max_wait_seconds: float = 2.0,
        supervise_interval_seconds: float = 0.5,
        observer_factory: Callable[[], BaseObserver] | None = None,
        access: WriteAccess | None = None,
    ) -> None:
        if debounce_seconds < 0 or reconcile_interval_seconds <= 0 or max_batch_paths < 1:
            raise ValueError(
                "need debounce_seconds >= 0, reconcile_interval_seconds > 0 "
                "and max_batch_paths >= 1"
            )
        self.engine = engine
        # Whose writes these are; a root another process writes is waited for
        # (the wait is logged once, and ends early on stop()).
        access = access or WriteAccess()
        self.access = access if access.on_wait else replace(access, on_wait=log.warning)
        self._roots = sorted(
            (_Root(indexer.resolve_folder(r)) for r in roots),
            key=lambda r: len(r.path),
            reverse=True,
        )  # longest prefix first
        if not self._roots:
            raise ValueError("no root to watch")
        self.debounce_seconds = debounce_seconds
        self.reconcile_interval_seconds = reconcile_interval_seconds
        self.max_wait_seconds = max(max_wait_seconds, debounce_seconds)
        self.max_batch_paths = max_batch_paths
        self.supervise_interval_seconds = supervise_interval_seconds
        self.poll_interval_seconds = poll_interval_seconds
        self._make_observer = observer_factory or (
            observing.polling_observer(poll_interval_seconds)
            if use_polling
            else observing.native_observer
        )
        self.stats = WatchStats()
        self._cond = threading.Condition()
        self._changes = ChangeSet(max_pending_paths)
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._spy = observing.OverflowSpy(self._on_overflow)
        self._is_busy = True
        self._next_supervise = 0.0
        self._retries = Retries(max_backoff_seconds=MAX_BACKOFF_SECONDS)

    # ------------------------------------------------------------ lifecycle
    @property
    def roots(self) -> list[str]:
        return sorted(r.path for r in self._roots)

    @property
    def missing_roots(self) -> list[str]:
        """Roots that have disappeared (their index is kept as it was)."""
        return sorted(r.path for r in self._roots if r.is_missing)

    def start(self) -> Watcher:
        """Start watching in the background; returns self.

        Raises:
            RuntimeError: already started.
        """
        if self._worker is not None:
            raise RuntimeError("this watcher was already started")
        for root in self._roots:
            root.remember_device()
        self._spy.install()
        self._worker = threading.Thread(target=self._run, name="kino-watcher", daemon=True)
        self._worker.start()
        return self

    def stop(self, timeout_seconds: float = 60.0) -> None:
        """Stop watching: finish (or roll back) the current batch, then join every thread."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout_seconds)
            if self._worker.is_alive():
                log.warning("watcher: worker still busy after %.0f s", timeout_seconds)
        for root in self._roots:
            root.unwatch()
        self._spy.remove()

    def __enter__(self) -> Watcher:
        return self.start() if self._worker is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_idle(self, timeout_seconds: float) -> bool:
        """Wait until the first sync is done and nothing is pending; False on timeout.

        Events still travelling through the kernel and watchdog are not
        known here: callers that just wrote files should poll for what they
        expect rather than trust a single idle moment.
        """
        deadline = time.monotonic() + timeout_seconds
        with self._cond:
            while not self._is_idle():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._worker is None or not self._worker.is_alive():
                    return False
                self._cond.wait(min(remaining, 0.1))
        return True

    def _is_idle(self) -> bool:
        return (
            not self._is_busy
            and not len(self._changes)
            and not any(r.reconcile_reason and not r.is_missing for r in self._roots)
        )

    # ------------------------------------------------------------ events (observer threads)
    def _on_event(self, root: _Root, event: FileSystemEvent) -> None:
        is_folder = event.is_directory
        paths = [os.fsdecode(event.src_path)]
        if event.dest_path:  # a move: drop the source, index the destination
            paths.append(os.fsdecode(event.dest_path))
        now = time.monotonic()
        with self._cond:
            for path in paths:
                if path == root.path:  # the root itself went away: supervise now
                    self._next_supervise = 0.0
                    self._cond.notify_all()
                elif is_watched(root.path, path, is_folder=is_folder):
                    was_empty = not len(self._changes)
                    if not self._changes.record(path, now, is_folder=is_folder):
                        self._request_reconcile(root, "too many pending changes", is_overflow=True)
                    elif was_empty:
                        self._cond.notify_all()

    def _on_overflow(self) -> None:
        for root in self._roots:  # the kernel does not say where events were lost
            self._request_reconcile(root, "inotify queue overflow", is_overflow=True)

    def _request_reconcile(self, root: _Root, reason: str, *, is_overflow: bool = False) -> None:
        with self._cond:
            if is_overflow and not root.is_overflowing:  # one warning per episode
                self.stats.overflows += 1
                log.warning(
                    "%s: %s; events are lost until a reconcile catches up", root.path, reason
                )
                root.is_overflowing = True
            if root.reconcile_reason is None:
                root.reconcile_reason = reason
            self._cond.notify_all()

    # ------------------------------------------------------------ the worker
    def _run(self) -> None:
        try:
            for root in self._roots:
                self._start_observer(root)
            while not self._stopping.is_set():
                try:
                    self._step()
                except Exception:  # a bug: keep watching, with its traceback logged
                    log.exception("watcher: unexpected error; carrying on")
                    self._stopping.wait(1.0)
        finally:
            for root in self._roots:
                root.unwatch()
            with self._cond:
                self._is_busy = False
                self._cond.notify_all()

    def _step(self) -> None:
        now = time.monotonic()
        if now >= self._next_supervise:
            self._supervise(now)
        for root in self._roots:
            if root.reconcile_reason and not root.is_missing and now >= root.not_before:
                self._reconcile(root)
        with self._cond:
            now = time.monotonic()
            batch = self._changes.take_ready(
                now, self.debounce_seconds, self.max_wait_seconds, self.max_batch_paths
            )
            if not batch:
                due = [
                    self._next_supervise,
                    self._changes.next_due(self.debounce_seconds, self.max_wait_seconds)
                    or float("inf"),
                ]
                due += [
                    r.not_before for r in self._roots if r.reconcile_reason and not r.is_missing
                ]
                wait = min(due) - now
                if wait > 0 and not self._stopping.is_set():
                    self._is_busy = False
                    self._cond.notify_all()  # wake wait_idle()
                    self._cond.wait(wait)
                    self._is_busy = True
                return
            self._is_busy = True
        by_root: dict[_Root, dict[str, bool]] = {}
        for path, is_folder in batch.items():
            root = next(r for r in self._roots if is_inside(r.path, path))
            by_root.setdefault(root, {})[path] = is_folder
        for root, paths in by_root.items():
            if not root.is_missing and root.reconcile_reason is None:  # else a reconcile covers it
                self._index(root, paths)

    def _index(self, root: _Root, batch: dict[str, bool]) -> None:
        if not root.is_available():
            self._lose(root)
            return
        try:
            result = indexer.sync_paths(
                self.engine,
                root.path,
                list(batch),
                access=self.access,
                heartbeat=self._stop_waiting,
            )
        except _Stopping:  # waited for another writer of the root until stop()
            return
        except Exception as exc:
            self._retry(root, batch, exc)
            return
        self.stats.batches += 1
        self._retries.succeeded(list(batch))
        changed = result.added + result.updated + result.removed
        log.log(
            logging.INFO if changed or result.errors > root.errors_seen else logging.DEBUG,
            "%s: %s (%d paths)",
            root.path,
            _summary(result),
            len(batch),
        )
        if result.errors > root.errors_seen:
            self._recheck_recent(batch)
        root.errors_seen = result.errors

    def _retry(self, root: _Root, batch: dict[str, bool], exc: Exception) -> None:
        """Isolate a failing path by halving the batch, then retry it with a backoff.

        Database errors and a lost root lock concern every path alike: the
        whole batch waits.
        """
        if len(batch) > 1 and not isinstance(exc, (DBAPIError, RootLockLostError)):
            log.debug("batch of %d paths failed; bisecting", len(batch), exc_info=exc)
            items = list(batch.items())
            for half in (items[: len(items) // 2], items[len(items) // 2 :]):
                self._index(root, dict(half))
            return
        self.stats.failures += 1
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
        log.debug("indexing failed", exc_info=exc)
        delay = self._retries.failed(list(batch))
        if delay is None:
            log.warning(
                "%s: giving up on %d path(s) until the next reconcile: %s",
                root.path,
                len(batch),
                reason,
            )
            return
        log.warning(
            "%s: indexing %d path(s) failed (%s); retrying in %.1f s",
            root.path,
            len(batch),
            reason,
            delay,
        )
        with self._cond:
            for path, is_folder in batch.items():
                self._changes.defer(path, time.monotonic() + delay, is_folder=is_folder)

    def _recheck_recent(self, batch: dict[str, bool]) -> None:
        """Look again shortly at sidecars still being written when they were read.

        The final write of a chunked writer raises its own event, and the
        indexer re-reads a failed file once its size or mtime changes; this
        is the safety net for a final event that never arrives.
        """
        wall = time.time()
        for path, is_folder in batch.items():
            if is_folder or not path.endswith(".json"):
                continue
            try:
                is_recent = wall - os.stat(path).st_mtime < RECENT_SECONDS
            except OSError:
                continue
            if is_recent and self._retries.should_recheck(path):
                with self._cond:
                    self._changes.defer(path, time.monotonic() + RECHECK_DELAY_SECONDS)

    def _reconcile(self, root: _Root) -> None:
        with self._cond:
            reason, root.reconcile_reason = root.reconcile_reason, None
            root.is_overflowing = False
            self._changes.discard_under(root.path)  # the walk sees all of them
        if not root.is_available():
            self._lose(root)
            return
        is_routine = reason in ("start", "periodic")
        log.log(
            logging.INFO if is_routine else logging.WARNING,
            "%s: reconciling (%s)",
            root.path,
            reason,
        )
        try:
            result = indexer.sync_root(
                self.engine, root.path, self._abort_if_stopping, access=self.access
            )
        except _Stopping:
            root.reconcile_reason = reason
            return
        except Exception as exc:
            root.failures += 1
            delay = min(MAX_BACKOFF_SECONDS, 2.0**root.failures)
            log.warning(
                "%s: reconcile failed (%s: %s); retrying in %.0f s",
                root.path,
                type(exc).__name__,
                exc,
                delay,
            )
            log.debug("reconcile failed", exc_info=exc)
            root.reconcile_reason, root.not_before = reason, time.monotonic() + delay
            return
        self.stats.reconciles += 1
        root.failures, root.errors_seen = 0, result.errors
        root.last_reconcile = time.monotonic()
        self._retries.forget_rechecks()
        drift = result.added + result.updated + result.removed
        log.log(
            logging.WARNING if drift and reason == "periodic" else logging.INFO,
            "%s: reconciled: %s, %d unchanged",
            root.path,
            _summary(result),
            result.unchanged,
        )
        for warning in result.warnings:
            log.warning("%s: %s", root.path, warning)
        if not root.is_available():
            log.warning("%s: the root vanished during the reconcile", root.path)
            self._lose(root)

    def _abort_if_stopping(self, _done: int, _expected: int | None) -> None:
        self._stop_waiting()

    def _stop_waiting(self) -> None:
        if self._stopping.is_set():
            raise _Stopping

    # ------------------------------------------------------------ supervision
    def _supervise(self, now: float) -> None:
        self._next_supervise = now + self.supervise_interval_seconds
        for root in self._roots:
            if not root.is_available():
                if not root.is_missing:
                    self._lose(root)
            elif root.is_missing:
                log.warning("%s: the root is back; watching it again", root.path)
                root.is_missing = False
                self._restart_observer(root, "the root came back")
            elif not observing.is_alive(root.observer) and now >= root.watch_retry_at:
                log.warning("%s: file watching stopped; restarting it", root.path)
                self.stats.observer_restarts += 1
                self._restart_observer(root, "observer restarted")
                root.watch_retry_at = now + (0 if root.observer else MAX_BACKOFF_SECONDS)
            elif (
                root.reconcile_reason is None
                and now - root.last_reconcile >= self.reconcile_interval_seconds
            ):
                root.reconcile_reason = "periodic"

    def _lose(self, root: _Root) -> None:
        """The root is gone: keep its index untouched and wait for it to come back."""
        if not root.is_missing:
            log.warning(
                "%s: the library root is gone (unmounted or removed?); its index is "
                "kept as it is until it comes back",
                root.path,
            )
        root.is_missing = True
        root.unwatch()
        with self._cond:
            self._changes.discard_under(root.path)
            root.reconcile_reason = root.reconcile_reason or "the root came back"

    def _restart_observer(self, root: _Root, reason: str) -> None:
        root.unwatch()
        self._start_observer(root)
        with self._cond:  # events were missed meanwhile
            root.reconcile_reason = reason
            root.not_before = 0.0

    def _start_observer(self, root: _Root) -> None:
        def record(event: FileSystemEvent) -> None:
            self._on_event(root, event)

        def on_error() -> None:
            self._request_reconcile(root, "event handler error")

        if not self._stopping.is_set():
            self._make_observer = root.watch(
                self._make_observer,
                observing.RecordingHandler(record, on_error),
                self.poll_interval_seconds,
            )


def _summary(result: SyncResult) -> str:
    """One batch's log line; errors and warnings are the root's (what `errors` lists)."""
    warned = f", {result.warned} with warnings" if result.warned else ""
    return (
        f"{result.added} added, {result.updated} updated, {result.removed} removed, "
        f"{result.errors} in error{warned}, {result.seconds:.2f} s"
    )
