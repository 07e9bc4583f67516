"""Importing many images: the walk, two worker processes, and the tally.

Each image is independent, so a big batch is split between processes (fork,
as the indexer does, and only while no other thread runs).  The tally keeps
counts per format and every error with its image path.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from kino_catalog.importers.container import IMAGE_SUFFIXES
from kino_catalog.importers.image import FAILED, UNCHANGED, WRITTEN, ImageOutcome, import_images

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

__all__ = ["ImportReport", "find_images", "import_paths"]

PARALLEL_MIN_IMAGES = 64  # below this, starting processes costs more than it saves
CHUNK_IMAGES = 64  # images per worker task; their sidecars are flushed to disk together


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    dry_run: bool = False
    images: int = 0
    written: Counter[str] = field(default_factory=Counter)  # format -> sidecars written
    unchanged: int = 0  # imported before with the same result
    already_imported: int = 0
    kept_existing: int = 0  # a sidecar not written by import was there
    no_metadata: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)  # {"path", "reason"}
    sidecars: list[str] = field(default_factory=list)  # written or unchanged, to index

    def add(self, outcome: ImageOutcome) -> None:
        self.images += 1
        if outcome.status in (WRITTEN, UNCHANGED):
            if outcome.status == WRITTEN:
                self.written[outcome.format or "unknown"] += 1
            else:
                self.unchanged += 1
            assert outcome.sidecar is not None
            self.sidecars.append(outcome.sidecar)
        elif outcome.status == "already_imported":
            self.already_imported += 1
        elif outcome.status == "kept_existing":
            self.kept_existing += 1
        elif outcome.status == "no_metadata":
            self.no_metadata += 1
        if outcome.has_error or outcome.status == FAILED:
            self.errors.append({"path": outcome.image, "reason": outcome.reason or "error"})

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "images": self.images,
            "written": dict(sorted(self.written.items())),
            "unchanged": self.unchanged,
            "already_imported": self.already_imported,
            "kept_existing": self.kept_existing,
            "no_metadata": self.no_metadata,
            "errors": list(self.errors),
        }


def find_images(paths: Iterable[str | os.PathLike[str]]) -> Iterator[str]:
    """Image files named, or found under folders named (hidden entries, symlinked folders skipped).

    Raises:
        FileNotFoundError: a named path does not exist.
    """
    for given in paths:
        path = os.path.abspath(os.fspath(given))
        if os.path.isdir(path):
            yield from _walk(path)
        elif os.path.isfile(path):
            yield path
        else:
            raise FileNotFoundError(f"no such file or folder: {os.fspath(given)}")


def _walk(root: str) -> Iterator[str]:
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(entry.path)
            elif (
                entry.is_file(follow_symlinks=False)
                and os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES
            ):
                yield entry.path
        stack.extend(reversed(subfolders))


def _import_chunk(
    paths: list[str], *, dry_run: bool, overwrite_imported: bool, stealth: bool
) -> list[ImageOutcome]:
    return import_images(
        paths, dry_run=dry_run, overwrite_imported=overwrite_imported, stealth=stealth
    )


def import_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    dry_run: bool = False,
    overwrite_imported: bool = False,
    stealth: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
) -> ImportReport:
    """Import every image under ``paths``; a bad image never stops the batch.

    Raises:
        FileNotFoundError: a named path does not exist (before anything is written).
    """
    images = list(find_images(paths))
    report = ImportReport(dry_run=dry_run)
    chunks = [images[i : i + CHUNK_IMAGES] for i in range(0, len(images), CHUNK_IMAGES)]
    work = partial(
        _import_chunk, dry_run=dry_run, overwrite_imported=overwrite_imported, stealth=stealth
    )
    if len(images) >= PARALLEL_MIN_IMAGES and threading.active_count() == 1:
        # Fork: spawn would re-import __main__ (user scripts without a main guard).
        with ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as pool:
            results: Iterable[list[ImageOutcome]] = pool.map(work, chunks)
            _tally(report, results, len(images), progress)
    else:
        _tally(report, map(work, chunks), len(images), progress)
    return report


def _tally(
    report: ImportReport,
    results: Iterable[list[ImageOutcome]],
    total: int,
    progress: Callable[[int, int | None], None] | None,
) -> None:
    for outcomes in results:
        for outcome in outcomes:
            report.add(outcome)
        if progress is not None:
            progress(report.images, total)
