"""What a sync reports (SyncResult), and the shapes its parts hand each other.

The walk's comparison (``diff.py``), the writer (``writer.py``) and the
sync itself (``sync.py``) use these; keeping them here lets each import the
others' shapes without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kino_catalog.index.walk import FileStat

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ImageUpdates", "SyncResult", "Task", "Writes"]

# A file to read: (folder, stat, id of its frame row or None, has a failure row,
# its image as found in the folder listing or None: see rows.read_frame)
Task = tuple[str, FileStat, "int | None", bool, "tuple[str, bool, int] | None"]


@dataclass
class SyncResult:
    """What one sync or rebuild of one root did."""

    root: str
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    errors: int = 0  # files of this root in error after the run (not indexed)
    warned: int = 0  # frames indexed with a warning (a value left out of its column)
    ignored: int = 0  # other JSON files, not Kino sidecars
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "errors": self.errors,
            "warned": self.warned,
            "ignored": self.ignored,
            "seconds": round(self.seconds, 3),
            "warnings": list(self.warnings),
        }


class ImageUpdates(Protocol):
    """The part of the store a comparison writes to directly: images that came or went."""

    def update_images(self, rows: Sequence[tuple[str, bool, int, int]]) -> None: ...


class Writes(Protocol):
    """Where a comparison sends its writes (writer.Writer; a Protocol keeps diff.py off it)."""

    @property
    def store(self) -> ImageUpdates: ...

    def apply(self, tasks: list[Task], outcomes: list[Any]) -> None: ...

    def remove(self, frame_ids: list[int], failure_keys: list[tuple[str, str]]) -> None: ...

    def settle_listing(self, folder: str, digest: bytes, unchanged: int) -> None: ...

    def settle_when_loaded(self, folder: str, digest: bytes) -> None: ...
