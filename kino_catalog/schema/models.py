"""The catalogue tables as SQLAlchemy Core metadata; the source `alembic check` compares to.

The schema itself is only ever created by the migrations (``upgrade head``);
these tables describe it for queries and for Alembic's autogenerate check.
Plain ``Table`` objects, not ORM classes: nothing here maps rows to objects
(bulk paths stay off the ORM), and not importing ``sqlalchemy.orm`` saves
every command ~50 ms of start-up.
The full-text index lives only in the migrations because it is dialect
specific (an FTS5 table on SQLite, a GIN expression index on PostgreSQL).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = [
    "NAMING_CONVENTION",
    "TEXT_INDEX_BYTES",
    "folder_listings_table",
    "frame_documents_table",
    "frames_table",
    "index_errors_table",
    "loras_table",
    "metadata",
    "parameters_table",
    "projects_table",
    "root_mounts_table",
    "roots_table",
    "tags_table",
    "use_postgresql_conditions",
]

#: PostgreSQL indexes sidecar text (a parameter's value, a sampler or model
#: name) only below this many bytes: its B-tree entries stop at ~2.7 KB.
#: Longer values are found by scanning (a parameter: its key's rows).
TEXT_INDEX_BYTES = 2048

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


#: Scripts written without spaces between words (Thai, CJK, kana, Hangul): a word
#: index cannot find a word inside such text, so a term in them matches as a
#: substring (query.fulltext.needs_substring), read from the few prompts that hold any
#: such character through the partial indexes below (migrations 0006 and 0010).
UNSPACED_RANGES = (
    "\u0e00-\u0e7f\u2e80-\u2fdf\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003ffff"
)
#: The partial indexes' conditions ({column}: prompt or negative_prompt); every
#: query that uses them repeats them exactly (query.fulltext.unspaced).  On SQLite the
#: condition is "holds a character outside ASCII", a superset that the query's
#: own substring test narrows: a GLOB over the script ranges cost 40x more per
#: prompt (5 of a 100k rebuild's 26 s went to building these two indexes).
UNSPACED_SQLITE = "length(CAST({column} AS BLOB)) <> length({column})"
UNSPACED_PATTERN = "'[" + UNSPACED_RANGES + "]'"  # a SQL literal, for PostgreSQL's ~
UNSPACED_POSTGRESQL = "{column} ~ " + UNSPACED_PATTERN


def _short(column: str) -> str:
    """The PostgreSQL index condition that keeps values too long for a B-tree out."""
    return f"octet_length({column}) < {TEXT_INDEX_BYTES}"


#: The conditions only PostgreSQL's indexes have, by index name: the unspaced-
#: script partial indexes' own test (0006), and long values kept out (0007,
#: 0008).  Not declared with the indexes: a ``postgresql_where`` there makes
#: SQLAlchemy load its PostgreSQL dialect, ~20 ms of every command's start-up on
#: SQLite.  use_postgresql_conditions gives them to the indexes: make_engine
#: calls it for PostgreSQL, and so do what builds DDL from these tables on an
#: engine made elsewhere (a rebuild's Store.end_bulk_load, migrations/env.py).
_POSTGRESQL_WHERE = {
    "ix_frames_unspaced_prompt": UNSPACED_POSTGRESQL.format(column="prompt"),
    "ix_frames_unspaced_negative_prompt": UNSPACED_POSTGRESQL.format(column="negative_prompt"),
    "ix_frames_sampler": _short("sampler"),
    "ix_frames_plugin": _short("plugin"),
    "ix_frames_model_name": _short("model_name"),
    "ix_parameters_key_text": _short("value_text"),
}


def use_postgresql_conditions() -> None:
    """Give the indexes their PostgreSQL-only conditions (idempotent; SQLite ignores them).

    Must run before any DDL or comparison made from these tables on
    PostgreSQL: a rebuild recreates the indexes from them (index.store).
    """
    for table in metadata.tables.values():
        for index in table.indexes:
            condition = _POSTGRESQL_WHERE.get(str(index.name))
            if condition is not None:
                index.dialect_options["postgresql"]["where"] = text(condition)


def _unspaced_indexes() -> tuple[Index, ...]:
    return tuple(
        Index(
            f"ix_frames_unspaced_{column}",
            "id",
            sqlite_where=text(UNSPACED_SQLITE.format(column=column)),
        )
        for column in ("prompt", "negative_prompt")
    )


def _required(name: str, type_: Any, *args: Any, **kwargs: Any) -> Column[Any]:
    """A NOT NULL column (Core columns are nullable unless told)."""
    return Column(name, type_, *args, nullable=False, **kwargs)


# A library folder: a stable identity and a name, wherever it is mounted (0005).
# Frame paths are relative to it.  ``uuid`` is also written in the folder's
# marker file (kino_catalog.index.markers), so a machine that mounts the same
# share elsewhere recognises it; where each host has it is root_mounts.
roots_table = Table(
    "roots",
    metadata,
    Column("id", Integer, primary_key=True),
    _required("uuid", String(32), unique=True),  # hex, no dashes
    _required("name", Text, unique=True),
    _required("added_at", DateTime),
    Column("synced_at", DateTime),
    Column("synced_by", Text),  # the host of the last write
)

# Where one host has a root: its local path there (0005).
root_mounts_table = Table(
    "root_mounts",
    metadata,
    Column("root_id", ForeignKey("roots.id", ondelete="CASCADE"), primary_key=True),
    Column("host", Text, primary_key=True),
    _required("path", Text),
    UniqueConstraint("host", "path"),
)

# A Kino project id seen in at least one sidecar.
projects_table = Table(
    "projects",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
)

# One sidecar: where it is and its common parameters typed (its exact JSON:
# frame_documents).
frames_table = Table(
    "frames",
    metadata,
    Column("id", Integer, primary_key=True),
    _required("root_id", ForeignKey("roots.id", ondelete="CASCADE")),
    _required("folder", Text),  # relative to the root, "/"-separated, "" at top
    _required("name", Text),  # the sidecar's file name
    _required("image_name", Text),  # always in the sidecar's folder
    _required("image_exists", Boolean),
    _required("image_count", Integer),  # PNG sequences: images present
    Column("project_id", ForeignKey("projects.id")),
    _required("plugin", Text),
    Column("plugin_version", Text),
    Column("task_id", BigInteger),
    Column("kino_frame_id", BigInteger),
    Column("timestamp", Text),  # as written: null, "regenerated"...
    _required("generated_at", DateTime),  # timestamp, else file time
    Column("prompt", Text),
    Column("negative_prompt", Text),
    Column("model_name", Text),
    Column("model_key", Text),  # record.normalise_name(model_name)
    Column("sampler", Text),
    Column("scheduler", Text),
    Column("seed_key", String(1004)),  # record.encode_int_key(seed)
    Column("steps", BigInteger),
    Column("cfg_scale", Float),
    Column("width", BigInteger),
    Column("height", BigInteger),
    _required("size", BigInteger),
    _required("mtime_ns", BigInteger),
    _required("content_hash", String(32)),  # blake2b-128 of the file bytes
    # 0003: what users and save options add to a sidecar (see kino_catalog.sidecar.added_keys).
    Column("rating", Integer),  # 0-5
    Column("notes", Text),
    Column("image_hash", String(128)),  # "sha256:<hex>"
    Column("gpu", Text),  # system_info.gpu
    Column("driver", Text),  # system_info.driver
    # A unique index, not a constraint: a rebuild drops and rebuilds it
    # around its bulk load (SQLite cannot drop a table constraint).
    Index("ix_frames_location", "root_id", "folder", "name", unique=True),
    # Covers what sync compares per folder, so a no-change sync reads only
    # this index, never the wide rows (raw JSON, prompts).
    Index(
        "ix_frames_sync",
        "root_id",
        "folder",
        "name",
        "size",
        "mtime_ns",
        "image_exists",
        "image_count",
        "image_name",
    ),
    Index("ix_frames_generated_at", "generated_at", "id"),
    Index("ix_frames_model_key", "model_key", "generated_at"),
    Index("ix_frames_seed_key", "seed_key"),
    Index("ix_frames_project_id", "project_id", "generated_at"),
    # 0002: a word's candidate frames are sorted by time without reading
    # their rows; a project's per-model counts come from the index alone.
    Index("ix_frames_id_generated_at", "id", "generated_at"),
    Index("ix_frames_project_model", "project_id", "model_key"),
    # 0003: duplicates and hash: look-ups; "best rated first" walks in order.
    Index("ix_frames_image_hash", "image_hash"),
    Index("ix_frames_rating", "rating", "generated_at"),
    # 0006: each column sort (query.sql.order_by: frames without the value
    # last, ties by id) walks one of these in order, probing each frame's
    # conditions, and stops at the page's end instead of sorting every match.
    Index("ix_frames_sort_seed", text("(seed_key IS NULL)"), "seed_key", "id"),
    Index("ix_frames_sort_steps", text("(steps IS NULL)"), "steps", "id"),
    Index("ix_frames_sort_cfg", text("(cfg_scale IS NULL)"), "cfg_scale", "id"),
    Index(
        "ix_frames_sort_model",
        text("(model_key IS NULL)"),
        "model_key",
        text("generated_at DESC"),
        text("id DESC"),
    ),
    *_unspaced_indexes(),
    # 0008: a glob on these (sampler:euler*, plugin:wan*, model:cyber*) is
    # matched case-insensitively, so no range seeks it; these narrow indexes
    # hold all it reads, a tenth of the bytes of the frames rows.  They hold
    # text straight from sidecars, so on PostgreSQL long values stay out
    # (as in 0007): one 3 KB sampler name must not fail a whole sync.
    Index("ix_frames_sampler", "sampler"),
    Index("ix_frames_plugin", "plugin"),
    Index("ix_frames_model_name", "model_name", "model_key"),
)

# A frame's sidecar text exactly as indexed (0004: moved out of ``frames``).
# Only a frame being shown or regenerated needs it, and at ~1.2 KB it was most
# of a ``frames`` row: in a table of its own it stays out of every scan, sort
# and index build over the frames.
frame_documents_table = Table(
    "frame_documents",
    metadata,
    Column(
        "frame_id",
        ForeignKey("frames.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    _required("raw_json", Text),  # the exact file text
)

# One tag of one frame, case-folded (the sidecar keeps the user's spelling).
tags_table = Table(
    "tags",
    metadata,
    Column("frame_id", ForeignKey("frames.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", Text, primary_key=True),
    Index("ix_tags_tag", "tag", "frame_id"),
)

# A `parameters` key without a typed column on frames (num_frames, plugin keys...).
parameters_table = Table(
    "parameters",
    metadata,
    Column("frame_id", ForeignKey("frames.id", ondelete="CASCADE"), primary_key=True),
    Column("key", Text, primary_key=True),
    _required("value_type", String(8)),  # int float str bool null list object
    Column("value_num", Float),  # int, float and bool values
    Column("value_text", Text),  # str values; exact digits of ints; JSON
    Index("ix_parameters_key_num", "key", "value_num"),
    # 0007: PostgreSQL refuses a B-tree entry over ~2.7 KB, and one long value
    # (an imported ComfyUI graph's `samplers` or `other_nodes`) made the whole
    # sync or rebuild fail there; long values stay out of it.
    Index("ix_parameters_key_text", "key", "value_text"),
)

# One LoRA use; generated_at is copied from the frame so "newest with LoRA X"
# walks one index in order instead of sorting every use of a common LoRA.
loras_table = Table(
    "loras",
    metadata,
    Column("frame_id", ForeignKey("frames.id", ondelete="CASCADE"), primary_key=True),
    Column("role", Text, primary_key=True),  # loras, high_loras, low_loras
    Column("position", Integer, primary_key=True),
    _required("name", Text),
    _required("key", Text),
    Column("strength_model", Float),
    Column("strength_clip", Float),
    _required("generated_at", DateTime),
    # 0006: with the strength, lora:x@0.5..1 is answered from the index alone.
    Index("ix_loras_key", "key", "generated_at", "frame_id", "strength_model"),
    # 0006: "does this frame use LoRA X (at this strength)?" in one look-up on
    # both keys, for plans that walk frames in another order (issue 20).
    Index("ix_loras_frame_key", "frame_id", "key", "strength_model"),
)

# A .json file that is not (or not yet) a frame: kind 'error' or 'not_sidecar';
# or a frame indexed with warnings: kind 'warning'.  Kept with its size and
# mtime so an unchanged file is not read again.
index_errors_table = Table(
    "index_errors",
    metadata,
    Column("id", Integer, primary_key=True),
    _required("root_id", ForeignKey("roots.id", ondelete="CASCADE")),
    _required("folder", Text),
    _required("name", Text),
    _required("kind", String(16)),
    _required("reason", Text),
    _required("size", BigInteger),
    _required("mtime_ns", BigInteger),
    _required("recorded_at", DateTime),
    UniqueConstraint("root_id", "folder", "name"),
)

# A folder a whole-root sync found settled, and a digest of the listing it
# found (0011).  A sync that lists the same digest skips the folder
# (index.diff.Differ).  Written only with nothing to change, deleted by every
# write of the folder's frames or index errors (index.store.Store), so it
# attests index rows unchanged since.  ``unchanged`` is the number of files
# that comparison counted as unchanged, counted again when the folder is skipped.
folder_listings_table = Table(
    "folder_listings",
    metadata,
    Column("root_id", ForeignKey("roots.id", ondelete="CASCADE"), primary_key=True),
    Column("folder", Text, primary_key=True),
    _required("digest", LargeBinary),
    _required("unchanged", Integer),
)
