"""Importing one image: read its metadata, build its sidecar, write it unless a sidecar wins.

The image is only ever read.  A sidecar already beside it is replaced only
when it was written by an import and ``overwrite_imported`` is set (Kino's
own sidecars, and files that are not readable sidecars, are left alone), and
the replacement is atomic and re-checks just before the rename that nobody
else wrote the sidecar meanwhile.  Rewriting identical bytes is skipped, so a
second import changes nothing on disk.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from kino_catalog.errors import SidecarParseError
from kino_catalog.importers.container import MAX_IMAGE_BYTES, read_container
from kino_catalog.importers.dispatch import detect
from kino_catalog.importers.document import build_document, encode_checked
from kino_catalog.importers.stealth import read_stealth
from kino_catalog.sidecar.files import write_atomic_many
from kino_catalog.sidecar.kino import (
    MAX_SIDECAR_BYTES,
    get_params_path,
    loads_exact,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ImageOutcome", "ImageRead", "import_image", "import_images", "read_image"]

# Outcome statuses.
WRITTEN, UNCHANGED, NO_METADATA, KEPT, ALREADY, FAILED = (
    "written",
    "unchanged",
    "no_metadata",
    "kept_existing",
    "already_imported",
    "error",
)


@dataclass(frozen=True)
class ImageOutcome:
    """What importing one image did; picklable (it crosses from worker processes)."""

    image: str
    status: str
    format: str | None = None
    sidecar: str | None = None
    reason: str | None = None  # the error, or a note on why it was skipped
    has_error: bool = False  # a sidecar was written, but with a listed metadata error


@dataclass(frozen=True)
class ImageRead:
    """One image's sidecar document, or why there is none (``status`` NO_METADATA/FAILED)."""

    document: dict[str, Any] | None
    format: str | None = None
    status: str = WRITTEN
    reason: str | None = None


def read_image(path: str, *, stealth: bool = False) -> ImageRead:
    """Read one image's metadata into its sidecar document; never raises for a bad file."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_size > MAX_IMAGE_BYTES:
                size = f"{st.st_size / 1e6:.0f} MB"
                return ImageRead(None, status=FAILED, reason=f"image is {size}, over the limit")
            data = fh.read()
    except OSError as exc:
        return ImageRead(None, status=FAILED, reason=f"cannot read: {exc.strerror or exc}")
    try:
        box = read_container(data)
    except ValueError as exc:
        return ImageRead(None, status=FAILED, reason=str(exc))
    entries = box.entries
    if stealth and not entries:  # the pixels are decoded only when asked, and only then
        try:
            text = read_stealth(data)
        except ValueError as exc:
            return ImageRead(None, status=FAILED, reason=str(exc))
        if text:
            entries = {"stealth": text}
    found = detect(entries)
    if found is None:
        if box.problems:  # damage, and nothing readable before it
            return ImageRead(None, status=FAILED, reason="; ".join(box.problems))
        return ImageRead(None, status=NO_METADATA)
    problems = [p for p in (found.error, *box.problems) if p]
    doc = build_document(
        image_path=os.path.abspath(path),
        image_name=os.path.basename(path),
        fmt=found.format,
        parsed=found.parsed,
        timestamp=_file_time(st.st_mtime),
        raw=entries,
        sha256=hashlib.sha256(data).hexdigest(),
        error="; ".join(problems) or None,
    )
    return ImageRead(doc, found.format)


def import_image(
    path: str, *, overwrite_imported: bool = False, dry_run: bool = False, stealth: bool = False
) -> ImageOutcome:
    """Import one image; never raises for a bad file (its outcome says why)."""
    return import_images(
        [path], overwrite_imported=overwrite_imported, dry_run=dry_run, stealth=stealth
    )[0]


def import_images(
    paths: Sequence[str],
    *,
    overwrite_imported: bool = False,
    dry_run: bool = False,
    stealth: bool = False,
) -> list[ImageOutcome]:
    """Import several images, their sidecars flushed to disk together (write_atomic_many)."""
    planned = [_plan(path, overwrite_imported, stealth) for path in paths]
    writes = [(o, data, before) for o, data, before in planned if data is not None]
    if dry_run or not writes:
        return [outcome for outcome, _, _ in planned]
    done = write_atomic_many(
        [
            (o.sidecar or "", data, partial(_is_unchanged, o.sidecar or "", before))
            for o, data, before in writes
        ]
    )
    refused = {id(o) for (o, _, _), is_written in zip(writes, done, strict=True) if not is_written}
    return [
        replace(o, status=KEPT, reason="the sidecar was written by someone else meanwhile")
        if id(o) in refused
        else o
        for o, _, _ in planned
    ]


def _is_unchanged(sidecar: str, before: bytes | None) -> bool:
    return _read(sidecar) == before


def _plan(
    path: str, overwrite_imported: bool, stealth: bool
) -> tuple[ImageOutcome, bytes | None, bytes | None]:
    """(outcome if written, bytes to write or None, the sidecar's bytes before)."""
    sidecar = get_params_path(path)
    png = os.path.splitext(path)[0] + ".png"
    if png != path and os.path.isfile(png):
        # photo.png and photo.jpg would share photo.json; the catalogue reads a
        # sidecar as the same-stem PNG's, so the PNG alone may have it.
        return _failed(path, f"{os.path.basename(png)} beside it owns the sidecar name"), None, None
    existing = _existing(sidecar)
    if existing is not None and existing[2] not in (None, os.path.basename(path)):
        reason = f"its sidecar name is taken by {existing[2]} (one sidecar per file stem)"
        return _failed(path, reason), None, None
    if existing is not None and not (existing[1] is True and overwrite_imported):
        status = ALREADY if existing[1] is True else KEPT
        return (
            ImageOutcome(path, status, sidecar=sidecar, reason=_why_kept(existing[1])),
            None,
            None,
        )
    read = read_image(path, stealth=stealth)
    if read.document is None:
        is_failed = read.status == FAILED
        outcome = ImageOutcome(
            path, read.status, read.format, reason=read.reason, has_error=is_failed
        )
        return outcome, None, None
    try:
        encoded = encode_checked(read.document, sidecar)
    except ValueError as exc:
        return _failed(path, str(exc), read.format), None, None
    error = read.document["imported"].get("error")
    before = existing[0] if existing is not None else None
    if before == encoded:
        return ImageOutcome(path, UNCHANGED, read.format, sidecar, error, bool(error)), None, None
    return ImageOutcome(path, WRITTEN, read.format, sidecar, error, bool(error)), encoded, before


def _failed(path: str, reason: str, fmt: str | None = None) -> ImageOutcome:
    return ImageOutcome(path, FAILED, fmt, reason=reason, has_error=True)


def _why_kept(is_imported: bool | None) -> str:
    if is_imported is None:
        return "a sidecar that is not readable JSON is beside it: left alone"
    if is_imported:
        return "imported before (use --overwrite-imported to redo)"
    return "a sidecar not written by import is beside it: left alone"


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_SIDECAR_BYTES + 1)
    except FileNotFoundError:
        return None


def _existing(sidecar: str) -> tuple[bytes, bool | None, str | None] | None:
    """The sidecar beside the image, if any: its bytes, whether import wrote it (None:
    unreadable), and the image an imported sidecar describes.
    """
    try:
        data = _read(sidecar)
    except OSError:
        return b"", None, None
    if data is None:
        return None
    try:
        doc: Any = loads_exact(data, sidecar)
    except SidecarParseError:
        return data, None, None
    if not (isinstance(doc, dict) and isinstance(doc.get("imported"), dict)):
        return data, False, None
    output = doc.get("output")
    name = output.get("filename") if isinstance(output, dict) else None
    return data, True, name if isinstance(name, str) else None


def _file_time(mtime: float) -> str:
    return dt.datetime.fromtimestamp(mtime).strftime("%Y%m%d_%H%M%S")
