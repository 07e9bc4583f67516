"""Thumbnails on disk: made once per image version with Pillow, kept as WebP in the user cache.

Galleries that re-make thumbnails over and over, or make them slowly, are the
most common complaint about them (Immich #11040, #23468).  Here a thumbnail's
file name is a hash of the image's real path, its size and mtime and the
thumbnail size, so an image regenerated in place gets a new one and an
unchanged image is never decoded twice.  Within a process, concurrent asks
for the same thumbnail wait for one maker (a lock per key); across processes
(``kino-catalog thumbs`` beside a server) the atomic rename means a reader
only ever sees a whole file.  An image Pillow cannot read is remembered as
broken (until it changes) so it is not decoded again on every request.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "DEFAULT_SIZE",
    "SIZES",
    "Thumbnail",
    "ThumbnailCache",
    "default_cache_folder",
    "make_thumbnail",
]

#: The sizes (longest side, pixels) the cache makes: a fixed few, so a client
#: cannot fill the disk with one file per size.
SIZES = (128, 256, 512)
DEFAULT_SIZE = 256
WEBP_QUALITY = 80


def default_cache_folder() -> Path:
    """``<user cache>/kino-catalog/thumbnails`` (``~/.cache/...`` on Linux)."""
    import platformdirs

    return platformdirs.user_cache_path("kino-catalog") / "thumbnails"


@dataclass(frozen=True)
class Thumbnail:
    """A cached thumbnail file and its ETag (the cache key), or a broken image (path None)."""

    path: Path | None
    etag: str


def make_thumbnail(image: str, size: int, dest: str) -> None:
    """Write a WebP of ``image`` fitting ``size`` x ``size`` to ``dest`` (atomically).

    ``draft`` lets JPEG decode at a fraction of its size; ``reducing_gap``
    shrinks by whole factors before the final resample.

    Raises:
        OSError: the image cannot be read or decoded (Pillow's errors are OSErrors,
            a decompression bomb is turned into one).
    """
    from PIL import Image

    try:
        with Image.open(image) as opened:
            opened.draft("RGB", (size, size))
            opened.thumbnail((size, size), reducing_gap=2.0)
            im: Image.Image = opened
            if im.mode not in ("RGB", "RGBA"):
                im = im.convert(
                    "RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB"
                )
            folder = os.path.dirname(dest)
            fd, tmp = tempfile.mkstemp(prefix=".thumb-", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(fd, "wb") as fh:
                    im.save(fh, "WEBP", quality=WEBP_QUALITY, method=4)
                os.replace(tmp, dest)
            except BaseException:
                os.unlink(tmp)
                raise
    except Image.DecompressionBombError as exc:
        raise OSError(f"{image}: image too large to thumbnail ({exc})") from exc
    except (ValueError, SyntaxError) as exc:  # Pillow raises these for some damaged files
        raise OSError(f"{image}: {exc}") from exc


class ThumbnailCache:
    """Thumbnails of library images in ``folder``; thread-safe, made once per key."""

    def __init__(
        self,
        folder: str | os.PathLike[str] | None = None,
        maker: Callable[[str, int, str], None] = make_thumbnail,
    ) -> None:
        self.folder = Path(folder) if folder is not None else default_cache_folder()
        self._maker = maker
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    def key(self, image: str, size: int) -> str | None:
        """The cache key of ``image`` at ``size`` as the file is now; None if it is gone.

        Raises:
            ValueError: ``size`` is not one of SIZES.
        """
        if size not in SIZES:
            raise ValueError(f"thumbnail size must be one of {', '.join(map(str, SIZES))}")
        try:
            st = os.stat(image)
        except OSError:
            return None
        identity = f"{os.path.realpath(image)}\0{st.st_size}\0{st.st_mtime_ns}\0{size}"
        return hashlib.blake2b(
            identity.encode("utf-8", "surrogateescape"), digest_size=16
        ).hexdigest()

    def _path(self, key: str, suffix: str) -> Path:
        return self.folder / key[:2] / f"{key}{suffix}"

    def get(self, image: str, size: int) -> Thumbnail | None:
        """The thumbnail of ``image`` (made now if needed); None if the image is missing.

        A broken image gives ``Thumbnail(None, etag)``: the caller shows a
        placeholder.

        Raises:
            ValueError: ``size`` is not one of SIZES.
        """
        key = self.key(image, size)
        if key is None:
            return None
        done, broken = self._path(key, ".webp"), self._path(key, ".broken")
        if done.exists():
            return Thumbnail(done, key)
        if broken.exists():
            return Thumbnail(None, key)
        with self._lock(key):
            if done.exists():  # another thread made it while this one waited
                return Thumbnail(done, key)
            done.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._maker(image, size, str(done))
            except OSError as exc:
                if not os.path.exists(image):
                    return None
                broken.write_text(str(exc)[:500], encoding="utf-8", errors="replace")
                return Thumbnail(None, key)
        return Thumbnail(done, key)

    def _lock(self, key: str) -> _KeyLock:
        return _KeyLock(self, key)

    def _acquire(self, key: str) -> threading.Lock:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        lock.acquire()
        return lock

    def _release(self, key: str, lock: threading.Lock) -> None:
        lock.release()
        with self._guard:
            _, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def make_many(
        self,
        images: Iterable[str | None],
        size: int,
        *,
        workers: int | None = None,
        progress: Callable[[int, int | None], None] | None = None,
        total: int | None = None,
    ) -> dict[str, int]:
        """Make the missing thumbnails of ``images`` in ``workers`` processes (default: cores).

        ``None`` stands for a frame without a usable image (counted as missing).

        Returns counts: ``made``, ``cached`` (already there), ``broken``, ``missing``.
        """
        from concurrent.futures import ProcessPoolExecutor
        from itertools import islice

        counts = {"made": 0, "cached": 0, "broken": 0, "missing": 0}
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            # In batches: a million frames never sit in the pool's queue at once.
            stream = iter(images)
            while batch := list(islice(stream, 2000)):
                todo = self._missing(batch, size, counts)
                for outcome in pool.map(_make_one, todo, chunksize=4):
                    counts[outcome] += 1
                    if progress is not None:
                        progress(sum(counts.values()), total)
                if progress is not None:
                    progress(sum(counts.values()), total)
        return counts

    def _missing(
        self, images: Iterable[str | None], size: int, counts: dict[str, int]
    ) -> list[tuple[str, int, str, str]]:
        todo = []
        for image in images:
            key = self.key(image, size) if image is not None else None
            if key is None:
                counts["missing"] += 1
                continue
            done, broken = self._path(key, ".webp"), self._path(key, ".broken")
            if done.exists() or broken.exists():
                counts["cached"] += 1
                continue
            done.parent.mkdir(parents=True, exist_ok=True)
            todo.append((str(image), size, str(done), str(broken)))
        return todo


def _make_one(job: tuple[str, int, str, str]) -> str:
    """One thumbnail in a worker process: 'made' or 'broken' (the reason is kept on disk)."""
    image, size, dest, broken = job
    try:
        make_thumbnail(image, size, dest)
    except OSError as exc:
        Path(broken).write_text(str(exc)[:500], encoding="utf-8", errors="replace")
        return "broken"
    return "made"


class _KeyLock:
    """``with cache._lock(key):`` one maker per key at a time; forgotten when unused."""

    def __init__(self, cache: ThumbnailCache, key: str) -> None:
        self.cache = cache
        self.key = key
        self.lock: threading.Lock | None = None

    def __enter__(self) -> None:
        self.lock = self.cache._acquire(self.key)

    def __exit__(self, *exc: object) -> None:
        assert self.lock is not None
        self.cache._release(self.key, self.lock)
