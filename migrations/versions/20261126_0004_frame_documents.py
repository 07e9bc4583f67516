"""Frame documents: each sidecar's exact text moves from ``frames.raw_json`` to its own table.

The text was ~1.2 KB of a ~2.2 KB ``frames`` row, read only when a frame is
shown or regenerated, yet every table scan, sort and index build over the
frames paid for it (a 1M-frame rebuild builds 14 indexes over that table).
The text moves unchanged; on SQLite the column goes with a native
``ALTER TABLE ... DROP COLUMN`` (SQLite 3.35+), which rewrites ``frames`` once
and, unlike a table copy, leaves the rows that reference it alone.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "frame_documents",
        sa.Column("frame_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("raw_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["frame_id"],
            ["frames.id"],
            name=op.f("fk_frame_documents_frame_id_frames"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("frame_id", name=op.f("pk_frame_documents")),
    )
    op.execute(
        "INSERT INTO frame_documents (frame_id, raw_json) "
        "SELECT id, raw_json FROM frames ORDER BY id"
    )
    op.drop_column("frames", "raw_json")  # native on both dialects (no batch table copy)


def downgrade() -> None:
    op.add_column("frames", sa.Column("raw_json", sa.Text(), nullable=False, server_default=""))
    op.execute(
        "UPDATE frames SET raw_json = (SELECT d.raw_json FROM frame_documents d "
        "WHERE d.frame_id = frames.id)"
    )
    op.drop_table("frame_documents")
