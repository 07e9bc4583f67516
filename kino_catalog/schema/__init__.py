"""The catalogue's tables, as SQLAlchemy metadata (the migrations create them)."""

from kino_catalog.schema.models import (
    folder_listings_table,
    frame_documents_table,
    frames_table,
    index_errors_table,
    loras_table,
    metadata,
    parameters_table,
    projects_table,
    root_mounts_table,
    roots_table,
    tags_table,
)

__all__ = [
    "folder_listings_table",
    "frame_documents_table",
    "frames_table",
    "index_errors_table",
    "loras_table",
    "metadata",
    "parameters_table",
    "projects_table",
    "root_mounts_table",
    "roots_table",
    "tags_table",
]
