"""Catalogue health: the files that could not be indexed, and the counts behind `stats`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from kino_catalog.schema import Frame as FrameRow
from kino_catalog.schema import IndexFailure, Lora, Project, Root

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["catalog_stats", "list_errors"]

_f = FrameRow.__table__.c
_roots = Root.__table__
_errors = IndexFailure.__table__


def list_errors(engine: Engine) -> list[dict[str, Any]]:
    """Sidecars that could not be indexed: path, reason, size, mtime_ns, recorded_at."""
    stmt = (
        select(
            _roots.c.path,
            _errors.c.folder,
            _errors.c.name,
            _errors.c.reason,
            _errors.c.size,
            _errors.c.mtime_ns,
            _errors.c.recorded_at,
        )
        .join_from(_errors, _roots, _errors.c.root_id == _roots.c.id)
        .where(_errors.c.kind == "error")
        .order_by(_roots.c.path, _errors.c.folder, _errors.c.name)
    )
    with engine.connect() as conn:
        return [
            {
                "path": os.path.join(root, folder, name),
                "reason": reason,
                "size": size,
                "mtime_ns": mtime_ns,
                "recorded_at": recorded.isoformat(timespec="seconds"),
            }
            for root, folder, name, reason, size, mtime_ns, recorded in conn.execute(stmt)
        ]


def catalog_stats(engine: Engine) -> dict[str, Any]:
    """Catalogue health: counts of frames, projects, errors, missing images, roots."""
    with engine.connect() as conn:

        def scalar(stmt: Any) -> int:
            return int(conn.execute(stmt).scalar_one())

        frames = FrameRow.__table__
        roots = [
            {
                "path": path,
                "frames": count,
                "synced_at": (synced.isoformat(timespec="seconds") if synced else None),
            }
            for path, synced, count in conn.execute(
                select(_roots.c.path, _roots.c.synced_at, func.count(_f.id))
                .join_from(_roots, frames, _f.root_id == _roots.c.id, isouter=True)
                .group_by(_roots.c.id)
                .order_by(_roots.c.path)
            )
        ]
        return {
            "database": engine.url.render_as_string(hide_password=True),
            "frames": scalar(select(func.count()).select_from(frames)),
            "projects": scalar(select(func.count()).select_from(Project.__table__)),
            "errors": scalar(
                select(func.count()).select_from(_errors).where(_errors.c.kind == "error")
            ),
            "ignored_files": scalar(
                select(func.count()).select_from(_errors).where(_errors.c.kind == "not_sidecar")
            ),
            "missing_images": scalar(
                select(func.count()).select_from(frames).where(_f.image_exists.is_(False))
            ),
            "loras": scalar(select(func.count(func.distinct(Lora.__table__.c.key)))),
            "roots": roots,
        }
