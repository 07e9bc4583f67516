"""The Frame read model: one catalogue row, rendered as the documented frame JSON."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kino_catalog.schema import Frame as FrameRow
from kino_catalog.schema import FrameDocument, Root
from kino_catalog.sidecar import loads_exact
from kino_catalog.sidecar.record import is_lora_list

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.engine import Row

__all__ = ["FRAME_SELECT_COLUMNS", "Frame", "frame_select"]

_f = FrameRow.__table__.c
_d = FrameDocument.__table__.c
# The document is a correlated look-up by primary key rather than a join: one
# probe per row that passes the WHERE, and it never sways a plan's join order.
FRAME_SELECT_COLUMNS = (
    _f.id,
    Root.__table__.c.path,
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
    """SELECT of the columns a Frame needs, joined to its root."""
    return select(*FRAME_SELECT_COLUMNS).join_from(
        FrameRow.__table__, Root.__table__, _f.root_id == Root.__table__.c.id
    )


@dataclass(frozen=True)
class Frame:
    """One indexed sidecar; ``document`` is the sidecar exactly as on disk when indexed."""

    id: int
    root: str
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

    @classmethod
    def from_row(cls, row: Row[Any]) -> Frame:
        return cls(*tuple(row))

    @property
    def sidecar_path(self) -> str:
        return os.path.join(self.root, self.folder, self.name)

    @property
    def image_path(self) -> str:
        return os.path.join(self.root, self.folder, self.image_name)

    @cached_property
    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = loads_exact(self.raw_json.encode("utf-8"), self.sidecar_path)
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
        return {
            "id": self.id,
            "sidecar": self.sidecar_path,
            "image": self.image_path,
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
            "tags": self.document.get("tags") or [],  # user additions (extras.py)
            "rating": self.document.get("rating"),
            "notes": self.document.get("notes"),
            "parameters": params,
        }
