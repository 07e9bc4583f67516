"""The Frame read model: one catalogue row, rendered as the documented frame JSON."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kino_catalog.errors import RootNotMappedError
from kino_catalog.schema import frame_documents_table, frames_table, root_mounts_table, roots_table
from kino_catalog.sidecar import loads_exact
from kino_catalog.sidecar.record import is_lora_list

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy import Select
    from sqlalchemy.engine import Connection, Row

__all__ = [
    "FRAME_SELECT_COLUMNS",
    "Frame",
    "RootPlace",
    "frame_select",
    "root_places",
]

_f = frames_table.c
_d = frame_documents_table.c
# The document is a correlated look-up by primary key rather than a join: one
# probe per row that passes the WHERE, and it never sways a plan's join order.
# The root is an id: where it is depends on the host reading (root_places).
FRAME_SELECT_COLUMNS = (
    _f.id,
    _f.root_id,
    _f.folder,
    _f.name,
    _f.image_name,
    _f.image_exists,
    _f.image_count,
    _f.project_id,
    _f.plugin,
    _f.plugin_version,
    _f.task_id,
    _f.timestamp,
    _f.generated_at,
    select(_d.raw_json).where(_d.frame_id == _f.id).scalar_subquery().label("raw_json"),
)


def frame_select() -> Select[Any]:
    """SELECT of the columns a Frame needs."""
    return select(*FRAME_SELECT_COLUMNS)


@dataclass(frozen=True)
class RootPlace:
    """A root as one host sees it: its name, and its local path there (None: not mapped)."""

    name: str
    path: str | None


def root_places(conn: Connection, host: str) -> dict[int, RootPlace]:
    """Every root's name and this host's path of it, by root id (a few rows)."""
    r, m = roots_table.c, root_mounts_table.c
    stmt = select(r.id, r.name, m.path).join_from(
        roots_table, root_mounts_table, (m.root_id == r.id) & (m.host == host), isouter=True
    )
    return {root_id: RootPlace(name, path) for root_id, name, path in conn.execute(stmt)}


@dataclass(frozen=True)
class Frame:
    """One indexed sidecar; ``document`` is the sidecar exactly as on disk when indexed.

    ``root`` is this host's path of the frame's root, None where the host
    has not mapped it: then the frame is still searchable and readable from
    the index, but its files have no path here (``sidecar_path`` and
    ``image_path`` raise RootNotMappedError; ``relpath`` works everywhere).
    """

    id: int
    root_id: int
    folder: str
    name: str
    image_name: str
    image_exists: bool
    image_count: int
    project_id: int | None
    plugin: str
    plugin_version: str | None
    task_id: int | None
    timestamp: str | None
    generated_at: dt.datetime
    raw_json: str
    root_name: str = ""
    root: str | None = None

    @classmethod
    def from_row(cls, row: Row[Any] | tuple[Any, ...], places: Mapping[int, RootPlace]) -> Frame:
        """A frame from FRAME_SELECT_COLUMNS' values, placed with ``places`` (root_places)."""
        values = tuple(row)
        place = places.get(values[1]) or RootPlace(f"#{values[1]}", None)
        fields: tuple[Any, ...] = (*values, place.name, place.path)
        return cls(*fields)

    @property
    def is_mapped(self) -> bool:
        """Whether this host has the frame's root (and so paths to its files)."""
        return self.root is not None

    @property
    def relpath(self) -> str:
        """The sidecar's path inside its root, "/"-separated: the same on every host."""
        return f"{self.folder}/{self.name}" if self.folder else self.name

    @property
    def location(self) -> str:
        """The sidecar path here, or ``root-name:relpath`` where the root is not mapped."""
        return self.sidecar_path if self.root is not None else f"{self.root_name}:{self.relpath}"

    def _path(self, name: str) -> str:
        if self.root is None:
            raise RootNotMappedError(self.root_name)
        return os.path.join(self.root, self.folder, name)

    @property
    def sidecar_path(self) -> str:
        return self._path(self.name)

    @property
    def image_path(self) -> str:
        return self._path(self.image_name)

    @cached_property
    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = loads_exact(self.raw_json.encode("utf-8"), self.location)
        return doc

    @property
    def parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = self.document["parameters"]
        return params

    def loras(self) -> list[dict[str, Any]]:
        """Every LoRA of every list, in order, with the list it came from as ``role``."""
        found = []
        for role, items in self.parameters.items():
            if not is_lora_list(role, items) or not isinstance(items, list):
                continue
            for item in items:
                entry = item if isinstance(item, dict) else {"lora_name": item}
                found.append(
                    {
                        "lora_name": entry.get("lora_name", entry.get("name")),
                        "strength_model": entry.get("strength_model"),
                        "strength_clip": entry.get("strength_clip"),
                        "role": role,
                    }
                )
        return found

    def to_dict(self) -> dict[str, Any]:
        """The frame JSON of the docs; values keep the sidecar's JSON types."""
        params = self.parameters
        is_mapped = self.root is not None
        return {
            "id": self.id,
            # null where this host has not mapped the root ("root" names it)
            "sidecar": self.sidecar_path if is_mapped else None,
            "image": self.image_path if is_mapped else None,
            "root": self.root_name,
            "relpath": self.relpath,
            "image_exists": bool(self.image_exists),
            "image_count": self.image_count,
            "project_id": self.project_id,
            "plugin": self.plugin,
            "plugin_version": self.plugin_version,
            "task_id": self.task_id,
            "timestamp": self.timestamp,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "prompt": params.get("prompt"),
            "negative_prompt": params.get("negative_prompt"),
            "model_name": params.get("model_name"),
            "sampler": params.get("sampler"),
            "scheduler": params.get("scheduler"),
            "seed": params.get("seed"),
            "steps": params.get("steps"),
            "cfg_scale": params.get("cfg_scale"),
            "width": params.get("width"),
            "height": params.get("height"),
            "loras": self.loras(),
            "tags": self.document.get("tags") or [],  # user additions (sidecar.added_keys)
            "rating": self.document.get("rating"),
            "notes": self.document.get("notes"),
            "parameters": params,
        }
