"""Regeneration requests: a sidecar (or a saved request) -> a Kino task body, with edits.

The request's ``data.parameters`` is the sidecar's ``parameters`` object as it
was parsed losslessly from disk, so without edits it is equal to it key for
key, value for value and JSON type for JSON type (a seed of 2**64-1 stays that
integer).  The edits themselves (``--set`` and the LoRA options) are
overrides.py's; this module builds the task body around the parameters: its
name, plugin, project and ``source``, from a sidecar, a preset, a catalogued
frame or a saved file.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from typing import TYPE_CHECKING, Any, Protocol

from kino_catalog.errors import SidecarError, UsageError
from kino_catalog.regen.overrides import apply_edits
from kino_catalog.regen.retarget import retarget_document
from kino_catalog.sidecar import loads_exact
from kino_catalog.sidecar.record import (
    is_json_int,
    kino_name_parts,
    parse_record,
    project_from_name,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from kino_catalog.regen.overrides import Edits
    from kino_catalog.regen.presets import Preset

__all__ = [
    "TASK_NAME_MAX_CHARS",
    "SourceFrame",
    "read_request_files",
    "request_from_document",
    "request_from_frame",
    "request_from_preset",
    "task_name",
]

#: Kino refuses a task name longer than this (and answers 500 for a blank one).
TASK_NAME_MAX_CHARS = 255


def _kino_frame_id(document: dict[str, Any], sidecar: str | None) -> int | None:
    frame_id = document.get("frame_id")
    if is_json_int(frame_id):
        return frame_id
    parts = kino_name_parts(os.path.basename(sidecar or ""))
    return parts[1] if parts else None


def task_name(
    sidecar: str | None, plugin: str, project_id: int | None, frame_id: int | None = None
) -> str:
    """The task name Kino's UI would give: "Regenerate frame N for project P".

    ``frame_id`` is a known Kino frame id (a sidecar of an in-place
    regeneration records it); otherwise N comes from the file name, which
    holds variant 0's id, so another variant says which one it is.
    """
    stem = os.path.splitext(os.path.basename(sidecar))[0] if sidecar else ""
    parts = kino_name_parts(stem)
    if frame_id is not None:
        what = f"frame {frame_id}"
    elif parts is not None:
        variant = f" variant {parts[2]}" if parts[2] else ""
        what = f"frame {parts[1]}{variant}"
    else:
        what = stem or f"a {plugin} frame"
    where = f" for project {project_id}" if project_id is not None else ""
    return f"Regenerate {what}{where}"[:TASK_NAME_MAX_CHARS]


def request_from_document(
    document: dict[str, Any],
    *,
    sidecar: str | None = None,
    project_id: int | None = None,
    edits: Edits | None = None,
    extra_source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The Kino task body that reproduces a sidecar document (see DESIGN.md §6).

    ``project_id`` is the fallback when the document has none (Kino's
    in-place regeneration drops it; the file name keeps it).
    """
    plugin = document["plugin"]
    params = document["parameters"]
    if edits is not None and not edits.is_empty:
        params = apply_edits(params, plugin, edits)
    own_project = document.get("project_id")
    if is_json_int(own_project):
        project_id = own_project
    elif project_id is None and sidecar:
        project_id = project_from_name(os.path.basename(sidecar))
    source: dict[str, Any] = {
        "sidecar": sidecar,
        "plugin_version": document.get("plugin_version"),
        "frame_id": _kino_frame_id(document, sidecar),
        "task_id": document.get("task_id"),
        "timestamp": document.get("timestamp"),
    }
    source.update(extra_source or {})
    own_frame = document.get("frame_id")
    return {
        "name": task_name(
            sidecar, plugin, project_id, own_frame if is_json_int(own_frame) else None
        ),
        "type": plugin,
        "data": {"parameters": params, "project_id": project_id},
        "source": source,
    }


def request_from_preset(preset: Preset, edits: Edits) -> dict[str, Any]:
    """The request a preset describes, with ``edits``; its open keys must all be set.

    Open keys are absent from the preset's parameters, so setting them is
    allowed without ``allow_new_keys`` (their type is guessed from the text);
    any other new key still needs it.

    Raises:
        UsageError: an open key is not set, another key is new, or the preset
            does not say which plugin it is for.
    """
    missing = preset.missing(dict(edits.overrides))
    if missing:
        raise UsageError(
            f"preset {preset.name!r} leaves {', '.join(missing)} open: "
            f"give {' '.join(f'--set {key}=...' for key in missing)}"
        )
    new = [
        key
        for key in edits.overrides
        if key not in preset.parameters and key not in preset.open_keys
    ]
    if new and not edits.allow_new_keys:
        raise UsageError(
            f"preset {preset.name!r} has no {', '.join(map(repr, new))} "
            "(use --allow-new-keys to add it)"
        )
    if not preset.plugin:
        raise UsageError(
            f"preset {preset.name!r} does not name its plugin; save it from a "
            "frame or a sidecar file"
        )
    request = request_from_document(
        preset.as_document(),
        edits=dataclasses.replace(edits, allow_new_keys=True),
        extra_source={"preset": preset.path},
    )
    request["name"] = f"Generate from preset {preset.name}"[:TASK_NAME_MAX_CHARS]
    return request


class SourceFrame(Protocol):
    """What a request needs of a catalogued frame (a kino_catalog.Frame has it all).

    A protocol, so regeneration does not import the query package's read model.
    """

    @property
    def id(self) -> int: ...

    @property
    def project_id(self) -> int | None: ...

    @property
    def sidecar_path(self) -> str: ...

    @property
    def image_path(self) -> str: ...

    @property
    def is_mapped(self) -> bool: ...

    @property
    def location(self) -> str: ...

    @property
    def root_name(self) -> str: ...

    @property
    def document(self) -> dict[str, Any]: ...


def request_from_frame(
    frame: SourceFrame, edits: Edits | None = None, plugin: str | None = None
) -> dict[str, Any]:
    """The Kino task body for a catalogued frame; ``plugin`` converts it for another plugin
    (an imported frame for ``sdxl``: see retarget.py).

    Raises:
        UsageError: an edit does not fit, or ``plugin``'s parameters are not known.
    """
    document, about = frame.document, dict[str, Any]()
    if plugin is not None:
        document, about = retarget_document(document, plugin)
    # Where this host has not mapped the frame's root: "root-name:relpath", no image path.
    image = frame.image_path if frame.is_mapped else None
    return request_from_document(
        document,
        sidecar=frame.location,
        project_id=frame.project_id,
        edits=edits,
        extra_source={"image": image, "root": frame.root_name, "catalog_id": frame.id, **about},
    )


def _request_from_value(value: Any, path: str, where: str, edits: Edits | None) -> dict[str, Any]:
    """A parsed JSON value from a --from file: a saved request or a saved sidecar."""
    if isinstance(value, dict) and "type" in value and isinstance(value.get("data"), dict):
        if not isinstance(value["type"], str) or not isinstance(
            value["data"].get("parameters"), dict
        ):
            raise UsageError(f"{where}: a request needs a plugin `type` and `data.parameters`")
        request = copy.deepcopy(value)  # anything else it carries goes to Kino unchanged
        if edits is not None and not edits.is_empty:
            request["data"]["parameters"] = apply_edits(
                value["data"]["parameters"], value["type"], edits
            )
        return request
    try:
        parse_record(value, where)
    except SidecarError as exc:  # NotASidecarError included: the user named this file
        raise UsageError(
            f"{where}: not a Kino sidecar or regeneration request ({exc.reason})"
        ) from exc
    return request_from_document(value, sidecar=os.path.abspath(path), edits=edits)


def read_request_files(
    paths: Iterable[str | os.PathLike[str]], edits: Edits | None = None
) -> Iterator[dict[str, Any]]:
    """Requests from saved sidecars or request files (one object, an array, or JSON lines).

    JSON-lines files are read a line at a time, so a batch written by
    ``regen --query`` can be replayed whatever its size.

    Raises:
        UsageError: a file that cannot be read or holds something else.
    """
    for path in paths:
        name = os.fspath(path)
        try:
            size = os.path.getsize(name)
            whole = _whole_file(name) if size <= 1024 * 1024 else None
            values = whole if whole is not None else _json_lines(name)
            for value, where in values:
                yield _request_from_value(value, name, where, edits)
        except OSError as exc:
            raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from exc


def _whole_file(name: str) -> list[tuple[Any, str]] | None:
    with open(name, "rb") as fh:
        data = fh.read()
    try:
        value = loads_exact(data, name)
    except SidecarError:
        if data.lstrip()[:1] == b"{" and b"\n" in data.strip():
            return None  # maybe JSON lines; _json_lines says precisely what is wrong
        raise UsageError(f"{name}: not valid JSON") from None
    if isinstance(value, list):
        return [(item, f"{name}:[{i}]") for i, item in enumerate(value)]
    return [(value, name)]


def _json_lines(name: str) -> Iterator[tuple[Any, str]]:
    with open(name, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield loads_exact(line, name), f"{name}:{number}"
            except SidecarError as exc:
                raise UsageError(f"{name}, line {number}: {exc.reason}") from exc
