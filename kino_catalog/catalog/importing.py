"""``Catalog.import_images``: write sidecars for other tools' images, then index them.

The importers (``kino_catalog.importers``) only write files; this service
decides which library folder each image belongs to and indexes what was
written through the indexer's normal paths: a folder inside an indexed
root is synced path by path, any other folder named becomes a root of its
own and is synced whole (like ``sync``), so the frames are there right after.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kino_catalog.errors import UsageError
from kino_catalog.importers import ImportReport, import_paths
from kino_catalog.index import sync as indexer
from kino_catalog.sidecar.files import is_inside

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sqlalchemy.engine import Engine

    from kino_catalog.index.locks import WriteAccess
    from kino_catalog.index.result import SyncResult

__all__ = ["ImportResult", "import_images"]


@dataclass
class ImportResult:
    """What an import wrote (``report``) and what indexing it did (``indexed``)."""

    report: ImportReport
    indexed: list[SyncResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**self.report.as_dict(), "indexed": [r.as_dict() for r in self.indexed]}


def import_images(
    engine: Engine,
    access: WriteAccess,
    known_roots: list[str],
    paths: Iterable[str | os.PathLike[str]],
    *,
    dry_run: bool = False,
    overwrite_imported: bool = False,
    stealth: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
) -> ImportResult:
    """Import the images under ``paths`` and index their sidecars (not with ``dry_run``).

    Raises:
        UsageError: a path does not exist, or would nest one library folder in another.
    """
    named = [os.path.realpath(os.path.expanduser(os.fspath(p))) for p in paths]
    if not named:
        raise UsageError("give at least one image or folder to import")
    try:
        report = import_paths(
            named,
            dry_run=dry_run,
            overwrite_imported=overwrite_imported,
            stealth=stealth,
            progress=progress,
        )
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from exc
    result = ImportResult(report)
    if dry_run:
        return result
    new_roots, in_known = _plan(named, known_roots, report.sidecars)
    for root, sidecars in in_known.items():
        result.indexed.append(indexer.sync_paths(engine, root, sidecars, access=access))
    for root in new_roots:
        result.indexed.append(indexer.sync_root(engine, root, access=access))
    return result


def _inside(path: str, root: str) -> bool:
    return path == root or is_inside(root, path)


def _plan(
    named: list[str], known_roots: list[str], sidecars: list[str]
) -> tuple[list[str], dict[str, list[str]]]:
    """New roots to sync whole, and the sidecars to sync in each known root."""
    in_known: dict[str, list[str]] = {}
    for sidecar in sidecars:
        root = next((r for r in known_roots if _inside(sidecar, r)), None)
        if root is not None:
            in_known.setdefault(root, []).append(sidecar)
    candidates = sorted(
        {
            path if os.path.isdir(path) else os.path.dirname(path)
            for path in named
            if not any(_inside(path, r) for r in known_roots)
        }
    )
    new_roots: list[str] = []
    for folder in candidates:  # sorted: a folder comes before the ones inside it
        if not any(_inside(folder, r) for r in new_roots):
            new_roots.append(folder)
    return new_roots, in_known
