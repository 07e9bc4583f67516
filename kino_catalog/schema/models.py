"""Declarative models of the catalogue tables; the source `alembic check` compares to.

The schema itself is only ever created by the migrations (``upgrade head``);
these classes describe it for queries and for Alembic's autogenerate check.
The full-text index lives only in the migrations because it is dialect
specific (an FTS5 table on SQLite, a GIN expression index on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TextClause,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "NAMING_CONVENTION",
    "TEXT_INDEX_BYTES",
    "Base",
    "FolderListing",
    "Frame",
    "FrameDocument",
    "IndexFailure",
    "Lora",
    "Parameter",
    "Project",
    "Root",
    "Tag",
    "metadata",
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
#: substring (query.sql.needs_substring), read from the few prompts that hold any
#: such character through the partial indexes below (migrations 0006 and 0010).
UNSPACED_RANGES = (
    "\u0e00-\u0e7f\u2e80-\u2fdf\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003ffff"
)
#: The partial indexes' conditions ({column}: prompt or negative_prompt); every
#: query that uses them repeats them exactly (query.sql.unspaced).  On SQLite the
#: condition is "holds a character outside ASCII", a superset that the query's
#: own substring test narrows: a GLOB over the script ranges cost 40x more per
#: prompt (5 of a 100k rebuild's 26 s went to building these two indexes).
UNSPACED_SQLITE = "length(CAST({column} AS BLOB)) <> length({column})"
UNSPACED_PATTERN = "'[" + UNSPACED_RANGES + "]'"  # a SQL literal, for PostgreSQL's ~
UNSPACED_POSTGRESQL = "{column} ~ " + UNSPACED_PATTERN


def _short(column: str) -> TextClause:
    """The PostgreSQL index condition that keeps values too long for a B-tree out."""
    return text(f"octet_length({column}) < {TEXT_INDEX_BYTES}")


def _unspaced_indexes() -> tuple[Index, ...]:
    return tuple(
        Index(
            f"ix_frames_unspaced_{column}",
            "id",
            sqlite_where=text(UNSPACED_SQLITE.format(column=column)),
            postgresql_where=text(UNSPACED_POSTGRESQL.format(column=column)),
        )
        for column in ("prompt", "negative_prompt")
    )


class Base(DeclarativeBase):
    metadata = metadata


class Root(Base):
    """A library folder: a stable identity and a name, wherever it is mounted (0005).

    Frame paths are relative to it.  ``uuid`` is also written in the folder's
    marker file (kino_catalog.index.markers), so a machine that mounts the
    same share elsewhere recognises it; where each host has it is RootMount.
    """

    __tablename__ = "roots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(32), unique=True)  # hex, no dashes
    name: Mapped[str] = mapped_column(Text, unique=True)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime)
    synced_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    synced_by: Mapped[str | None] = mapped_column(Text)  # the host of the last write


class RootMount(Base):
    """Where one host has a root: its local path there (0005)."""

    __tablename__ = "root_mounts"
    root_id: Mapped[int] = mapped_column(
        ForeignKey("roots.id", ondelete="CASCADE"), primary_key=True
    )
    host: Mapped[str] = mapped_column(Text, primary_key=True)
    path: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("host", "path"),)


class Project(Base):
    """A Kino project id seen in at least one sidecar."""

    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class Frame(Base):
    """One sidecar: where it is and its common parameters typed (its exact JSON: FrameDocument)."""

    __tablename__ = "frames"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    root_id: Mapped[int] = mapped_column(ForeignKey("roots.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(Text)  # relative to the root, "/"-separated, "" at top
    name: Mapped[str] = mapped_column(Text)  # the sidecar's file name
    image_name: Mapped[str] = mapped_column(Text)  # always in the sidecar's folder
    image_exists: Mapped[bool] = mapped_column(Boolean)
    image_count: Mapped[int] = mapped_column(Integer)  # PNG sequences: images present
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    plugin: Mapped[str] = mapped_column(Text)
    plugin_version: Mapped[str | None] = mapped_column(Text)
    task_id: Mapped[int | None] = mapped_column(BigInteger)
    kino_frame_id: Mapped[int | None] = mapped_column(BigInteger)
    timestamp: Mapped[str | None] = mapped_column(Text)  # as written: null, "regenerated"...
    generated_at: Mapped[dt.datetime] = mapped_column(DateTime)  # timestamp, else file time
    prompt: Mapped[str | None] = mapped_column(Text)
    negative_prompt: Mapped[str | None] = mapped_column(Text)
    model_name: Mapped[str | None] = mapped_column(Text)
    model_key: Mapped[str | None] = mapped_column(Text)  # record.normalise_name(model_name)
    sampler: Mapped[str | None] = mapped_column(Text)
    scheduler: Mapped[str | None] = mapped_column(Text)
    seed_key: Mapped[str | None] = mapped_column(String(1004))  # record.encode_int_key(seed)
    steps: Mapped[int | None] = mapped_column(BigInteger)
    cfg_scale: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(BigInteger)
    height: Mapped[int | None] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(32))  # blake2b-128 of the file bytes
    # 0003: what users and save options add to a sidecar (see kino_catalog.sidecar.added_keys).
    rating: Mapped[int | None] = mapped_column(Integer)  # 0-5
    notes: Mapped[str | None] = mapped_column(Text)
    image_hash: Mapped[str | None] = mapped_column(String(128))  # "sha256:<hex>"
    gpu: Mapped[str | None] = mapped_column(Text)  # system_info.gpu
    driver: Mapped[str | None] = mapped_column(Text)  # system_info.driver

    __table_args__ = (
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
        Index("ix_frames_sampler", "sampler", postgresql_where=_short("sampler")),
        Index("ix_frames_plugin", "plugin", postgresql_where=_short("plugin")),
        Index(
            "ix_frames_model_name",
            "model_name",
            "model_key",
            postgresql_where=_short("model_name"),
        ),
    )


class FrameDocument(Base):
    """A frame's sidecar text exactly as indexed (0004: moved out of ``frames``).

    Only a frame being shown or regenerated needs it, and at ~1.2 KB it was
    most of a ``frames`` row: in a table of its own it stays out of every
    scan, sort and index build over the frames.
    """

    __tablename__ = "frame_documents"
    frame_id: Mapped[int] = mapped_column(
        ForeignKey("frames.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    raw_json: Mapped[str] = mapped_column(Text)  # the exact file text


class Tag(Base):
    """One tag of one frame, case-folded (the sidecar keeps the user's spelling)."""

    __tablename__ = "tags"
    frame_id: Mapped[int] = mapped_column(
        ForeignKey("frames.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(Text, primary_key=True)

    __table_args__ = (Index("ix_tags_tag", "tag", "frame_id"),)


class Parameter(Base):
    """A `parameters` key without a typed column on frames (num_frames, plugin keys...)."""

    __tablename__ = "parameters"
    frame_id: Mapped[int] = mapped_column(
        ForeignKey("frames.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value_type: Mapped[str] = mapped_column(String(8))  # int float str bool null list object
    value_num: Mapped[float | None] = mapped_column(Float)  # int, float and bool values
    value_text: Mapped[str | None] = mapped_column(Text)  # str values; exact digits of ints; JSON

    __table_args__ = (
        Index("ix_parameters_key_num", "key", "value_num"),
        # 0007: PostgreSQL refuses a B-tree entry over ~2.7 KB, and one long
        # value (an imported ComfyUI graph's `samplers` or `other_nodes`) made
        # the whole sync or rebuild fail there; long values stay out of it.
        Index(
            "ix_parameters_key_text",
            "key",
            "value_text",
            postgresql_where=_short("value_text"),
        ),
    )


class Lora(Base):
    """One LoRA use; generated_at is copied from the frame so "newest with LoRA X"
    walks one index in order instead of sorting every use of a common LoRA."""

    __tablename__ = "loras"
    frame_id: Mapped[int] = mapped_column(
        ForeignKey("frames.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(Text, primary_key=True)  # loras, high_loras, low_loras
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    strength_model: Mapped[float | None] = mapped_column(Float)
    strength_clip: Mapped[float | None] = mapped_column(Float)
    generated_at: Mapped[dt.datetime] = mapped_column(DateTime)

    __table_args__ = (
        # 0006: with the strength, lora:x@0.5..1 is answered from the index alone.
        Index("ix_loras_key", "key", "generated_at", "frame_id", "strength_model"),
        # 0006: "does this frame use LoRA X (at this strength)?" in one look-up on
        # both keys, for plans that walk frames in another order (issue 20).
        Index("ix_loras_frame_key", "frame_id", "key", "strength_model"),
    )


class IndexFailure(Base):
    """A .json file that is not (or not yet) a frame: kind 'error' or 'not_sidecar';
    or a frame indexed with warnings: kind 'warning'.

    Kept with its size and mtime so an unchanged file is not read again.
    """

    __tablename__ = "index_errors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    root_id: Mapped[int] = mapped_column(ForeignKey("roots.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("root_id", "folder", "name"),)


class FolderListing(Base):
    """A folder a whole-root sync found settled, and a digest of the listing it found (0011).

    A sync that lists the same digest skips the folder (index.diff.Differ).
    Written only with nothing to change, deleted by every write of the
    folder's frames or index errors (index.store.Store), so it attests index
    rows unchanged since.  ``unchanged`` is the number of files that
    comparison counted as unchanged, counted again when the folder is skipped.
    """

    __tablename__ = "folder_listings"
    root_id: Mapped[int] = mapped_column(
        ForeignKey("roots.id", ondelete="CASCADE"), primary_key=True
    )
    folder: Mapped[str] = mapped_column(Text, primary_key=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary)
    unchanged: Mapped[int] = mapped_column(Integer)
