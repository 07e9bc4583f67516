"""How a library folder is recognised wherever it is mounted: its marker file, else its files.

A root's identity is a uuid written in the folder itself, in a small hidden
file (``.kino-catalog-root``), when the root is added.  Every machine that
mounts the folder, at whatever path, reads the same uuid, so it finds the
root it already has instead of indexing the same frames a second time.  A
marker beats a fingerprint of the contents because the contents never stop
changing (Kino adds, deletes and regenerates frames in place): a fingerprint
either drifts or must be fuzzy, and a fuzzy match cannot tell the folder
from a copy or a subset of it.  The marker is hidden (the walk, the watcher
and Kino all skip dot files) and is not JSON-named, so it is never taken for
a sidecar.

A folder where the marker cannot be written (a read-only share) falls back
to a sample of its sidecars: :func:`sample_sidecars` lists a few (folder,
name, size) triples that the registry looks up among the frames of roots
this host has not mapped.  A match stops a second index and names the root
to map; it never maps one by itself, since a copy matches as well.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kino_catalog.index.walk import is_sidecar_name
from kino_catalog.sidecar import write_atomic

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["MARKER_NAME", "Marker", "read_marker", "sample_sidecars", "write_marker"]

MARKER_NAME = ".kino-catalog-root"
_UUID = re.compile(r"^[0-9a-f]{32}$")
_MAX_MARKER_BYTES = 4096
SAMPLE_FILES = 32  # sidecars sampled from an unmarked folder
SAMPLE_FOLDERS = 200  # folders looked into at most while sampling


@dataclass(frozen=True)
class Marker:
    """What a root's marker file says: its uuid (and the name it was given, for people)."""

    uuid: str
    name: str


def read_marker(folder: str) -> Marker | None:
    """The marker in ``folder``; None if there is none or it is damaged (it is then rewritten)."""
    try:
        with open(os.path.join(folder, MARKER_NAME), "rb") as fh:
            data = fh.read(_MAX_MARKER_BYTES)
        doc = json.loads(data)
        uuid = doc["kino_catalog_root"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(uuid, str) or not _UUID.match(uuid):
        return None
    name = doc.get("name")
    return Marker(uuid, name if isinstance(name, str) else "")


def write_marker(folder: str, marker: Marker) -> str | None:
    """Write ``folder``'s marker atomically; the reason it could not be written, or None."""
    text = json.dumps(
        {
            "kino_catalog_root": marker.uuid,
            "name": marker.name,
            "about": "kino-catalog's identity of this library folder: keep it, so that "
            "every machine mounting the folder shares one index of it",
        },
        indent=2,
    )
    try:
        write_atomic(os.path.join(folder, MARKER_NAME), (text + "\n").encode("utf-8"))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def sample_sidecars(root: str) -> list[tuple[str, str, int]]:
    """Up to SAMPLE_FILES sidecars of ``root`` as (folder relative to it, name, size).

    Deterministic (sorted names, shallowest folders first) so two machines
    sample the same files of the same folder.
    """
    found: list[tuple[str, str, int]] = []
    for rel, entries in _folders(root):
        for entry in entries:
            if not is_sidecar_name(entry.name):
                continue
            try:
                if entry.is_file(follow_symlinks=False):
                    found.append((rel, entry.name, entry.stat(follow_symlinks=False).st_size))
            except OSError:
                continue
            if len(found) >= SAMPLE_FILES:
                return found
    return found


def _folders(root: str) -> Iterator[tuple[str, list[os.DirEntry[str]]]]:
    queue = [""]
    for _ in range(SAMPLE_FOLDERS):
        if not queue:
            return
        rel = queue.pop(0)
        try:
            with os.scandir(os.path.join(root, rel) if rel else root) as it:
                entries = sorted(
                    (e for e in it if not e.name.startswith(".")), key=lambda e: e.name
                )
        except OSError:
            continue
        queue += [
            f"{rel}/{e.name}" if rel else e.name for e in entries if e.is_dir(follow_symlinks=False)
        ]
        yield rel, entries
