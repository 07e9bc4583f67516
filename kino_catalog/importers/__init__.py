"""Importing other tools' image metadata as Kino-shaped sidecars (DESIGN §11, issue 17).

``import_paths`` reads A1111/Forge/SD.Next, Civitai, ComfyUI, InvokeAI,
NovelAI, Fooocus and SwarmUI metadata from PNG chunks and JPEG/WebP EXIF,
never decoding pixels (except A1111 "stealth" metadata, on request), and
writes ``<image>.json`` beside each image.  Indexing those sidecars is the
catalogue's job (``Catalog.import_images``).
"""

from __future__ import annotations

from kino_catalog.importers.batch import ImportReport, find_images, import_paths
from kino_catalog.importers.document import IMPORTER_VERSION
from kino_catalog.importers.image import ImageOutcome, import_image

__all__ = [
    "IMPORTER_VERSION",
    "ImageOutcome",
    "ImportReport",
    "find_images",
    "import_image",
    "import_paths",
]
