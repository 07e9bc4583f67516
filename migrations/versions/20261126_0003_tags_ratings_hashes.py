"""User annotations and provenance: tags table; rating, notes, image hash, GPU, driver.

All of it is mirrored from top-level sidecar keys (``tags``, ``rating``,
``notes``, ``image_hash``, ``system_info``), so a rebuild restores it; the
catalogue never holds anything the sidecars do not.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("notes", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("image_hash", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("gpu", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("driver", sa.Text(), nullable=True))
        batch_op.create_index("ix_frames_image_hash", ["image_hash"], unique=False)
        batch_op.create_index("ix_frames_rating", ["rating", "generated_at"], unique=False)
    op.create_table(
        "tags",
        sa.Column("frame_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["frame_id"], ["frames.id"], name=op.f("fk_tags_frame_id_frames"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("frame_id", "tag", name=op.f("pk_tags")),
    )
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.create_index("ix_tags_tag", ["tag", "frame_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_index("ix_tags_tag")
    op.drop_table("tags")
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.drop_index("ix_frames_rating")
        batch_op.drop_index("ix_frames_image_hash")
        batch_op.drop_column("driver")
        batch_op.drop_column("gpu")
        batch_op.drop_column("image_hash")
        batch_op.drop_column("notes")
        batch_op.drop_column("rating")
