"""Dump a catalogue's contents without ids, to compare two catalogues exactly."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kino_catalog import Catalog

FRAME_FIELDS = (
    "r.name",
    "f.folder",
    "f.name",
    "f.image_name",
    "f.image_exists",
    "f.image_count",
    "f.project_id",
    "f.plugin",
    "f.plugin_version",
    "f.task_id",
    "f.kino_frame_id",
    "f.timestamp",
    "f.generated_at",
    "f.prompt",
    "f.negative_prompt",
    "f.model_name",
    "f.model_key",
    "f.sampler",
    "f.scheduler",
    "f.seed_key",
    "f.steps",
    "f.cfg_scale",
    "f.width",
    "f.height",
    "f.size",
    "f.mtime_ns",
    "f.content_hash",
    "d.raw_json",
    "f.rating",
    "f.notes",
    "f.image_hash",
    "f.gpu",
    "f.driver",
)


def _portable(value: Any) -> Any:
    """The same value whichever driver returned it (PostgreSQL types vs SQLite text)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(" ", "microseconds")  # as SQLAlchemy stores it in SQLite
    return value


def catalog_state(catalog: Catalog) -> dict[str, Any]:
    """Frames (with documents), LoRA, parameter and tag rows, errors and FTS hits, keyed by path.

    Never by id.  A frame without its document row would drop out of "frames";
    a row whose frame is gone fails the foreign-key check.

    ``folder_listings`` is left out on purpose: it is a cache of "this folder
    was found settled", which a rebuild drops and a sync fills, so equal
    catalogues differ in it.  What it must never do (let a sync skip a change)
    shows in these states: tests/index/test_folder_listings.py.
    """
    path = "r.name || ':' || f.folder || '/' || f.name"
    joins = "FROM frames f JOIN roots r ON r.id = f.root_id"
    with catalog.engine.connect() as conn:

        def rows(sql: str) -> set[tuple[Any, ...]]:
            return {tuple(map(_portable, row)) for row in conn.exec_driver_sql(sql)}

        state = {
            "frames": rows(
                f"SELECT {', '.join(FRAME_FIELDS)} {joins} "
                "JOIN frame_documents d ON d.frame_id = f.id"
            ),
            "loras": rows(
                f"SELECT {path}, l.role, l.position, l.name, l.key, l.strength_model, "
                f"l.strength_clip, l.generated_at {joins} JOIN loras l "
                "ON l.frame_id = f.id"
            ),
            "parameters": rows(
                f"SELECT {path}, p.key, p.value_type, p.value_num, p.value_text "
                f"{joins} JOIN parameters p ON p.frame_id = f.id"
            ),
            "errors": rows(
                "SELECT r.name, e.folder, e.name, e.kind, e.reason, e.size, "
                "e.mtime_ns FROM index_errors e JOIN roots r ON r.id = e.root_id"
            ),
            "projects": rows("SELECT id FROM projects"),
            "tags": rows(f"SELECT {path}, t.tag {joins} JOIN tags t ON t.frame_id = f.id"),
        }
        if conn.dialect.name == "sqlite":
            state["fts"] = rows(
                f"SELECT {path} FROM frames_fts JOIN frames f ON f.id = frames_fts.rowid "
                "JOIN roots r ON r.id = f.root_id WHERE frames_fts MATCH 'portrait OR castle'"
            )
            integrity = conn.exec_driver_sql(
                "INSERT INTO frames_fts(frames_fts, rank) VALUES('integrity-check', 1)"
            )
            del integrity  # raises if the FTS index disagrees with the frames table
            # Bulk loads write without enforcing foreign keys: none may dangle.
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
    return state
