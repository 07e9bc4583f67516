"""Catalogue health: the files that could not be indexed, and the counts behind `stats`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from kino_catalog.index.roots import list_roots
from kino_catalog.schema import (
    frames_table,
    index_errors_table,
    loras_table,
    projects_table,
    root_mounts_table,
    roots_table,
)
from kino_catalog.schema.images import missing_images_condition

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["catalog_stats", "list_errors", "projects_with_frames"]

_f = frames_table.c
_roots = roots_table
_mounts = root_mounts_table
_errors = index_errors_table


def projects_with_frames() -> Any:
    """The ids of projects that still have a frame.

    ``projects`` keeps every id a sidecar ever named (frames point at it, and
    dropping an id as its last frame goes would race another root's writer
    adding one on PostgreSQL); what users count and report on is this.
    One index seek per project (``ix_frames_project_id``).
    """
    p = projects_table
    return select(p.c.id).where(select(_f.id).where(_f.project_id == p.c.id).exists())


def list_errors(engine: Engine, host: str) -> list[dict[str, Any]]:
    """Sidecars not indexed (kind "error") and frames indexed with warnings (kind
    "warning"): kind, path, root, relpath, reason, size, mtime_ns, recorded_at.

    ``path`` uses ``host``'s mapping of the root; None where it has none.
    """
    stmt = (
        select(
            _errors.c.kind,
            _roots.c.name,
            _errors.c.folder,
            _errors.c.name,
            _errors.c.reason,
            _errors.c.size,
            _errors.c.mtime_ns,
            _errors.c.recorded_at,
            _mounts.c.path,
        )
        .join_from(_errors, _roots, _errors.c.root_id == _roots.c.id)
        .join(
            _mounts,
            (_mounts.c.root_id == _roots.c.id) & (_mounts.c.host == host),
            isouter=True,
        )
        .where(_errors.c.kind.in_(("error", "warning")))
        .order_by(_roots.c.name, _errors.c.folder, _errors.c.name)
    )
    with engine.connect() as conn:
        return [
            {
                "kind": kind,
                "path": os.path.join(root, folder, name) if root is not None else None,
                "root": root_name,
                "relpath": f"{folder}/{name}" if folder else name,
                "reason": reason,
                "size": size,
                "mtime_ns": mtime_ns,
                "recorded_at": recorded.isoformat(timespec="seconds"),
            }
            for kind, root_name, folder, name, reason, size, mtime_ns, recorded, root in (
                conn.execute(stmt)
            )
        ]


def catalog_stats(engine: Engine, host: str) -> dict[str, Any]:
    """Catalogue health: counts of frames, projects, errors, missing images, roots.

    ``errors`` counts files not indexed; ``warnings`` the frames indexed with
    a warning (each is also one of ``frames``).

    Each root: its name, ``host``'s path of it (None: not mapped there), its
    frames, and which host wrote it last, when (``synced_by``, ``synced_at``).
    """
    roots = [
        {
            "name": info.name,
            "path": info.path,
            "frames": info.frames,
            "synced_at": info.synced_at.isoformat(timespec="seconds") if info.synced_at else None,
            "synced_by": info.synced_by,
        }
        for info in list_roots(engine, host)
    ]
    with engine.connect() as conn:

        def scalar(stmt: Any) -> int:
            return int(conn.execute(stmt).scalar_one())

        frames = frames_table
        return {
            "database": engine.url.render_as_string(hide_password=True),
            "host": host,
            "frames": scalar(select(func.count()).select_from(frames)),
            "projects": scalar(select(func.count()).select_from(projects_with_frames().subquery())),
            "errors": scalar(
                select(func.count()).select_from(_errors).where(_errors.c.kind == "error")
            ),
            "warnings": scalar(
                select(func.count()).select_from(_errors).where(_errors.c.kind == "warning")
            ),
            "ignored_files": scalar(
                select(func.count()).select_from(_errors).where(_errors.c.kind == "not_sidecar")
            ),
            "missing_images": scalar(
                select(func.count()).select_from(frames).where(missing_images_condition())
            ),
            "loras": scalar(select(func.count(func.distinct(loras_table.c.key)))),
            "frames_not_mapped_here": sum(r["frames"] for r in roots if r["path"] is None),
            "roots": roots,
        }
