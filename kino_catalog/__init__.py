"""kino-catalog: search, regenerate and report on Kino generation-parameter sidecars.

The library is the product; the command line is a thin shell over it::

    from kino_catalog import Catalog

    with Catalog.open("catalog.db") as cat:
        cat.sync("/data/frames")
        for frame in cat.search("lora:add_detail steps:20..30", limit=50):
            print(frame.image_path)
"""

from kino_catalog.catalog import Catalog
from kino_catalog.errors import (
    CatalogError,
    KinoError,
    KinoServerError,
    KinoUnreachableError,
    QueryError,
    SidecarError,
    SidecarParseError,
    SidecarSchemaError,
    SubmitError,
    UsageError,
)
from kino_catalog.index.result import SyncResult
from kino_catalog.query.frame import Frame

__all__ = [
    "Catalog",
    "CatalogError",
    "Frame",
    "KinoError",
    "KinoServerError",
    "KinoUnreachableError",
    "QueryError",
    "SidecarError",
    "SidecarParseError",
    "SidecarSchemaError",
    "SubmitError",
    "SyncResult",
    "UsageError",
]
__version__ = "0.1.0"
