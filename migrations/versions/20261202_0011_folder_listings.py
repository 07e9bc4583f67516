"""Folder listings: a digest per folder that lets a no-change sync skip the folder (issue 18).

A whole-root sync that finds a folder entirely settled (its index rows are
exactly what its listing calls for) stores a 128-bit digest of that listing
(kino_catalog.index.walk.Folder.listing_digest).  The next sync that lists
the same digest skips the folder's comparison.  Every write of a folder's
frames or index errors deletes its row (kino_catalog.index.store), so a row
here always attests index rows that have not changed since.

A later migration that changes frames or index_errors rows (as 0009 did)
must delete the rows of this table too, or a sync would skip the folders
whose rows it changed.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "folder_listings",
        sa.Column("root_id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("digest", sa.LargeBinary(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["root_id"],
            ["roots.id"],
            name=op.f("fk_folder_listings_root_id_roots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("root_id", "folder", name=op.f("pk_folder_listings")),
    )


def downgrade() -> None:
    op.drop_table("folder_listings")
