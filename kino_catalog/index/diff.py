"""What a sync must do, folder by folder: the walk compared with the index.

A folder's rows come from the covering index ``ix_frames_sync`` and are
compared by (size, mtime_ns) with the walk's ``stat``; only new or changed
files become tasks for the readers.  Files and folders that are gone, files
the walk found broken, and images that came or went (image_changes.py) are
applied through the writer as the walk goes.

A whole-root sync skips a folder whose listing digest (walk.Folder.listing_digest)
equals the one stored when an earlier comparison found that folder settled
with nothing to change (table ``folder_listings``): the comparison is a
function of the listing and of the folder's rows, and every write of those
rows deletes the stored digest (store.py), so it would find nothing again.
"""

from __future__ import annotations

import os
import posixpath
import stat as stat_module
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from kino_catalog.index.file_rows import FailedFile
from kino_catalog.index.folder_rows import FolderRows
from kino_catalog.index.image_changes import ImageChanges
from kino_catalog.index.image_location import locate_image, sequence_start
from kino_catalog.index.walk import (
    FileStat,
    Folder,
    StatKey,
    is_sidecar_name,
    list_folder,
    walk_root,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy.engine import Engine

    from kino_catalog.index.result import SyncResult, Task, Writes

__all__ = ["Differ"]

# A bulk load keeps the listing of a folder whose directory is at most this big
# (about 130k entries on ext4, 400k on tmpfs): a few tens of MB of names at most.
BULK_LISTING_BYTES = 8 << 20

# A folder's rows as the bulk comparison (Differ._compare) wants them: equal
# to the walk's FileStat tuples when the file is unchanged.
_FOLDER_ROWS = "SELECT name, size, mtime_ns FROM frames WHERE root_id = ? AND folder = ?"
# A root's folders that hold rows of {table}, by a recursive skip scan of its
# (root_id, folder, ...) index: each step seeks the next folder.
_FOLDERS = (
    "WITH RECURSIVE seen(folder) AS ("
    "SELECT min(folder) FROM {table} WHERE root_id = ? "
    "UNION ALL SELECT (SELECT min(folder) FROM {table} WHERE root_id = ? "
    "AND folder > seen.folder) FROM seen WHERE seen.folder IS NOT NULL) "
    "SELECT folder FROM seen WHERE folder IS NOT NULL"
)
_NAME = itemgetter(0)
_MTIME = itemgetter(2)  # of a (name, size, mtime_ns) listing entry


class Differ:
    """Compares each folder of the walk with the index (a read connection)."""

    def __init__(
        self,
        engine: Engine,
        root_id: int,
        writer: Writes,
        result: SyncResult,
        *,
        is_rebuild: bool,
        chunk_files: int,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        self.chunk_files = chunk_files
        # Called as unchanged files are counted: a no-change sync yields no
        # work at all, and its progress bar would otherwise sit still.
        self.on_progress = on_progress
        self.is_rebuild = is_rebuild  # everything is new: the old rows are already deleted
        self.rows = FolderRows(engine, root_id, is_rebuild=is_rebuild)
        self.images = ImageChanges(self.rows)
        self.root_id = root_id
        self.writer = writer
        self.result = result
        self.seen_folders: set[str] = set()
        # Whether the folder being compared needed no write and no reading.
        self.is_settled = True

    def tasks(self, root: str, scopes: list[str] | None = None) -> Iterator[list[Task]]:
        """Yield chunks of files that need reading: the whole root, or only ``scopes``.

        A scope is a relative path: a folder is synced as a subtree, a file
        (sidecar or image) on its own, whether it exists or not.
        """
        chunk: list[Task] = []
        for task in self._scoped_tasks(root, scopes if scopes is not None else [""]):
            chunk.append(task)
            if len(chunk) >= self.chunk_files:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _scoped_tasks(self, root: str, scopes: list[str]) -> Iterator[Task]:
        files: dict[str, set[str]] = {}
        for scope in scopes:
            path = os.path.join(root, scope)
            is_dir, is_gone = os.path.isdir(path), not os.path.lexists(path)
            if is_dir or is_gone:  # a vanished path may have been a folder
                self.seen_folders.clear()
                if is_dir:
                    # Folder listings: only a whole-root comparison stores or trusts them.
                    listings = self._listings() if scopes == [""] and not self.is_rebuild else None
                    # A bulk load keeps the listings of folders of up to some
                    # 100k entries; the names of bigger ones cost too much memory.
                    for folder in walk_root(
                        root,
                        self.result.warnings.append,
                        start=scope,
                        listing_bytes=BULK_LISTING_BYTES if self.is_rebuild else None,
                    ):
                        self.seen_folders.add(folder.rel)
                        if listings is not None:
                            yield from self._diff_listed_folder(folder, listings)
                        elif self.is_rebuild and scopes == [""]:
                            yield from self._load_folder(folder)
                        else:
                            yield from self._diff_folder(folder)
                self._remove_unseen_folders(scope)
            if not is_dir:
                parent, name = posixpath.split(scope)
                files.setdefault(parent, set()).update(_affected_sidecars(name))
        for parent, names in files.items():
            yield from self._diff_folder(_folder_of(root, parent, names), only=names)

    def _listings(self) -> dict[str, tuple[bytes, int]]:
        """The root's stored folder listings: folder -> (digest, files counted unchanged)."""
        return {
            folder: (bytes(digest), unchanged)
            for folder, digest, unchanged in self.rows.query(
                "SELECT folder, digest, unchanged FROM folder_listings WHERE root_id = ?",
                (self.root_id,),
            )
        }

    def _diff_listed_folder(
        self, folder: Folder, listings: dict[str, tuple[bytes, int]]
    ) -> Iterator[Task]:
        """Skip ``folder`` if its listing is the one stored as settled, else compare it.

        A folder the comparison finds settled (nothing to read, nothing to
        write) gets its listing stored, through the writer's transaction,
        if it lists a sidecar: then it has rows (a frame or an index error
        per sidecar), and whatever drops them when the folder goes drops the
        listing too.  A folder without any costs a few empty queries.
        """
        digest = folder.listing_digest()
        stored = listings.get(folder.rel)
        if stored is not None and stored[0] == digest:
            self._count_unchanged(stored[1])
            return
        before = self.result.unchanged
        yield from self._diff_folder(folder)
        if self.is_settled and (folder.sidecars or folder.broken):
            self.writer.settle_listing(folder.rel, digest, self.result.unchanged - before)

    def _load_folder(self, folder: Folder) -> Iterator[Task]:
        """A bulk load's folder: every file is read, and the listing is kept for the commit.

        The writer stores the digest once the load's rows are in (Writer.
        settle_when_loaded), so the sync after a rebuild or a first sync
        skips the folder instead of comparing it in full once more.  Taken
        before the folder's sidecars are sorted in place.
        """
        # A folder with a sidecar has rows (see _diff_listed_folder); a big one
        # has no listing (see walk_root).
        if folder.listed is not None and (folder.sidecars or folder.broken):
            self.writer.settle_when_loaded(folder.rel, folder.listing_digest())
        # What _diff_folder would find, without its sets and dict of every
        # name: nothing is indexed (the load deleted this root's rows and
        # errors), so every sidecar is new.  Those copies of a flat folder of
        # a million sidecars (Kino's own layout) took a rebuild's peak memory
        # from 0.41 to 0.75 GB (benchmarks/RESULTS.md, stop 28).
        self.is_settled = not folder.sidecars  # _record_broken clears it too
        self._record_broken(folder, {b.stat.name: b for b in folder.broken}, {}, {})
        # Oldest first, as the load will number them.  On SQLite its copy looks
        # the staged rows up in generation-time order, and rows staged in about
        # that order are read from pages still in cache instead of from all over
        # the staging files (copy 2.0 -> 1.3 s at 100k); on PostgreSQL, where
        # each chunk's new frames are numbered by time (writer.py), ids follow
        # time more closely.  Kino writes a sidecar when it makes the frame, so
        # its mtime is close to its timestamp; where it is not (copied files),
        # the order is only no better.  In place (a flat folder of a million
        # names needs no second list) and stable.
        folder.sidecars.sort(key=_MTIME)
        for stat in folder.sidecars:
            yield self._task(folder, FileStat._make(stat), None, False)

    def _diff_folder(self, folder: Folder, only: set[str] | None = None) -> Iterator[Task]:
        self.is_settled = True
        broken = {b.stat.name: b for b in folder.broken}
        failed = {
            name: (size, mtime)
            for name, size, mtime in self.rows.query(
                "SELECT name, size, mtime_ns FROM index_errors WHERE root_id = ? AND folder = ?",
                (self.root_id, folder.rel),
            )
            if only is None or name in only
        }
        if failed:
            listed = set(map(_NAME, folder.sidecars))
            gone_failures = [
                (folder.rel, name) for name in failed if name not in listed and name not in broken
            ]
        else:
            gone_failures = []
        # What is left of ``fresh`` after the comparison is new or changed.
        fresh, stale = self._compare(folder, only)
        # A few files: by name (walking the whole listing again costs more
        # than all else a no-change sync does with a folder's errors).
        listed_fresh = folder.sidecars if len(fresh) == len(folder.sidecars) else sorted(fresh)
        listing = {s[0]: FileStat._make(s) for s in listed_fresh}
        gone_frames: list[int] = []
        broken_frames: dict[str, int] = {}
        changed: list[tuple[FileStat, int]] = []
        settled = set(listing).union(stale)
        for row in self.images.suspects(folder, only, settled):
            self.images.check(folder, row[1], row)
        for row in self.rows.named(folder.rel, stale):
            name = row[1]
            stat = listing.pop(name, None)
            if stat is None:
                if name in broken:
                    broken_frames[name] = row[0]
                else:
                    gone_frames.append(row[0])
            else:
                changed.append((stat, row[0]))
        if gone_frames or gone_failures:
            self.is_settled = False
            self.writer.remove(gone_frames, gone_failures)
        self._record_broken(folder, broken, broken_frames, failed)
        for stat, frame_id in changed:
            self.is_settled = False
            yield self._task(folder, stat, frame_id, stat.name in failed)
        for stat in listing.values():  # no frame row: new, or a file that failed before
            failure = failed.get(stat.name)
            if failure != (stat.size, stat.mtime_ns):  # else the same bad file as last time
                self.is_settled = False
                yield self._task(folder, stat, None, failure is not None)
        self._flush_image_updates()

    def _compare(self, folder: Folder, only: set[str] | None) -> tuple[set[StatKey], list[str]]:
        """Compare a folder's index rows with its listing in bulk: ``(fresh, stale)``.

        The hot path of a no-change sync, done with set operations and C
        iterators so that an unchanged file costs no Python bytecode:

        - ``fresh``: the listed files no row matches by (name, size, mtime_ns):
          new or changed;
        - ``stale``: names of rows no listed file matches (changed, gone, or
          broken now), among the files this comparison is about.

        One symmetric difference per batch of rows (each unchanged file is
        looked up once, not once per side); what it leaves is told apart
        by asking the index about those few names: a row is stale exactly
        when the index holds that very (name, size, mtime_ns).
        """
        unmatched = set(folder.sidecars)
        if only is None:
            batches = self.rows.batches(_FOLDER_ROWS, (self.root_id, folder.rel))
        else:  # a few files of a folder (the watcher's): their rows, not the folder's
            batches = iter([[row[1:4] for row in self.rows.named(folder.rel, sorted(only))]])
        for batch in batches:
            before = len(unmatched)
            unmatched.symmetric_difference_update(batch)
            self._count_unchanged((before + len(batch) - len(unmatched)) // 2)
        if not unmatched:
            return unmatched, []
        names = sorted({key[0] for key in unmatched})
        indexed = {row[1:4] for row in self.rows.named(folder.rel, names)}
        stale = [name for name, _, _ in unmatched & indexed if only is None or name in only]
        return unmatched - indexed, stale

    def _count_unchanged(self, count: int) -> None:
        self.result.unchanged += count
        if count and self.on_progress is not None:
            self.on_progress()

    @staticmethod
    def _task(folder: Folder, stat: FileStat, frame_id: int | None, has_failure: bool) -> Task:
        # The listing answers "is the same-stem PNG there?" for free; only
        # that first choice of locate_image is certain without the JSON.
        png = stat.name[:-5] + ".png"
        hint = None
        if png in folder.names:
            hint = (
                (png, True, 1)
                if "_seq_" not in png
                else locate_image(stat.name, None, folder.has_file, folder.count_sequence)
            )
        return (folder.rel, stat, frame_id, has_failure, hint)

    def _record_broken(
        self,
        folder: Folder,
        broken: dict[str, Any],
        frame_ids: dict[str, int],
        failed: dict[str, Any],
    ) -> None:
        fresh = [
            b for name, b in broken.items() if failed.get(name) != (b.stat.size, b.stat.mtime_ns)
        ]
        if not fresh:
            return
        self.is_settled = False
        tasks: list[Task] = [
            (folder.rel, b.stat, frame_ids.get(b.stat.name), b.stat.name in failed, None)
            for b in fresh
        ]
        self.writer.apply(
            tasks,
            [
                FailedFile(folder.rel, b.stat.name, b.stat.size, b.stat.mtime_ns, "error", b.reason)
                for b in fresh
            ],
        )

    def _remove_unseen_folders(self, scope: str) -> None:
        """Drop rows of folders under ``scope`` that the walk did not see (deleted)."""
        prefix = scope + "/"
        where = "root_id = ?"
        params: tuple[Any, ...] = (self.root_id,)
        if scope:
            where += " AND (folder = ? OR substr(folder, 1, ?) = ?)"
            params += (scope, len(prefix), prefix)
        for table, key in (("frames", "id"), ("index_errors", "folder, name")):
            # Folders first (a handful of rows), rows only for the vanished
            # ones: a no-change sync fetches nothing.  For the whole root, one
            # index seek per folder (_FOLDERS); DISTINCT would read an index
            # entry per row (8 ms at 100k frames).
            sql = (
                _FOLDERS.format(table=table)
                if not scope
                else f"SELECT DISTINCT folder FROM {table} WHERE {where}"
            )
            folders = [row[0] for row in self.rows.query(sql, params * (1 if scope else 2))]
            for gone in (folder for folder in folders if folder not in self.seen_folders):
                rows = self.rows.query(
                    f"SELECT {key} FROM {table} WHERE root_id = ? AND folder = ?",
                    (self.root_id, gone),
                )
                if table == "frames":
                    self.writer.remove([row[0] for row in rows], [])
                else:
                    self.writer.remove([], [(row[0], row[1]) for row in rows])

    def _flush_image_updates(self) -> None:
        if updates := self.images.take():
            self.is_settled = False
            self.writer.store.update_images(updates)

    def close(self) -> None:
        self.rows.close()


def _affected_sidecars(name: str) -> set[str]:
    """The sidecar names whose index rows a change to file ``name`` can affect."""
    stem, suffix = os.path.splitext(name)
    if suffix == ".json":
        return {name}
    names = {stem + ".json"}
    first = sequence_start(stem + ".json")
    if first:  # any frame of a PNG sequence belongs to the sidecar beside frame 0
        names.add(first)
    return names


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
