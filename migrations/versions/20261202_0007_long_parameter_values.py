"""Long parameter values: PostgreSQL's text index on ``parameters`` skips values over 2 KB.

A B-tree entry on PostgreSQL stops at about 2.7 KB (after compression), so
one sidecar with a long parameter value, such as the ``samplers`` or
``other_nodes`` of an imported ComfyUI graph or a plugin's long text, made
the insert, and with it the whole sync or rebuild, fail.  The index becomes
partial there: values of 2,048 bytes or more are left out of it (and found
by scanning the rows of their key).  SQLite has no such limit: its index is
unchanged.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_parameters_key_text", table_name="parameters")
    op.create_index(
        "ix_parameters_key_text",
        "parameters",
        ["key", "value_text"],
        unique=False,
        postgresql_where=sa.text("octet_length(value_text) < 2048"),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # The full index again; it cannot be built while a value over ~2.7 KB is stored.
    op.drop_index("ix_parameters_key_text", table_name="parameters")
    op.create_index("ix_parameters_key_text", "parameters", ["key", "value_text"], unique=False)
