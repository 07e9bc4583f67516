"""Query plans for every sort: a LoRA look-up on (frame, key) and an index per column sort.

A LoRA condition checked frame by frame (a search sorted by seed, a count of
``-lora:x``) could only use ``ix_loras_key (key, generated_at, frame_id)``,
so each check walked every use of that LoRA (issue 20).  ``ix_loras_frame_key``
answers it in one look-up on both keys (and the strength, without the row).

Each column sort orders frames without the value last, then by id
(``query.sql.order_by``); an index on ``(column IS NULL, column, id)`` is in
exactly that order, so a search sorted by seed, steps, cfg or model walks it
and stops after a page instead of sorting every match.

``ix_loras_key`` gains the strength, so ``lora:x@0.5..1`` reads no table rows.
A term in an unspaced script (``東京``) is a substring search: partial indexes
list the few frames whose prompt (or negative prompt) holds any such character,
so it reads those instead of every prompt.

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


# The same text as kino_catalog.schema.models.UNSPACED_* (queries must repeat it
# exactly for the database to use these partial indexes).
_UNSPACED_RANGES = (
    "\u0e00-\u0e7f\u2e80-\u2fdf\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003ffff"
)
_UNSPACED = {
    "sqlite": "GLOB '*[" + _UNSPACED_RANGES + "]*'",
    "postgresql": "~ '[" + _UNSPACED_RANGES + "]'",
}
_TEXT_COLUMNS = ("prompt", "negative_prompt")


def upgrade() -> None:
    op.create_index("ix_loras_frame_key", "loras", ["frame_id", "key", "strength_model"])
    op.drop_index("ix_loras_key", table_name="loras")
    op.create_index("ix_loras_key", "loras", ["key", "generated_at", "frame_id", "strength_model"])
    for name, expressions in _SORT_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON frames ({expressions})")
    unspaced = _UNSPACED[op.get_bind().dialect.name]
    for column in _TEXT_COLUMNS:
        op.execute(
            f"CREATE INDEX ix_frames_unspaced_{column} ON frames (id) WHERE {column} {unspaced}"
        )


def downgrade() -> None:
    for column in _TEXT_COLUMNS:
        op.execute(f"DROP INDEX ix_frames_unspaced_{column}")
    for name in _SORT_INDEXES:
        op.execute(f"DROP INDEX {name}")
    op.drop_index("ix_loras_key", table_name="loras")
    op.create_index("ix_loras_key", "loras", ["key", "generated_at", "frame_id"])
    op.drop_index("ix_loras_frame_key", table_name="loras")
