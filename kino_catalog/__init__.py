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

from kino_catalog.errors import (
    CatalogError,
    CatalogMissingError,
    KinoError,
    KinoServerError,
    KinoUnreachableError,
    NotASidecarError,
    QueryError,
    RootBusyError,
    RootLockLostError,
    RootNotMappedError,
    SidecarError,
    SidecarLimitError,
    SidecarParseError,
    SidecarSchemaError,
    SubmitError,
    UsageError,
)

if TYPE_CHECKING:
    from kino_catalog.catalog import Catalog
    from kino_catalog.index.result import SyncResult
    from kino_catalog.query.frame import Frame
    from kino_catalog.watch.watcher import Watcher

__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogMissingError",
    "Frame",
    "KinoError",
    "KinoServerError",
    "KinoUnreachableError",
    "NotASidecarError",
    "QueryError",
    "RootBusyError",
    "RootLockLostError",
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


#: Imported on first use (PEP 562): `import kino_catalog.cli` for `kino-catalog
#: --help` must not load SQLAlchemy, and Watcher loads watchdog, which every
#: non-watching command can do without.
_LAZY = {
    "Catalog": "kino_catalog.catalog",
    "Frame": "kino_catalog.query.frame",
    "SyncResult": "kino_catalog.index.result",
    "Watcher": "kino_catalog.watch.watcher",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kino_catalog' has no attribute {name!r}")
