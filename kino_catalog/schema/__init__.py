"""The catalogue's tables, as SQLAlchemy metadata (the migrations create them)."""

from kino_catalog.schema.models import (
    Base,
    FolderListing,
    Frame,
    FrameDocument,
    IndexFailure,
    Lora,
    Parameter,
    Project,
    Root,
    RootMount,
    Tag,
    metadata,
)

__all__ = [
    "Base",
    "FolderListing",
    "Frame",
    "FrameDocument",
    "IndexFailure",
    "Lora",
    "Parameter",
    "Project",
    "Root",
    "RootMount",
    "Tag",
    "metadata",
]
