"""kino-catalog: search, regenerate and report on Kino generation-parameter sidecars.

The library is the product; the command line is a thin shell over it::

    from kino_catalog import Catalog

    with Catalog.open("catalog.db") as cat:
        cat.sync("/data/frames")
        for frame in cat.search("lora:add_detail steps:20..30", limit=50):
            print(frame.image_path)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kino_catalog.catalog import Catalog
from kino_catalog.errors import (
    CatalogError,
    KinoError,
    KinoServerError,
    KinoUnreachableError,
    NotASidecarError,
    QueryError,
    RootBusyError,
    RootNotMappedError,
    SidecarError,
    SidecarLimitError,
    SidecarParseError,
    SidecarSchemaError,
    SubmitError,
    UsageError,
)
from kino_catalog.index.result import SyncResult
from kino_catalog.query.frame import Frame

if TYPE_CHECKING:
    from kino_catalog.watch.watcher import Watcher

__all__ = [
    "Catalog",
    "CatalogError",
    "Frame",
    "KinoError",
    "KinoServerError",
    "KinoUnreachableError",
    "NotASidecarError",
    "QueryError",
    "RootBusyError",
    "RootNotMappedError",
    "SidecarError",
    "SidecarLimitError",
    "SidecarParseError",
    "SidecarSchemaError",
    "SubmitError",
    "SyncResult",
    "UsageError",
    "Watcher",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Watcher is imported on first use: it loads watchdog, which `kino-catalog
    # --help` and every non-watching command can do without.
    if name == "Watcher":
        from kino_catalog.watch.watcher import Watcher

        return Watcher
    raise AttributeError(f"module 'kino_catalog' has no attribute {name!r}")
