"""Watchdog observers for the watcher: which events, a handler that never raises, start/stop/health.

Watchdog's failure modes are handled here at their source: an exception in
a handler kills the observer thread (the handler swallows and reports it),
an inotify observer runs a reader thread from its constructor (``halt``
stops it even when ``start`` failed), the inotify queue overflow is only a
log line (``OverflowSpy`` turns it into a callback), and an emitter that
stops when its folder is deleted leaves the observer alive but deaf
(``is_alive`` looks at every thread).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

try:
    from watchdog.observers.inotify import InotifyObserver
except ImportError:  # not Linux: every observer reports plain modifications
    InotifyObserver = type(None)  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from collections.abc import Callable

    from watchdog.observers.api import BaseObserver

__all__ = [
    "OverflowSpy",
    "RecordingHandler",
    "WatchedRoot",
    "halt",
    "is_alive",
    "launch",
    "launch_or_poll",
    "native_observer",
    "polling_observer",
]

log = logging.getLogger(__name__)

# Opened/closed-without-writing are left out on purpose: the indexer's own
# reads would otherwise feed the watcher an event for every file it reads.
# With inotify, a written file is signalled by its close (IN_CLOSE_WRITE),
# not by every write(): a file Kino writes in chunks is read once complete,
# and a burst costs a third fewer events.  Polling observers only know
# "modified".
CLOSE_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileClosedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
MODIFY_EVENTS = [*CLOSE_EVENTS, FileModifiedEvent, FileAttribEvent]
WATCHDOG_INOTIFY_LOGGER = "watchdog.observers.inotify_c"


def native_observer() -> BaseObserver:
    """The platform's event-based observer (inotify on Linux)."""
    return Observer()


def polling_observer(interval_seconds: float) -> Callable[[], BaseObserver]:
    """A factory of observers that poll every ``interval_seconds`` (network shares)."""
    return lambda: PollingObserver(timeout=interval_seconds)


class RecordingHandler(FileSystemEventHandler):
    """Passes each event to ``record``; an exception goes to ``on_error``, never to watchdog."""

    def __init__(
        self, record: Callable[[FileSystemEvent], None], on_error: Callable[[], None]
    ) -> None:
        self.record = record
        self.on_error = on_error

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self.record(event)
        except Exception:  # reaching watchdog, it would kill the observer thread
            log.exception("watcher: cannot record %r", event)
            with contextlib.suppress(Exception):
                self.on_error()


class OverflowSpy(logging.Handler):
    """Calls ``on_overflow`` when watchdog logs that the kernel's inotify queue overflowed.

    Watchdog reports the overflow (events were lost) only as a warning.
    ``install``/``remove`` attach it to watchdog's inotify logger.
    """

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self.on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.on_overflow()

    def install(self) -> None:
        logging.getLogger(WATCHDOG_INOTIFY_LOGGER).addHandler(self)

    def remove(self) -> None:
        logging.getLogger(WATCHDOG_INOTIFY_LOGGER).removeHandler(self)


def launch(
    make: Callable[[], BaseObserver], path: str, handler: FileSystemEventHandler
) -> BaseObserver:
    """A started observer watching ``path`` recursively.

    Raises:
        OSError: the folder cannot be watched (gone, inotify watch limit...).
    """
    observer = make()
    try:
        events = CLOSE_EVENTS if isinstance(observer, InotifyObserver) else MODIFY_EVENTS
        observer.schedule(handler, path, recursive=True, event_filter=events)
        observer.start()
    except BaseException:
        halt(observer)  # an inotify observer runs a reader thread from birth
        raise
    return observer


def launch_or_poll(
    make: Callable[[], BaseObserver],
    path: str,
    handler: FileSystemEventHandler,
    poll_interval_seconds: float,
) -> tuple[BaseObserver | None, Callable[[], BaseObserver]]:
    """``launch``, falling back to polling when inotify refuses (its watch limit, say).

    Returns the observer (None if even that failed: the caller retries
    later) and the factory to use from now on.
    """
    try:
        return launch(make, path, handler), make
    except OSError as exc:
        if make is not native_observer:
            log.warning("%s: cannot watch (%s); will retry", path, exc)
            return None, make
        log.warning("%s: cannot watch with inotify (%s); polling instead", path, exc)
    make = polling_observer(poll_interval_seconds)
    try:
        return launch(make, path, handler), make
    except OSError as exc:
        log.warning("%s: cannot watch (%s); will retry", path, exc)
        return None, make


def halt(observer: BaseObserver, timeout_seconds: float = 10.0) -> None:
    """Stop an observer and join its threads (it may never have started)."""
    observer.stop()
    with contextlib.suppress(RuntimeError):  # never started
        observer.join(timeout_seconds)
    if observer.is_alive():
        log.warning("watcher: a file observer did not stop within %.0f s", timeout_seconds)


def is_alive(observer: BaseObserver | None) -> bool:
    """The observer, its emitters and (inotify) its reader thread are all running."""
    if observer is None or not observer.is_alive():
        return False
    reader = getattr(observer, "_inotify_fd", None)  # if it died, emitters wait forever
    if isinstance(reader, threading.Thread) and not reader.is_alive():
        return False
    with contextlib.suppress(RuntimeError):  # the set changed while we looked
        emitters = list(observer.emitters)
        return bool(emitters) and all(emitter.is_alive() for emitter in emitters)
    return True


@dataclass(eq=False)
class WatchedRoot:
    """A library root under watch: its path, the device it lives on, and its observer."""

    path: str
    device: int = -1
    observer: BaseObserver | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def remember_device(self) -> None:
        self.device = os.stat(self.path).st_dev

    def is_available(self) -> bool:
        """There, a folder, and on the device it was on.

        An unmounted share leaves an empty folder on the parent's device:
        taken at face value, it would mean every frame was deleted.
        """
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return stat.S_ISDIR(st.st_mode) and st.st_dev == self.device

    def watch(
        self,
        make: Callable[[], BaseObserver],
        handler: FileSystemEventHandler,
        poll_interval_seconds: float,
    ) -> Callable[[], BaseObserver]:
        """Start an observer unless one runs; returns the observer factory to use from now on."""
        with self._lock:
            if self.observer is None:
                self.observer, make = launch_or_poll(
                    make, self.path, handler, poll_interval_seconds
                )
        return make

    def unwatch(self) -> None:
        with self._lock:
            observer, self.observer = self.observer, None
        if observer is not None:
            halt(observer)
