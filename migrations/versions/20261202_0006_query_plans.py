"""Query plans for every sort: a LoRA look-up on (frame, key) and an index per column sort.

A LoRA condition checked frame by frame (a search sorted by seed, a count of
``-lora:x``) could only use ``ix_loras_key (key, generated_at, frame_id)``,
so each check walked every use of that LoRA (issue 20).  ``ix_loras_frame_key``
answers it in one look-up on both keys (and the strength, without the row).

Each column sort orders frames without the value last, then by id
(``query.sql.order_by``); an index on ``(column IS NULL, column, id)`` is in
exactly that order, so a search sorted by seed, steps, cfg or model walks it
and stops after a page instead of sorting every match.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 03:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: name -> the indexed expressions (the same text on both dialects).
_SORT_INDEXES = {
    "ix_frames_sort_seed": "(seed_key IS NULL), seed_key, id",
    "ix_frames_sort_steps": "(steps IS NULL), steps, id",
    "ix_frames_sort_cfg": "(cfg_scale IS NULL), cfg_scale, id",
    "ix_frames_sort_model": "(model_key IS NULL), model_key, generated_at DESC, id DESC",
}


def upgrade() -> None:
    op.create_index("ix_loras_frame_key", "loras", ["frame_id", "key", "strength_model"])
    for name, expressions in _SORT_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON frames ({expressions})")


def downgrade() -> None:
    for name in _SORT_INDEXES:
        op.execute(f"DROP INDEX {name}")
    op.drop_index("ix_loras_frame_key", table_name="loras")
