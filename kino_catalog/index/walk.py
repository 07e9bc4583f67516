"""Walking a library folder safely, listing what a sync compares.

The walk never leaves its root: symlinked folders are not entered (they are
how loops and escapes happen), and a symlinked file is followed only when its
target is inside the root.  Hidden entries (dot files, atomic writers' temp
files) are skipped.  One ``stat`` per sidecar and nothing else: the walk is
what a no-change sync costs, so it must stay close to a bare ``os.scandir``.
"""

from __future__ import annotations

import errno
import hashlib
import marshal
import os
import stat
import sys
from array import array
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, NamedTuple

from kino_catalog.index.image_location import sequence_counts, sequence_key
from kino_catalog.sidecar.files import is_inside

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "BrokenFile",
    "FileStat",
    "Folder",
    "StatKey",
    "file_inside",
    "is_sidecar_name",
    "is_walked_file",
    "list_folder",
    "walk_root",
]

# Hashed first into every listing digest: change it whenever what a sync
# decides from a listing changes (image_location.py, the walk's rules, diff.py,
# image_changes.py, and parse_record's reading of output.filename, which
# ImageChanges.check uses), so that no folder is skipped on the strength of the old rules.
LISTING_DIGEST_VERSION = b"kino-catalog listing 2\0"
DIGEST_NAMES = 8192  # names encoded per piece: a flat folder of 2M names is never copied whole
_SIZE, _MTIME = itemgetter(1), itemgetter(2)  # of a StatKey


class FileStat(NamedTuple):
    """A sidecar file's identity as sync compares it: name, size, mtime_ns.

    A tuple, so that a folder's files compare with its index rows as sets,
    in C (diff.py), and a walk of a million files builds them cheaply.
    """

    name: str
    size: int
    mtime_ns: int


# How the walk lists a sidecar: a FileStat's fields as a plain tuple (equal to
# it, and cheaper to build a million of); diff.py makes FileStats of the few it reads.
StatKey = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class BrokenFile:
    """A sidecar-looking entry that cannot be read safely (symlink out, loop)."""

    stat: FileStat
    reason: str


@dataclass(slots=True)
class Folder:
    """One folder of the walk: its sidecars and the names of every file in it."""

    rel: str  # "/"-separated, relative to the root; "" for the root itself
    sidecars: list[StatKey] = field(default_factory=list)
    broken: list[BrokenFile] = field(default_factory=list)
    # The walk's file names in the order the folder listed them (None: a
    # listing made without the walk, whose names are in ``names`` only).
    # Kept as a list because a folder whose listing digest is unchanged is
    # skipped (diff.py): its set of names, and its sequences, are never needed.
    listed: list[str] | None = None
    _names: set[str] | None = None
    _sequences: dict[tuple[str, int, str], int] | None = None
    root: str = ""

    @property
    def names(self) -> set[str]:
        """Every file name of the folder."""
        if self._names is None:
            self._names = set(self.listed) if self.listed is not None else set()
        return self._names

    @names.setter
    def names(self, names: set[str]) -> None:
        self._names = names

    def listing_digest(self) -> bytes:
        """A 128-bit digest of everything a sync decides about this folder from its listing.

        Every file name in listing order (images included: which image a
        sidecar has, and how long its PNG sequence is, depend on names
        only), each sidecar's size and mtime_ns, and the sidecar-named
        entries the walk could not follow.  The sidecars are the listed
        ``*.json`` names, in the same order (the walk lists a sidecar only
        once it has its stat), so their stats need no names beside them.
        blake2b over C-level serialisations: stable across processes
        (``hash`` is salted per process), and about 20 ms at 100k sidecars.

        A folder listed in another order (a different file system) gets
        another digest: the sync then compares it in full, as it would
        without one.  Two listings with the same digest are taken to be the
        same listing: a 2**-128 chance of a collision is accepted.

        Raises:
            ValueError: the folder was not listed by the walk (no ``listed``).
        """
        if self.listed is None:
            raise ValueError(f"folder {self.rel!r} has no listing to digest")
        listed, sidecars = self.listed, self.sidecars
        try:
            columns = [array("q", map(column, sidecars)) for column in (_SIZE, _MTIME)]
            if sys.byteorder != "little":  # the same bytes on every host
                for numbers in columns:
                    numbers.byteswap()
            stats, kind = columns[0].tobytes() + columns[1].tobytes(), b"q"
        except OverflowError:  # an mtime past 2262: slower, but any int
            # Version 2: no references between objects, so no dependence on
            # which int objects happen to be shared.
            stats, kind = marshal.dumps(sidecars, 2), b"m"
        digest = hashlib.blake2b(LISTING_DIGEST_VERSION, digest_size=16)
        # Every part's length first: one serialisation per listing, none the
        # prefix of another's.
        digest.update(b"%d %d %d %s\0" % (len(listed), len(sidecars), len(stats), kind))
        # Each name NUL-terminated (no file name holds NUL; "surrogatepass"
        # encodes any str, one-to-one), in pieces: joined whole, the names
        # of a flat folder of a million frames cost ~120 MB more peak memory.
        for start in range(0, len(listed), DIGEST_NAMES):
            piece = listed[start : start + DIGEST_NAMES]
            digest.update(("\0".join(piece) + "\0").encode("utf-8", "surrogatepass"))
        digest.update(stats)
        if self.broken:  # last: its length is the rest
            digest.update(marshal.dumps([(*b.stat, b.reason) for b in self.broken], 2))
        return digest.digest()

    def has_file(self, name: str) -> bool:
        return name in self.names

    def sequence_size(self, image: str) -> int | None:
        """How many images of ``image``'s PNG sequence the folder holds; None if not one."""
        key = sequence_key(image) if "_seq_" in image else None
        return None if key is None else self.count_sequence(*key)

    def count_sequence(self, prefix: str, width: int, suffix: str) -> int:
        """How many ``<prefix><width digits><suffix>`` images the folder holds."""
        return self._counts().get((prefix, width, suffix), 0)

    def sequence_starts(self) -> set[tuple[str, int]]:
        """``(first image, number of images)`` of each sequence whose first image is listed.

        What the index holds for a sidecar whose image is the first of an
        unchanged sequence, so that image_changes.py settles all such rows with one
        set operation.
        """
        names = self.names
        return {
            (start, count)
            for (prefix, width, suffix), count in self._counts().items()
            if (start := f"{prefix}{0:0{width}d}{suffix}") in names
        }

    def _counts(self) -> dict[tuple[str, int, str], int]:
        if self._sequences is None:
            self._sequences = sequence_counts(
                self.listed if self.listed is not None else self.names
            )
        return self._sequences


def file_inside(path: str, root: str) -> str | None:
    """The real path of ``path`` if it is a regular file inside ``root``, else None.

    A symlink counts as the walk counts it (see _follow_link): followed only
    to a file inside the root.  This is the one rule for serving a file of
    the library to anyone (the web gallery serves images through it).
    """
    real_root = os.path.realpath(root)
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        if _follow_link(path, real_root)[0] is None:
            return None
    elif not stat.S_ISREG(st.st_mode):
        return None
    target = os.path.realpath(path)
    return target if is_inside(real_root, target) else None


def list_folder(directory: str, rel: str) -> Folder:
    """A Folder with every file name of ``directory`` (no stats), for partial syncs."""
    folder = Folder(rel)
    try:
        folder.names = {name for name in os.listdir(directory) if not name.startswith(".")}
    except OSError:
        pass
    return folder


def is_sidecar_name(name: str) -> bool:
    """A file the indexer looks at: ``*.json``, not hidden."""
    return name.endswith(".json") and not name.startswith(".")


# Opening a folder that the walk found as a folder: never through a symlink
# swapped in since (O_NOFOLLOW), and its entries stat'ed relative to it.
_OPEN_FOLDER = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
# Listing by file descriptor (POSIX): each sidecar's stat is then an fstatat()
# of its name, not a path the kernel resolves again from "/" (about 10% of a
# no-change sync's walk, notes of issue 18).
_HAS_FD_LISTING = os.scandir in os.supports_fd


def walk_root(
    root: str,
    on_warning: Callable[[str], None] | None = None,
    start: str = "",
    *,
    listing_bytes: int | None = None,
) -> Iterator[Folder]:
    """Yield every folder under ``root`` (a resolved absolute path), top down.

    ``start`` limits the walk to one subfolder (relative, "/"-separated); it
    is not entered if it is a symlink.  Unreadable folders are reported
    through ``on_warning`` and skipped.  With ``listing_bytes``, a folder
    whose directory is bigger than that (its size grows with its entries on
    every common file system) keeps no listing: its ``names`` are only the
    PNG-sequence members (counted from the listing, as a sync does), and the
    readers look other images up on disk.  In Kino's flat layout the names
    of a million frames and images take hundreds of MB.
    """
    if start and os.path.islink(os.path.join(root, start)):
        return
    stack = [start]
    while stack:
        rel = stack.pop()
        path = f"{root}/{rel}" if rel else root
        folder = Folder(rel, root=root)
        try:
            _list(folder, path, stack, listing_bytes)
        except OSError as exc:
            if on_warning is not None:
                on_warning(f"cannot list {path}: {exc.strerror or exc}")
            continue
        yield folder


def _list(folder: Folder, path: str, stack: list[str], listing_bytes: int | None) -> None:
    """Fill ``folder`` from one listing of ``path``; push its subfolders on ``stack``.

    Raises:
        OSError: the folder cannot be opened or listed.
    """
    if not _HAS_FD_LISTING:
        is_listing_names = listing_bytes is None or os.stat(path).st_size <= listing_bytes
        with os.scandir(path) as entries:
            _visit(folder, path, entries, stack, is_listing_names=is_listing_names)
        return
    # The root itself may be reached through a symlink the user named; a
    # subfolder never is (the walk does not enter symlinked folders).
    fd = os.open(path, _OPEN_FOLDER if folder.rel else os.O_RDONLY)
    try:
        is_listing_names = listing_bytes is None or os.fstat(fd).st_size <= listing_bytes
        with os.scandir(fd) as entries:
            _visit(folder, path, entries, stack, is_listing_names=is_listing_names)
    finally:
        os.close(fd)


def _visit(
    folder: Folder,
    path: str,
    entries: Iterator[os.DirEntry[str]],
    stack: list[str],
    *,
    is_listing_names: bool,
) -> None:
    rel = folder.rel
    if is_listing_names:
        folder.listed = []
        add_name = folder.listed.append
    else:
        add_name = _sequence_members_of(folder.names)
    add_sidecar = folder.sidecars.append
    # The hot loop of a no-change sync: kept flat on purpose, and a plain
    # tuple per sidecar (a FileStat is made only for the few files read).
    for entry in entries:
        name = entry.name
        if name[0] == ".":
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                if name.endswith(".json"):
                    st = entry.stat(follow_symlinks=False)
                    add_sidecar((name, st.st_size, st.st_mtime_ns))
                # Named after its stat: a sidecar is listed with its stat or not at
                # all (Folder.listing_digest relies on it).
                add_name(name)
            elif entry.is_dir(follow_symlinks=False):
                stack.append(f"{rel}/{name}" if rel else name)
            elif entry.is_symlink():
                _visit_symlink(entry, f"{path}/{name}", folder, add_name)
        except OSError:
            continue  # vanished meanwhile: the next sync sees the truth


def is_walked_file(root: str, path: str) -> bool:
    """Whether the walk lists ``path`` as a file: a regular file, or a symlink it follows.

    The one rule for "is this file there" (hidden names aside, which the walk
    skips by name): readers use it too, so a rebuild and a sync agree.
    """
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode):
        return _follow_link(path, root)[0] is not None
    return stat.S_ISREG(st.st_mode)


def _follow_link(path: str, root: str) -> tuple[os.stat_result | None, str | None]:
    """What the walk makes of a symlink: its target's stat if it is followed, else why not.

    ``(stat, None)``: a regular file inside ``root``.  ``(None, reason)``: a
    dangling link, a loop, or a file outside the root.  ``(None, None)``: a
    link to a folder, which the walk never enters (and does not report).
    """
    try:
        target = os.path.realpath(path, strict=True)
        st = os.stat(target)
    except (OSError, RuntimeError) as exc:
        is_loop = isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP
        return None, "symlink loop" if is_loop else "dangling symlink"
    if not stat.S_ISREG(st.st_mode):
        return None, None
    if not is_inside(root, target):
        return None, "symlink points outside the library root; not followed"
    return st, None


def _sequence_members_of(names: set[str]) -> Callable[[str], None]:
    def add(name: str) -> None:
        if "_seq_" in name:
            names.add(name)

    return add


def _visit_symlink(
    entry: os.DirEntry[str], path: str, folder: Folder, add_name: Callable[[str], None]
) -> None:
    name = entry.name
    st, reason = _follow_link(path, folder.root)
    if st is None:  # not followed; a sidecar-named one is reported (folders never are)
        if reason is not None and is_sidecar_name(name):
            lst = entry.stat(follow_symlinks=False)
            folder.broken.append(BrokenFile(FileStat(name, lst.st_size, lst.st_mtime_ns), reason))
        return
    add_name(name)
    if is_sidecar_name(name):
        folder.sidecars.append((name, st.st_size, st.st_mtime_ns))
