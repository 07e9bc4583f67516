"""One writer per root at a time, across processes and machines.

Two syncs of one root that overlap would both find the same new file and
both insert it (the second fails on the unique location), or one would
delete what the other just added.  So every write of a root (a sync, a
rebuild, a watcher's batch or reconcile, an edit's re-index, removing the
root) holds its lock from before the walk is compared with the index until
the last commit.  Writes of different roots never wait for each other here.

- PostgreSQL: a session-level advisory lock (ADVISORY_LOCK_SPACE, root id)
  on a connection of its own, so workstations exclude each other through
  the server.  The holder names itself in ``application_name``, which a
  waiter reads from ``pg_stat_activity``.
- SQLite (one machine): ``flock`` on a file beside the catalogue
  (``<catalogue>.locks/root-<id>.lock``) holding the holder's name.
  SQLite's own write lock is not enough: a sync commits in batches, and
  another writer may slip in between them.

Either lock dies with its process (the server ends the session, the kernel
closes the file), so a killed writer never leaves a root locked; readers it
forked meanwhile die with it (on Linux; see _in_forked_child), as they would
otherwise keep its sessions open.  POSIX only, as is the indexer's fork.

A lock can also be lost while its holder runs: a server that ends idle
sessions (``idle_session_timeout``, a restart, a dropped connection) takes
the advisory lock with it, and a lock file removed and created anew lets a
second writer lock the new one.  Another writer may then take the root, so
the holder checks before every commit (the function ``root_write_lock``
yields) and stops with RootLockLostError instead of committing beside it:
silently, its rows and folder listings (listings.py) could contradict each
other until a rebuild.  The lock's session also opts out of
``idle_session_timeout``: it sits idle for the whole write by design.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from kino_catalog.errors import RootBusyError, RootLockLostError
from kino_catalog.schema.database import ADVISORY_LOCK_SPACE
from kino_catalog.schema.host import this_host

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy.engine import Connection, Engine

    _Backend = tuple[Callable[[], str | None], Callable[[], str | None]]

__all__ = ["REGISTRY_LOCK", "WriteAccess", "lock_file", "root_write_lock"]

POLL_SECONDS = 0.25
# Locks this process holds: a process forked meanwhile (the indexer's
# readers) must not keep one alive after its parent is gone.  It closes its
# copies of lock files at once, and on Linux is killed with its parent: else
# an orphaned reader would keep the parent's database sessions (and the
# advisory lock with them) open for ever.
_open_lock_fds: set[int] = set()
_held = [0]  # root locks held by this process
_forking_pid = [0]


def _before_fork() -> None:
    _forking_pid[0] = os.getpid()


def _in_forked_child() -> None:
    for fd in _open_lock_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    _open_lock_fds.clear()
    if _held[0]:
        _held[0] = 0
        _die_with_parent(_forking_pid[0])


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # only in a forked reader, not at every start-up

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


os.register_at_fork(before=_before_fork, after_in_child=_in_forked_child)
#: pg_advisory_xact_lock(*REGISTRY_LOCK) while roots are created or mapped.
REGISTRY_LOCK = (ADVISORY_LOCK_SPACE, -1)


@dataclass(frozen=True)
class WriteAccess:
    """Who writes, and what to do when the root is busy.

    ``host`` files the root mappings used and the "synced by" recorded;
    ``wait`` False makes a busy root an error (RootBusyError) instead of a
    wait, and ``on_wait`` hears once whom a write waits for.
    """

    host: str = field(default_factory=this_host)
    wait: bool = True
    on_wait: Callable[[str], None] | None = None


def _holder_label(host: str, what: str) -> str:
    started = dt.datetime.now().strftime("%H:%M:%S")
    return f"{what} on {host} (pid {os.getpid()}, since {started})"


@contextlib.contextmanager
def root_write_lock(
    engine: Engine,
    root_id: int,
    root_name: str,
    access: WriteAccess,
    *,
    what: str = "kino-catalog",
    heartbeat: Callable[[], None] | None = None,
) -> Iterator[Callable[[], None]]:
    """Hold root ``root_id``'s writer lock for the duration of the block.

    When another process holds it: with ``access.wait``, ``access.on_wait``
    gets one message naming the holder and the lock is polled
    (``heartbeat`` runs between tries, and may raise to give up); without,
    RootBusyError.  Yields ``check``: call it inside each transaction, just
    before committing; it raises RootLockLostError if the lock is gone.

    Raises:
        RootBusyError: the root is busy and ``access.wait`` is False.
    """
    label = _holder_label(access.host, what)
    acquire = _pg_lock if engine.dialect.name == "postgresql" else _file_lock
    with acquire(engine, root_id, label) as (try_lock, loss):
        holder = try_lock()
        if holder is not None:
            if not access.wait:
                raise RootBusyError(root_name, holder)
            if access.on_wait is not None:
                access.on_wait(f"root {root_name!r} is being written by {holder}; waiting for it")
            while holder is not None:
                time.sleep(POLL_SECONDS)
                if heartbeat is not None:
                    heartbeat()
                holder = try_lock()

        def check() -> None:
            how = loss()
            if how is not None:
                raise RootLockLostError(root_name, how)

        _held[0] += 1
        try:
            yield check
        finally:
            _held[0] -= 1


# A lock backend: a context manager giving two functions.  "Try once" returns
# None once the lock is held, else a description of the holder; "loss"
# returns None while the lock is still held, else how it was lost.

# The pg_locks row (alias l) of a granted root lock, keyed (ADVISORY_LOCK_SPACE, root id).
_PG_LOCK_ROW = (
    "l.locktype = 'advisory' AND l.granted AND l.classid::bigint = %s "
    "AND l.objid::bigint = %s AND l.objsubid = 2 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
_HELD_SQL = f"SELECT count(*) FROM pg_locks l WHERE {_PG_LOCK_ROW} AND l.pid = pg_backend_pid()"


@contextlib.contextmanager
def _pg_lock(engine: Engine, root_id: int, label: str) -> Iterator[_Backend]:
    key = (ADVISORY_LOCK_SPACE, root_id)
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    held = is_timeout_off = False
    try:
        conn.exec_driver_sql("SELECT set_config('application_name', %s, false)", (label[:63],))
        # Idle for the whole write by design: never ended for it (PostgreSQL 14+).
        is_timeout_off = (
            conn.exec_driver_sql(
                "SELECT set_config('idle_session_timeout', '0', false) "
                "WHERE current_setting('server_version_num')::int >= 140000"
            ).first()
            is not None
        )

        def try_lock() -> str | None:
            nonlocal held
            held = bool(conn.exec_driver_sql("SELECT pg_try_advisory_lock(%s, %s)", key).scalar())
            return None if held else _pg_holder(conn, root_id)

        lost: list[str] = []  # once lost, always lost (the connection is unusable after)

        def loss() -> str | None:
            if not lost:
                try:
                    if conn.exec_driver_sql(_HELD_SQL, key).scalar():
                        return None
                    lost.append("its database session no longer holds it")
                except DBAPIError as exc:
                    first = str(exc.orig).strip().splitlines()[0] if str(exc.orig) else ""
                    lost.append(f"its database session ended: {first}")
            return lost[0]

        yield try_lock, loss
    finally:
        try:
            if not conn.invalidated:  # else its session ended, taking the lock with it
                if held:
                    conn.exec_driver_sql("SELECT pg_advisory_unlock(%s, %s)", key)
                conn.exec_driver_sql("RESET application_name")
                if is_timeout_off:  # the pool hands the session on: as the server set it
                    conn.exec_driver_sql("RESET idle_session_timeout")
        except DBAPIError:
            # A session that cannot be told to unlock must not go back to
            # the pool still holding the lock: dropping it ends the session.
            conn.invalidate()
        finally:
            conn.close()


def _pg_holder(conn: Connection, root_id: int) -> str:
    name = conn.exec_driver_sql(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        f"WHERE {_PG_LOCK_ROW}",
        (ADVISORY_LOCK_SPACE, root_id),
    ).scalar()
    return str(name) if name else "another process"


def lock_file(database: str, root_id: int) -> str:
    """The file a SQLite catalogue's root ``root_id`` is locked through."""
    return os.path.join(f"{database}.locks", f"root-{root_id}.lock")


@contextlib.contextmanager
def _file_lock(engine: Engine, root_id: int, label: str) -> Iterator[_Backend]:
    database = engine.url.database
    if not database or database == ":memory:":  # one connection: nobody else to exclude
        yield (lambda: None), (lambda: None)
        return
    path = os.path.abspath(lock_file(database, root_id))  # checked again later: see loss()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    _open_lock_fds.add(fd)
    held = False
    try:

        def try_lock() -> str | None:
            nonlocal held
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
                return holder or "another process"
            held = True
            os.ftruncate(fd, 0)
            os.pwrite(fd, label.encode("utf-8"), 0)
            return None

        def loss() -> str | None:
            # flock locks the open file, not the name: if the name now leads
            # elsewhere (removed, replaced), a second writer can lock that.
            try:
                on_disk = os.stat(path)
            except OSError:
                return f"its lock file {path} was removed"
            mine = os.fstat(fd)
            if (on_disk.st_dev, on_disk.st_ino) != (mine.st_dev, mine.st_ino):
                return f"its lock file {path} was replaced"
            return None

        yield try_lock, loss
    finally:
        _open_lock_fds.discard(fd)
        if held:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
