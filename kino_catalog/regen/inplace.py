"""Kino's own id of the frame that an in-place regeneration overwrites.

Kino regenerates in place when a task's ``data.frame_id`` names one of its
frames: the plugin writes over that frame's ``path`` (PNG and sidecar).  The
id must therefore be the frame whose file is the one the user picked, or
another image is lost.  ``frame_<N>`` in a Kino file name is the id of
variant 0 only (every variant of a generation is named after the first one's
id and has an id of its own), and Kino's frame API does not report the
variant, so the file is looked up by path in ``GET /api/v1/frames?project_id=P``,
and the ids the request already knows (the name's ``N``, a sidecar's own
``frame_id``) only break ties.
"""

from __future__ import annotations

import os
from typing import Any

from kino_catalog.sidecar.record import is_json_int

__all__ = ["InPlaceError", "kino_frame_id"]


class InPlaceError(Exception):
    """The frame's Kino id cannot be established; the message says why (one line)."""


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _image_paths(source: dict[str, Any]) -> list[str]:
    """The files the request came from: its image, and the PNG beside its sidecar."""
    paths = []
    image = source.get("image")
    if isinstance(image, str) and image:
        paths.append(os.path.normpath(image))
    sidecar = source.get("sidecar")
    if isinstance(sidecar, str) and sidecar:
        paths.append(os.path.normpath(os.path.splitext(sidecar)[0] + ".png"))
    return paths


def _kino_path(frame: dict[str, Any]) -> str:
    path = frame.get("path")
    return os.path.normpath(path) if isinstance(path, str) and path else ""


def _base(path: str) -> str:
    # Kino may run on Windows; its paths then use backslashes.
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def kino_frame_id(request: dict[str, Any], project_id: int, frames: list[dict[str, Any]]) -> int:
    """The id of the Kino frame (of ``frames``, project ``project_id``) the request came from.

    A frame whose path is the request's image wins; else one whose file name
    is the image's (Kino's paths are paths on Kino's machine).

    Raises:
        InPlaceError: no frame, or several, hold that file; or the request
            names no file and no ``data.frame_id`` that Kino has.
    """
    source, data = _object(request.get("source")), _object(request.get("data"))
    hints: list[int] = [v for v in (data.get("frame_id"), source.get("frame_id")) if is_json_int(v)]
    paths = _image_paths(source)
    if not paths:
        if hints and any(f["id"] == hints[0] for f in frames):
            return hints[0]
        raise InPlaceError(
            "the request names neither its file nor a frame_id Kino has, "
            "so the frame to overwrite is unknown"
        )
    names = {_base(p) for p in paths}
    exact = [f for f in frames if _kino_path(f) in paths]
    found = exact or [f for f in frames if _base(_kino_path(f)) in names]
    ids = sorted({int(f["id"]) for f in found})
    shown = _base(paths[0])
    if len(ids) == 1:
        return ids[0]
    if len(ids) > 1:
        hinted = [i for i in ids if i in hints]
        if len(hinted) == 1:
            return hinted[0]
        listed = ", ".join(map(str, ids))
        raise InPlaceError(f"several Kino frames of project {project_id} hold {shown} ({listed})")
    raise InPlaceError(
        f"Kino has no frame holding {shown} in project {project_id} "
        f"(GET /api/v1/frames?project_id={project_id})"
    )
