"""The Kino-shaped sidecar document of an imported image, checked as the indexer will read it.

Typed keys get the types Kino and the catalogue expect (a seed that is not an
integer moves to ``seed_as_written`` and is reported) so that one odd value
never makes the indexer refuse the whole sidecar.  The finished text is
parsed back with the project's own reader before it is written: a document
that reader would refuse (over the sidecar size limit, nested too deeply) is
an error naming the limit, never a file on disk.

Raw metadata texts are kept verbatim in ``imported.raw`` up to
RAW_INLINE_BYTES; longer ones (big ComfyUI ``workflow`` and ``prompt``
graphs) go to ``imported.raw_compressed`` as zlib + base64 (about 6 times
smaller), a string the indexer stores but never parses, so a large graph
neither crosses the reading limit nor slows a rebuild.  If the sidecar
would still be over MAX_IMPORTED_BYTES, the largest texts are left out,
with their size and sha256 in ``imported.raw_omitted``: the image keeps
them (import never changes it), and ``imported.error`` says so.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import TYPE_CHECKING, Any

from kino_catalog.errors import SidecarError
from kino_catalog.sidecar.kino import encode_sidecar, loads_exact
from kino_catalog.sidecar.limits import MAX_IMPORTED_BYTES, RAW_INLINE_BYTES, kib
from kino_catalog.sidecar.record import is_json_int, is_lora_list, parse_record

if TYPE_CHECKING:
    from kino_catalog.importers.mapping import Parsed

__all__ = ["IMPORTER_VERSION", "RAW_ENCODING", "build_document", "encode_checked", "raw_texts"]

#: How ``imported.raw_compressed`` entries are encoded.
RAW_ENCODING = "zlib+base64"

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
    inline = {key: text for key, text in raw.items() if not _is_long(text)}
    imported: dict[str, Any] = {
        "format": fmt,
        "importer_version": IMPORTER_VERSION,
        "image_sha256": sha256,
        "raw": inline,
    }
    if len(inline) < len(raw):
        imported["raw_compressed"] = {
            "encoding": RAW_ENCODING,
            "entries": {key: _compress(text) for key, text in raw.items() if key not in inline},
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


def _is_long(text: str) -> bool:
    # Characters first: most texts are short, and encoding them all would cost.
    return len(text) > RAW_INLINE_BYTES // 4 and len(text.encode("utf-8")) > RAW_INLINE_BYTES


def _compress(text: str) -> str:
    return base64.b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii")


def raw_texts(imported: dict[str, Any]) -> dict[str, str]:
    """Every raw metadata text of an ``imported`` object, verbatim, the compressed ones inflated.

    Raises:
        ValueError: an unknown encoding or damaged compressed data.
    """
    texts = dict(imported.get("raw") or {})
    packed = imported.get("raw_compressed")
    if packed:
        if packed.get("encoding") != RAW_ENCODING:
            raise ValueError(f"unknown raw metadata encoding {packed.get('encoding')!r}")
        for key, value in packed["entries"].items():
            try:
                texts[key] = zlib.decompress(base64.b64decode(value, validate=True)).decode()
            except (zlib.error, ValueError) as exc:
                raise ValueError(f"damaged compressed raw metadata {key!r} ({exc})") from exc
    return texts


def encode_checked(doc: dict[str, Any], sidecar_path: str) -> bytes:
    """The sidecar's bytes, refused unless the indexer would read them back as a frame.

    Within MAX_IMPORTED_BYTES (the reading limit minus room for tags, notes
    and the other added keys); when the raw texts push it over, the largest
    are left out (see the module's docstring) before giving up.

    Raises:
        ValueError: too big, too deep, or not a valid sidecar; the message names the limit.
    """
    while True:
        try:
            data = encode_sidecar(
                doc, sidecar_path, max_bytes=MAX_IMPORTED_BYTES, what="imported sidecar"
            )
            break
        except SidecarError as exc:
            if not _omit_largest_raw(doc["imported"]):
                raise ValueError(exc.reason) from exc
    try:
        parse_record(loads_exact(data, sidecar_path), sidecar_path)
    except SidecarError as exc:
        raise ValueError(f"the sidecar would not be readable: {exc.reason}; not written") from exc
    return data


def _omit_largest_raw(imported: dict[str, Any]) -> bool:
    """Move the largest raw text out of the document, into ``raw_omitted``; False if none left."""
    packed = imported.get("raw_compressed", {}).get("entries", {})
    sizes = {("raw", k): len(v) for k, v in imported["raw"].items()}
    sizes.update({("raw_compressed", k): len(v) for k, v in packed.items()})
    if not sizes:
        return False
    where, key = max(sizes, key=lambda item: (sizes[item], item))
    text = raw_texts({"raw": imported["raw"], "raw_compressed": imported.get("raw_compressed")})[
        key
    ]
    (packed if where == "raw_compressed" else imported["raw"]).pop(key)
    if "raw_compressed" in imported and not packed:
        del imported["raw_compressed"]
    data = text.encode("utf-8")
    imported.setdefault("raw_omitted", {})[key] = {
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    note = (
        f"raw metadata {key!r} ({len(data):,} bytes) left out of the sidecar to keep it under "
        f"the {kib(MAX_IMPORTED_BYTES)} import limit; the image still holds it"
    )
    imported["error"] = f"{imported['error']}; {note}" if imported.get("error") else note
    return True
