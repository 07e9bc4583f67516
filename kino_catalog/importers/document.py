"""The Kino-shaped sidecar document of an imported image, checked as the indexer will read it.

Typed keys get the types Kino and the catalogue expect (a seed that is not an
integer moves to ``seed_as_written`` and is reported) so that one odd value
never makes the indexer refuse the whole sidecar.  The finished text is
parsed back with the project's own reader before it is written: a document
that reader would refuse (over the sidecar size limit, nested too deeply) is
an error naming the limit, never a file on disk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kino_catalog.errors import SidecarError
from kino_catalog.sidecar.kino import MAX_SIDECAR_BYTES, dumps_sidecar, loads_exact
from kino_catalog.sidecar.record import is_json_int, is_lora_list, parse_record

if TYPE_CHECKING:
    from kino_catalog.importers.mapping import Parsed

__all__ = ["IMPORTER_VERSION", "build_document", "encode_checked"]

#: Bumped when a parser change makes earlier imports worth redoing
#: (``import --overwrite-imported``).
IMPORTER_VERSION = "1"

_TEXT_KEYS = ("prompt", "negative_prompt", "model_name", "sampler", "scheduler")
_INT_KEYS = ("seed", "steps", "width", "height")


def build_document(
    *,
    image_path: str,
    image_name: str,
    fmt: str,
    parsed: Parsed | None,
    timestamp: str,
    raw: dict[str, str],
    sha256: str,
    error: str | None,
) -> dict[str, Any]:
    """The sidecar of one imported image (Kino's keys, plus ``imported``)."""
    params = dict(parsed.parameters) if parsed is not None else {}
    problems = list(parsed.problems) if parsed is not None else []
    problems.extend(_fix_types(params))
    if error:
        problems.insert(0, error)
    imported: dict[str, Any] = {
        "format": fmt,
        "importer_version": IMPORTER_VERSION,
        "image_sha256": sha256,
        "raw": raw,
    }
    if problems:
        imported["error"] = "; ".join(problems)
    return {
        "plugin": fmt,
        "plugin_version": parsed.version if parsed is not None else None,
        "parameters": params,
        "variants": 1,
        "output": {"filename": image_name, "path": image_path},
        "timestamp": (parsed.timestamp if parsed is not None else None) or timestamp,
        "task_id": None,
        "project_id": None,
        "imported": imported,
    }


def _fix_types(params: dict[str, Any]) -> list[str]:
    """Move values of the wrong type off the typed keys; returns what was moved."""
    moved = []
    for key in list(params):
        value = params[key]
        if key in _TEXT_KEYS:
            is_ok = value is None or isinstance(value, str)
        elif key in _INT_KEYS:
            is_ok = value is None or is_json_int(value)
        elif key == "cfg_scale":
            if is_json_int(value):
                params[key] = value = float(value)
            is_ok = value is None or isinstance(value, float)
        elif is_lora_list(key, value):
            is_ok = _is_lora_list(value)
        else:
            continue
        if not is_ok:
            params[f"{key}_as_written"] = params.pop(key)
            moved.append(f"{key} {value!r:.40} is not usable as {key}")
    return moved


def _is_lora_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict)
        and isinstance(item.get("lora_name"), str)
        and all(
            item.get(k) is None
            or (isinstance(item[k], (int, float)) and not isinstance(item[k], bool))
            for k in ("strength_model", "strength_clip")
        )
        for item in value
    )


def encode_checked(doc: dict[str, Any], sidecar_path: str) -> bytes:
    """The sidecar's bytes, refused unless the indexer would read them back as a frame.

    Raises:
        ValueError: too big, too deep, or not a valid sidecar; the message names the limit.
    """
    try:
        data = dumps_sidecar(doc)
    except RecursionError as exc:
        raise ValueError("the metadata is nested too deeply to be written as JSON") from exc
    except ValueError as exc:  # NaN or Infinity parsed from the metadata
        raise ValueError(f"the metadata holds a value JSON cannot carry ({exc})") from exc
    if len(data) > MAX_SIDECAR_BYTES:
        raise ValueError(
            f"the sidecar would be {len(data) / 1e6:.1f} MB, over the "
            f"{MAX_SIDECAR_BYTES // 1024} KiB limit the catalogue reads; not written"
        )
    try:
        parse_record(loads_exact(data, sidecar_path), sidecar_path)
    except SidecarError as exc:
        raise ValueError(f"the sidecar would not be readable: {exc.reason}; not written") from exc
    return data
