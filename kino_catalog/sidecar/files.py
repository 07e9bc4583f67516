"""File rules every part shares: atomic replacement, and whether a path is inside a root.

An atomic write is how a sidecar edit, a preset or a ``-o`` output file
appears: a temp file in the same folder (``os.replace`` is only atomic
within one file system) whose name starts with a dot so watchers and the
walk skip it, flushed and fsynced, then renamed over the target, so a
reader sees the old file or the new one, never half.  ``is_inside`` guards
the promise that nothing is read or written outside a library root.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import os
import stat
import tempfile
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

__all__ = ["atomic_file", "atomic_text_file", "is_inside", "write_atomic", "write_atomic_many"]


def is_inside(root: str, path: str) -> bool:
    """Whether ``path`` lies below the folder ``root`` (both absolute and normalised).

    ``root`` itself is not inside itself; ``/data/frames2`` is not inside
    ``/data/frames``.
    """
    return path.startswith(root.rstrip(os.sep) + os.sep)


@contextlib.contextmanager
def atomic_file(
    path: str | os.PathLike[str], *, is_current: Callable[[], bool] | None = None
) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` once the block ends without an exception.

    An existing file keeps its permission bits; a new one gets what
    ``open()`` would give it (``mkstemp`` makes 0600 files).  ``is_current``,
    checked just before the replace, lets an editor refuse to clobber a file
    someone else rewrote meanwhile: if it returns False the temp file is
    discarded and ``path`` is left alone.  On an exception nothing changes.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".kino-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(path))
        if is_current is not None and not is_current():
            os.unlink(tmp)
            return
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_text_file(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """:func:`atomic_file` for UTF-8 text (request files, reports written with ``-o``)."""
    with atomic_file(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        yield text
        text.flush()
        text.detach()  # atomic_file closes the raw file


def write_atomic(
    path: str | os.PathLike[str], data: bytes, *, is_current: Callable[[], bool] | None = None
) -> bool:
    """Replace ``path`` with ``data`` (see :func:`atomic_file`); False if ``is_current`` said no."""
    is_replaced = True

    def still_current() -> bool:
        nonlocal is_replaced
        is_replaced = is_current() if is_current is not None else True
        return is_replaced

    with atomic_file(path, is_current=still_current) as fh:
        fh.write(data)
    return is_replaced


def write_atomic_many(
    items: Sequence[tuple[str, bytes, Callable[[], bool] | None]],
) -> list[bool]:
    """:func:`write_atomic` for many files with ONE flush to disk for the lot.

    Each item is (path, data, is_current).  All temp files are written, then
    flushed together (Linux ``syncfs`` once per file system, else ``fsync``
    each), then renamed: a file is on disk before its name points at it, as
    with write_atomic, but a batch of sidecars (an import) costs one flush
    instead of one per file, which dominates the cost of small files.
    Returns, per item, whether it was written (``is_current`` may refuse).
    """
    temps: list[str] = []
    try:
        for path, data, _ in items:
            folder = os.path.dirname(os.path.abspath(path))
            fd, tmp = tempfile.mkstemp(prefix=".kino-", suffix=".tmp", dir=folder)
            temps.append(tmp)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, _mode_for(path))
        _flush(temps)
        written = []
        for (path, _, is_current), tmp in zip(items, temps, strict=True):
            if is_current is not None and not is_current():
                os.unlink(tmp)
                written.append(False)
            else:
                os.replace(tmp, path)
                written.append(True)
        temps = []
        return written
    finally:
        for tmp in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _flush(paths: Sequence[str]) -> None:
    """Flush new files to disk: one syncfs per file system where libc has it, else fsync each."""
    syncfs = getattr(_libc(), "syncfs", None)
    if syncfs is not None:
        devices = {os.stat(path).st_dev: path for path in paths}
        if all(_on_fd(path, syncfs) == 0 for path in devices.values()):
            return
    for path in paths:
        _on_fd(path, os.fsync)


def _on_fd(path: str, call: Callable[[int], Any]) -> Any:
    fd = os.open(path, os.O_RDONLY)
    try:
        return call(fd)
    finally:
        os.close(fd)


@functools.cache
def _libc() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # no C library to load (not Linux/glibc-like): fsync each file
        return None


def _mode_for(path: str | os.PathLike[str]) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        pass
    # A new file gets what open() would give it.  os.umask() can only be read by
    # setting it, which races with other threads (saves run in to_thread).
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            umask = next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        umask = 0o022
    return 0o666 & ~umask
