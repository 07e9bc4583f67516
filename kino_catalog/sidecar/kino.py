"""Kino's sidecar functions, drop-in compatible, plus exact JSON reading.

Kino plugins call ``await save_generation_params(...)`` after writing an image;
the functions here keep those names and arguments so a plugin can import them
from kino_catalog instead.  Two differences, both on purpose:

* ``timestamp=None`` is filled with the current local time (``YYYYMMDD_HHMMSS``),
  because a null timestamp makes the generation time guesswork later;
* the file is written atomically (temp file in the same folder, fsync,
  ``os.replace``), so a reader or the watcher never sees half a sidecar.

Reading is lossless: integers of any size stay exact ``int``, floats stay
floats, unknown keys are kept.  msgspec parses (in C, exactly, big integers
included); what it cannot settle alone goes through the standard library.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import msgspec

from kino_catalog.errors import SidecarLimitError, SidecarParseError
from kino_catalog.sidecar.files import write_atomic
from kino_catalog.sidecar.limits import MAX_SIDECAR_BYTES, kib

__all__ = [
    "MAX_SIDECAR_BYTES",
    "TOO_DEEP_REASON",
    "dumps_sidecar",
    "encode_sidecar",
    "get_params_path",
    "hash_file",
    "load_generation_params",
    "loads_exact",
    "params_exist",
    "read_sidecar_bytes",
    "save_generation_params",
    "save_generation_params_sync",
    "too_big_reason",
]

TIMESTAMP_FORMAT = "%Y%m%d_%H%M%S"
#: The reason recorded for JSON nested deeper than the parsers go (about 1,000 levels).
TOO_DEEP_REASON = "JSON nested too deeply"

# Duplicate keys: each key of an object is followed by one colon, outside any
# string, so a text with a repeated key has more colons than the document parsed
# from it, written back.  A colon written as an escape (`\u003a`) would add one
# back: such texts take the slow path.
_COLON_ESCAPE = b"\\u003"
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def get_params_path(path: str | os.PathLike[str]) -> str:
    """Return the sidecar path for an image (or sidecar) path: same path, ``.json``."""
    return str(Path(path).with_suffix(".json"))


def params_exist(path: str | os.PathLike[str]) -> bool:
    """Tell whether the sidecar for ``path`` exists."""
    return os.path.isfile(get_params_path(path))


def load_generation_params(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Load the sidecar of an image or sidecar path, or None if absent or unreadable.

    Kino's callers expect ``None`` rather than an exception for a missing or
    damaged file; use :func:`loads_exact` on the bytes to learn why.
    """
    try:
        data = read_sidecar_bytes(get_params_path(path))
        doc = loads_exact(data, get_params_path(path))
    except (OSError, SidecarParseError):
        return None
    return doc if isinstance(doc, dict) else None


def read_sidecar_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a sidecar, refusing files over MAX_SIDECAR_BYTES before reading them.

    Raises:
        SidecarParseError: the file is too big.
        OSError: it cannot be opened or read.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > MAX_SIDECAR_BYTES:
            raise SidecarParseError(os.fspath(path), too_big_reason(size))
        return fh.read(MAX_SIDECAR_BYTES + 1)


def too_big_reason(size: int) -> str:
    """The one-line reason recorded for a file over MAX_SIDECAR_BYTES."""
    return f"file is {_size(size)}, over the {kib(MAX_SIDECAR_BYTES)} sidecar limit"


def _size(size: int) -> str:
    # 1.3 MB, but 1,048,577 bytes where one decimal would hide that it is over.
    return f"{size / 1e6:.1f} MB" if size >= 2 * 1024 * 1024 else f"{size:,} bytes"


def loads_exact(data: bytes, path: str = "<bytes>") -> Any:
    """Parse JSON bytes exactly: big integers stay ``int``, no NaN, no duplicate keys.

    Raises:
        SidecarParseError: with a one-line reason for anything that is not
            strict, exactly representable JSON in UTF-8.
    """
    if len(data) > MAX_SIDECAR_BYTES:
        raise SidecarParseError(path, too_big_reason(len(data)))
    try:
        doc = _decode(data)
    except (msgspec.DecodeError, RecursionError):
        pass  # the slow path below gives the precise, user-facing reason
    else:
        if _has_unique_keys(data, doc):
            return doc
    return _loads_strict(data, path)


def _has_unique_keys(data: bytes, doc: Any) -> bool:
    """Whether the text ``doc`` was parsed from repeats no key of any object (in C).

    msgspec keeps the last of repeated keys.  Every key in the text brings a
    colon, and so does the document written back for each key it kept;
    colons inside strings are in both (the encoder never escapes one), and
    nothing else in JSON holds a colon.  So equal counts mean no key was
    dropped, whatever the spacing, unless the text wrote a colon as an
    escape (one more colon written back, which could hide a dropped key).
    Counting colons costs a quarter of searching the text for a space
    before one, which counting ``":`` needed.
    """
    if _COLON_ESCAPE in data:
        return False
    try:
        written = _encode(doc)
    except RecursionError:  # nested deeper than the encoder goes
        return False
    return data.count(b":") == written.count(b":")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {dup!r}")
    return obj


def _loads_strict(data: bytes, path: str) -> Any:
    if not data.strip():
        raise SidecarParseError(path, "empty file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SidecarParseError(path, f"not UTF-8 (bad byte at offset {exc.start})") from exc
    try:
        doc = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_pairs)
    except RecursionError as exc:
        raise SidecarParseError(path, TOO_DEEP_REASON) from exc
    except json.JSONDecodeError as exc:
        raise SidecarParseError(
            path, f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except ValueError as exc:  # NaN/Infinity, duplicate keys, over-long integers
        raise SidecarParseError(path, f"invalid JSON: {exc}") from exc
    try:
        # Lone surrogates parse in Python but cannot be stored or re-encoded.
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SidecarParseError(path, "invalid JSON: lone surrogate in a string") from exc
    return doc


def dumps_sidecar(doc: dict[str, Any]) -> bytes:
    """Serialise a sidecar the way Kino does (indent 2, UTF-8), refusing NaN.

    Raises:
        ValueError: the document holds NaN or Infinity, which JSON cannot carry.
    """
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False).encode("utf-8")


def encode_sidecar(
    doc: Any, path: str, *, max_bytes: int = MAX_SIDECAR_BYTES, what: str = "sidecar"
) -> bytes:
    """Serialise ``doc`` as :func:`dumps_sidecar` does, refused unless the reader takes it back.

    The one check every writer makes before replacing a file: the bytes must
    be within ``max_bytes`` (at most the reading limit) and parse again with
    :func:`loads_exact` (no NaN, not nested too deeply, valid UTF-8), so
    kino-catalog never writes a file it would then refuse to read.

    Raises:
        SidecarLimitError: ``path`` and one line naming the limit; nothing was written.
    """
    try:
        data = dumps_sidecar(doc)
    except RecursionError as exc:
        raise SidecarLimitError(
            path, f"the {what} would be nested too deeply; not written"
        ) from exc
    except ValueError as exc:  # NaN or Infinity
        raise SidecarLimitError(
            path, f"the {what} would hold a value JSON cannot carry ({exc}); not written"
        ) from exc
    if len(data) > max_bytes:
        limit = "limit the catalogue reads" if max_bytes == MAX_SIDECAR_BYTES else f"{what} limit"
        raise SidecarLimitError(
            path,
            f"the {what} would be {_size(len(data))}, over the {kib(max_bytes)} {limit}; "
            "not written",
        )
    try:
        loads_exact(data, path)
    except SidecarParseError as exc:
        raise SidecarLimitError(
            path, f"the {what} would not be readable ({exc.reason}); not written"
        ) from exc
    return data


def hash_file(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """The hex digest of a file (SHA-256 unless told), read in chunks (images can be large).

    Raises:
        OSError: it cannot be read.
        ValueError: ``hashlib`` does not know ``algorithm``.
    """
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def _system_info() -> dict[str, Any]:
    try:
        from kino_catalog.sidecar.sysinfo import system_info

        return system_info()
    except Exception:  # never fail a save over a description of the machine
        return {}


def save_generation_params_sync(
    output_path: str | os.PathLike[str],
    plugin_name: str,
    plugin_version: str,
    task_id: int | None,
    timestamp: str | None,
    parameters: dict[str, Any],
    project_id: int | None,
    frame_id: int | None = None,
    *,
    system_info: bool = False,
    image_hash: bool = False,
    **extra: Any,
) -> str:
    """Write the sidecar for the image at ``output_path``; return the sidecar path.

    Keys and their order are Kino's: plugin, plugin_version, parameters,
    variants, output, timestamp, task_id, project_id, frame_id (only when
    given).  ``extra`` adds further top-level keys (older readers ignore them).
    ``system_info=True`` adds the machine's description (kino_catalog.sidecar.sysinfo,
    detected once per process); ``image_hash=True`` adds
    ``{"algorithm": "sha256", "value": ...}`` of the image.  Neither ever
    fails the save: what cannot be detected (or an image not written yet)
    is simply left out.

    Raises:
        SidecarLimitError: the sidecar would be one kino-catalog could not read back
            (over the size limit, nested too deeply, NaN/Infinity); nothing is written.
        TypeError: parameters are not a dict.
    """
    if not isinstance(parameters, dict):
        raise TypeError(f"parameters must be a dict, not {type(parameters).__name__}")
    image = os.path.abspath(output_path)
    doc: dict[str, Any] = {
        "plugin": plugin_name,
        "plugin_version": plugin_version,
        "parameters": parameters,
        "variants": parameters.get("num_variants", 1),
        "output": {"filename": os.path.basename(image), "path": image},
        "timestamp": timestamp or dt.datetime.now().strftime(TIMESTAMP_FORMAT),
        "task_id": task_id,
        "project_id": project_id,
    }
    if frame_id is not None:
        doc["frame_id"] = frame_id
    if system_info:
        doc["system_info"] = _system_info()
    if image_hash:
        try:
            doc["image_hash"] = {"algorithm": "sha256", "value": hash_file(image)}
        except OSError:
            pass  # no image (yet): a hash can be added later with `kino-catalog hash`
    doc.update(extra)
    sidecar = get_params_path(image)
    write_atomic(sidecar, encode_sidecar(doc, sidecar))
    return sidecar


async def save_generation_params(
    output_path: str | os.PathLike[str],
    plugin_name: str,
    plugin_version: str,
    task_id: int | None,
    timestamp: str | None,
    parameters: dict[str, Any],
    project_id: int | None,
    frame_id: int | None = None,
    *,
    system_info: bool = False,
    image_hash: bool = False,
    **extra: Any,
) -> str:
    """Async twin of :func:`save_generation_params_sync`, as Kino plugins ``await`` it.

    The file work runs in a thread so the event loop keeps serving requests.
    """
    return await asyncio.to_thread(
        save_generation_params_sync,
        output_path,
        plugin_name,
        plugin_version,
        task_id,
        timestamp,
        parameters,
        project_id,
        frame_id,
        system_info=system_info,
        image_hash=image_hash,
        **extra,
    )
