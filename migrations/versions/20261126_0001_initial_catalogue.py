"""Initial catalogue: roots, projects, frames, parameters, loras, index errors, full text.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 17:49:19.909167
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    op.create_table(
        "roots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roots")),
        sa.UniqueConstraint("path", name=op.f("uq_roots_path")),
    )
    op.create_table(
        "frames",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("root_id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("image_name", sa.Text(), nullable=False),
        sa.Column("image_exists", sa.Boolean(), nullable=False),
        sa.Column("image_count", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=True),
        sa.Column("plugin", sa.Text(), nullable=False),
        sa.Column("plugin_version", sa.Text(), nullable=True),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("kino_frame_id", sa.BigInteger(), nullable=True),
        sa.Column("timestamp", sa.Text(), nullable=True),
        sa.Column("generated_at", sa.DateTime(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("negative_prompt", sa.Text(), nullable=True),
        sa.Column("model_name", sa.Text(), nullable=True),
        sa.Column("model_key", sa.Text(), nullable=True),
        sa.Column("sampler", sa.Text(), nullable=True),
        sa.Column("scheduler", sa.Text(), nullable=True),
        sa.Column("seed_key", sa.String(length=1004), nullable=True),
        sa.Column("steps", sa.BigInteger(), nullable=True),
        sa.Column("cfg_scale", sa.Float(), nullable=True),
        sa.Column("width", sa.BigInteger(), nullable=True),
        sa.Column("height", sa.BigInteger(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("raw_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_frames_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["root_id"], ["roots.id"], name=op.f("fk_frames_root_id_roots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frames")),
    )
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.create_index("ix_frames_generated_at", ["generated_at", "id"], unique=False)
        batch_op.create_index("ix_frames_location", ["root_id", "folder", "name"], unique=True)
        batch_op.create_index(
            "ix_frames_sync",
            [
                "root_id",
                "folder",
                "name",
                "size",
                "mtime_ns",
                "image_exists",
                "image_count",
                "image_name",
            ],
            unique=False,
        )
        batch_op.create_index("ix_frames_model_key", ["model_key", "generated_at"], unique=False)
        batch_op.create_index("ix_frames_project_id", ["project_id", "generated_at"], unique=False)
        batch_op.create_index("ix_frames_seed_key", ["seed_key"], unique=False)

    op.create_table(
        "index_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("root_id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["root_id"],
            ["roots.id"],
            name=op.f("fk_index_errors_root_id_roots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_errors")),
        sa.UniqueConstraint(
            "root_id", "folder", "name", name=op.f("uq_index_errors_root_id_folder_name")
        ),
    )
    op.create_table(
        "loras",
        sa.Column("frame_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("strength_model", sa.Float(), nullable=True),
        sa.Column("strength_clip", sa.Float(), nullable=True),
        sa.Column("generated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["frame_id"], ["frames.id"], name=op.f("fk_loras_frame_id_frames"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("frame_id", "role", "position", name=op.f("pk_loras")),
    )
    with op.batch_alter_table("loras", schema=None) as batch_op:
        batch_op.create_index("ix_loras_key", ["key", "generated_at", "frame_id"], unique=False)

    op.create_table(
        "parameters",
        sa.Column("frame_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value_type", sa.String(length=8), nullable=False),
        sa.Column("value_num", sa.Float(), nullable=True),
        sa.Column("value_text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["frame_id"],
            ["frames.id"],
            name=op.f("fk_parameters_frame_id_frames"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("frame_id", "key", name=op.f("pk_parameters")),
    )
    with op.batch_alter_table("parameters", schema=None) as batch_op:
        batch_op.create_index("ix_parameters_key_num", ["key", "value_num"], unique=False)
        batch_op.create_index("ix_parameters_key_text", ["key", "value_text"], unique=False)

    _create_full_text()


def _create_full_text() -> None:
    # Dialect-specific, so not in the models: FTS5 over frames (external
    # content; the indexer keeps it in step) or GIN expression indexes.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE frames_fts USING fts5("
            "prompt, negative_prompt, content='frames', content_rowid='id', "
            "tokenize='unicode61 remove_diacritics 2')"
        )
    elif dialect == "postgresql":
        for column in ("prompt", "negative_prompt"):
            op.execute(
                f"CREATE INDEX ix_frames_fts_{column} ON frames "
                f"USING gin (to_tsvector('simple', coalesce({column}, '')))"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TABLE frames_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX ix_frames_fts_prompt")
        op.execute("DROP INDEX ix_frames_fts_negative_prompt")
    with op.batch_alter_table("parameters", schema=None) as batch_op:
        batch_op.drop_index("ix_parameters_key_text")
        batch_op.drop_index("ix_parameters_key_num")

    op.drop_table("parameters")
    with op.batch_alter_table("loras", schema=None) as batch_op:
        batch_op.drop_index("ix_loras_key")

    op.drop_table("loras")
    op.drop_table("index_errors")
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.drop_index("ix_frames_seed_key")
        batch_op.drop_index("ix_frames_project_id")
        batch_op.drop_index("ix_frames_model_key")
        batch_op.drop_index("ix_frames_generated_at")
        batch_op.drop_index("ix_frames_location")
        batch_op.drop_index("ix_frames_sync")

    op.drop_table("frames")
    op.drop_table("roots")
    op.drop_table("projects")
