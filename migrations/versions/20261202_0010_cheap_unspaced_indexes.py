"""Cheap conditions for the unspaced-script partial indexes on SQLite (issue 18).

The partial indexes of migration 0006 list the frames whose prompt (or
negative prompt) holds a Thai, CJK, kana or Hangul character.  On SQLite
their condition was a GLOB over those script ranges, which SQLite evaluates
character by character against every range: building the two indexes took
5 of a 100k rebuild's 26 s.  The condition is now "holds a character
outside ASCII" (``length(CAST(col AS BLOB)) <> length(col)``, 40x cheaper), a
superset: a query for ``東京`` still tests each listed prompt for the
substring itself.  PostgreSQL's regular-expression condition is unchanged.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same text as kino_catalog.schema.models.UNSPACED_SQLITE, then (0006) and now.
_OLD = (
    "{column} GLOB '*[\u0e00-\u0e7f\u2e80-\u2fdf\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003ffff]*'"
)
_NEW = "length(CAST({column} AS BLOB)) <> length({column})"
_TEXT_COLUMNS = ("prompt", "negative_prompt")


def _recreate(condition: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for column in _TEXT_COLUMNS:
        op.execute(f"DROP INDEX ix_frames_unspaced_{column}")
        op.execute(
            f"CREATE INDEX ix_frames_unspaced_{column} ON frames (id) "
            f"WHERE {condition.format(column=column)}"
        )


def upgrade() -> None:
    _recreate(_NEW)


def downgrade() -> None:
    _recreate(_OLD)
