"""Which unchanged frames' images came, went or changed, told from the folder listing.

A sidecar that did not change is not read again, but its image may have:
a PNG deleted, a PNG sequence grown, a JPEG put where none was.  Reading
every document again would cost what the no-change sync saves, so the
listing settles nearly all rows in bulk (SQL conditions, C-level set
operations) and only the few it cannot are looked at one by one, the way
a reader would locate the image (image_location.locate_image).
"""

from __future__ import annotations

from itertools import chain, filterfalse, repeat
from operator import add, itemgetter
from typing import TYPE_CHECKING, Any

from kino_catalog.errors import SidecarError
from kino_catalog.index.image_location import IMAGE_SUFFIXES, locate_image
from kino_catalog.sidecar import loads_exact
from kino_catalog.sidecar.record import parse_record

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kino_catalog.index.folder_rows import FolderRows
    from kino_catalog.index.walk import Folder

__all__ = ["SCAN_ABOVE_NAMES", "ImageChanges", "ImageUpdate"]

SCAN_ABOVE_NAMES = 2_000  # more names than this: scan the folder's rows instead
# The rows whose image is anything but the sidecar's own PNG ("x.json" ->
# "x.png"), present, alone (not a PNG sequence): the only ones whose image an
# unchanged listing may change (other than by taking that PNG away).
_PLAIN = (
    "coalesce(image_exists AND image_count = 1 "
    "AND image_name = substr(name, 1, length(name) - 5) || '.png' "
    "AND replace(image_name, '_seq_', '') = image_name, FALSE)"
)
# Of those, what settles most in bulk (see ImageChanges._odd_images); the rest
# are looked at one by one.
_ODD_IMAGES = (
    "SELECT image_name, image_count, name "
    f"FROM frames WHERE root_id = ? AND folder = ? AND image_exists AND NOT {_PLAIN}"
)
_PLAIN_ROWS = (
    "SELECT id, name, size, mtime_ns, image_name, image_exists, image_count "
    f"FROM frames WHERE root_id = ? AND folder = ? AND image_exists AND {_PLAIN}"
)
# Rows without an image: settled in bulk while none of their candidates is listed.
_NO_IMAGE = (
    "SELECT name, image_name FROM frames WHERE root_id = ? AND folder = ? AND NOT image_exists"
)
_NAME = itemgetter(0)
_IMAGE_OF_NAME = itemgetter(1)  # of a (name, image_name) row
_STEM = itemgetter(slice(None, -len(".json")))
ImageUpdate = tuple[str, bool, int, int]  # (image_name, exists, count, frame_id)


class ImageChanges:
    """Finds the rows whose image changed; collects their updates for the writer."""

    def __init__(self, rows: FolderRows) -> None:
        self.rows = rows
        self.updates: list[ImageUpdate] = []

    def suspects(
        self, folder: Folder, only: set[str] | None, settled: set[str]
    ) -> Iterator[tuple[Any, ...]]:
        """Whole rows (FolderRows.named) of the unchanged files whose image may have changed.

        Rows whose image is not their own PNG ("x.json" -> "x.png", one
        image, not a PNG sequence) say so in SQL; of the others, only those
        whose PNG is gone from the listing (found in C, no per-file Python).
        ``settled``: names that are re-read or dropped anyway.
        """
        if self.rows.is_rebuild:
            return
        names = folder.names
        if only is not None:  # a few files (the watcher's): each one is looked at
            yield from self.rows.named(folder.rel, sorted(only - settled))
            return
        missing = list(
            filterfalse(
                names.__contains__,
                map(add, map(_STEM, map(_NAME, folder.sidecars)), repeat(".png")),
            )
        )
        rows = chain(
            self._odd_images(folder),
            self._imageless_rows(folder),
            self._plain_rows_named(folder, [png[: -len(".png")] + ".json" for png in missing]),
        )
        for row in rows:
            if row[1] not in settled:
                yield row

    def _plain_rows_named(self, folder: Folder, names: list[str]) -> Iterator[tuple[Any, ...]]:
        """The rows of ``names`` whose image is their own PNG (see _PLAIN).

        Looked up by name when they are few; when many sidecars have no PNG
        beside them (a library whose images live elsewhere), one scan of the
        folder's rows with such an image, which are then few or none, costs
        less than thousands of look-ups.
        """
        if len(names) <= SCAN_ABOVE_NAMES:
            yield from self.rows.named(folder.rel, names, _PLAIN)
            return
        wanted = set(names)
        for batch in self.rows.batches(_PLAIN_ROWS, (self.rows.root_id, folder.rel)):
            yield from (row for row in batch if row[1] in wanted)

    def _odd_images(self, folder: Folder) -> Iterator[tuple[Any, ...]]:
        """Whole rows of those with an image that is not plain (see _PLAIN) to look at.

        Most are the first image of a PNG sequence (``x_seq_000.json`` ->
        ``x_seq_000.png``): such a row keeps its state while the listing
        holds that image and as many images of its sequence, which one
        count of the folder's sequences settles for all of them (counting
        per row was a fifth of a no-change sync at 100k with 10% sequences).
        """
        starts: set[tuple[str, int]] | None = None
        unsettled: list[str] = []
        for batch in self.rows.batches(_ODD_IMAGES, (self.rows.root_id, folder.rel)):
            if starts is None:
                starts = folder.sequence_starts()
            unsettled += [
                name
                for image, count, name in batch
                if (image, count) not in starts or image != name[:-5] + ".png"
            ]
        # Looked up once the scan is over: a query must not run while its cursor is open.
        yield from self.rows.named(folder.rel, unsettled)

    def _imageless_rows(self, folder: Folder) -> Iterator[tuple[Any, ...]]:
        """The rows without an image that may have one now, batch by batch.

        Such a row keeps its state unless one of locate_image's candidates
        (its own PNG, the file named in ``output.filename``, which is the
        image name recorded, its own JPEG or WebP) is listed now: one C-level
        ``isdisjoint`` settles a whole batch (a library whose images live
        elsewhere has a million such rows).
        """
        names = folder.names
        unsettled: list[str] = []
        for batch in self.rows.batches(_NO_IMAGE, (self.rows.root_id, folder.rel)):
            stems = list(map(_STEM, map(_NAME, batch)))
            candidates = chain(
                map(_IMAGE_OF_NAME, batch),
                *(map(add, stems, repeat(suffix)) for suffix in IMAGE_SUFFIXES),
            )
            if names.isdisjoint(candidates):
                continue
            unsettled += map(_NAME, batch)
        # Looked up once the scan is over: a query must not run while its cursor is open.
        yield from self.rows.named(folder.rel, unsettled)

    def check(self, folder: Folder, name: str, frame: tuple[Any, ...]) -> None:
        """Locate the image of an unchanged sidecar again; note an update if it moved."""
        frame_id, _, _, _, image, exists, count = frame
        own_png = name[:-5] + ".png"
        named = image  # output.filename's base, unless the sidecar's own PNG was found
        if exists and image == own_png:
            if image in folder.names:
                # locate_image's first choice is still there (the common case): only
                # a PNG sequence can have changed, by its number of images.
                if count == (folder.sequence_size(image) or 1):
                    return
            else:  # gone: the next choice is the file output.filename names
                named = self._output_filename(folder, name, frame_id)
        found = locate_image(name, named, folder.has_file, folder.count_sequence)
        if found != (image, bool(exists), count):
            self.updates.append((*found, frame_id))

    def _output_filename(self, folder: Folder, name: str, frame_id: int) -> str | None:
        """``output.filename`` as the frame's document holds it (read as a reader reads it).

        The frames row keeps only the image found, so when that was the
        sidecar's own PNG, the name Kino wrote is in the document alone.
        """
        rows = self.rows.query(
            "SELECT raw_json FROM frame_documents WHERE frame_id = ?", (frame_id,)
        )
        if not rows:
            return None
        path = f"{folder.rel}/{name}"
        try:
            return parse_record(loads_exact(rows[0][0].encode(), path), path).output_filename
        except SidecarError:  # it was indexed, so it parses; if not, no second choice
            return None

    def take(self) -> list[ImageUpdate]:
        """The updates found since the last call (the caller writes them)."""
        updates, self.updates = self.updates, []
        return updates
