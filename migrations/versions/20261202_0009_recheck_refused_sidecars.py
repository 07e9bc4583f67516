"""Sidecars refused before tolerant typing are read again by the next sync.

Until issue 15, one odd value (``"steps": 30.0``, ``"loras": {}``) made a
whole sidecar an error; now it is a frame with a warning.  An index error is
kept with the file's size and mtime so an unchanged file is not read again,
which would keep those frames out of the catalogue until a rebuild.  So the
'error' rows of files that are not frames are dropped (the next sync reads
those files once more and records what is still wrong), and the 'error'
rows of indexed frames (an import's problems) become the warnings they are.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 05:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE index_errors SET kind = 'warning' WHERE kind = 'error' AND EXISTS ("
        "SELECT 1 FROM frames WHERE frames.root_id = index_errors.root_id "
        "AND frames.folder = index_errors.folder AND frames.name = index_errors.name)"
    )
    op.execute("DELETE FROM index_errors WHERE kind = 'error'")


def downgrade() -> None:
    """Nothing to restore: the next sync records every error again."""
