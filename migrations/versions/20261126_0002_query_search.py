"""Search support: FTS5 word frequencies (SQLite), punctuation-blind GIN indexes (PostgreSQL).

Two frames indexes: (id, generated_at) sorts a word's candidate frames by
time without reading their rows; (project_id, model_key) answers per-project
model counts from the index alone.

``frames_fts_vocab`` (fts5vocab 'col': term, col, doc, cnt) lists how many
frames hold each word per column (the query benchmark picks its common,
mid-frequency and rare words with it).
On PostgreSQL the full-text indexes are rebuilt over text whose ASCII
punctuation is turned into spaces, so ``score_9``, ``(dragon:1.2)`` and
``red-dragon`` split into words as SQLite's unicode61 tokenizer splits them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 18:10:00
"""

from __future__ import annotations

import string
from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("prompt", "negative_prompt")


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _pg_vector(column: str) -> str:
    # Must stay the same text as kino_catalog.query.fulltext.pg_vector renders, or
    # PostgreSQL will not use the index.
    punctuation = _quoted(string.punctuation)
    spaces = _quoted(" " * len(string.punctuation))
    return f"to_tsvector('simple', translate(coalesce({column}, ''), {punctuation}, {spaces}))"


def upgrade() -> None:
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.create_index("ix_frames_id_generated_at", ["id", "generated_at"], unique=False)
        batch_op.create_index("ix_frames_project_model", ["project_id", "model_key"], unique=False)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("CREATE VIRTUAL TABLE frames_fts_vocab USING fts5vocab(frames_fts, 'col')")
    elif dialect == "postgresql":
        for column in _COLUMNS:
            op.execute(f"DROP INDEX ix_frames_fts_{column}")
            op.execute(
                f"CREATE INDEX ix_frames_fts_{column} ON frames USING gin ({_pg_vector(column)})"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TABLE frames_fts_vocab")
    elif dialect == "postgresql":
        for column in _COLUMNS:
            op.execute(f"DROP INDEX ix_frames_fts_{column}")
            op.execute(
                f"CREATE INDEX ix_frames_fts_{column} ON frames "
                f"USING gin (to_tsvector('simple', coalesce({column}, '')))"
            )
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.drop_index("ix_frames_project_model")
        batch_op.drop_index("ix_frames_id_generated_at")
