"""What every format parser returns, and the small value conversions they share."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Parsed",
    "exact_int",
    "iso_timestamp",
    "kino_value",
    "number",
    "setting_key",
    "size_pair",
    "text_or_none",
]

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_SIZE = re.compile(r"\(?\s*(\d+)\s*[x\u00d7*,]\s*(\d+)\s*\)?")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass
class Parsed:
    """One image's parameters in Kino's shape, and what else the format stated."""

    parameters: dict[str, Any]
    version: str | None = None  # the tool's version, when stated
    timestamp: str | None = None  # YYYYMMDD_HHMMSS, when the metadata says when
    problems: list[str] = field(default_factory=list)  # partial failures worth listing


def number(value: Any) -> Any:
    """A numeric string as int or float (``"7"`` -> 7, ``"0.35"`` -> 0.35); others unchanged.

    Integers stay exact at any size (seeds beyond 2**64 included).
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        result = float(text)
        return result if result == result and abs(result) != float("inf") else value
    return value


def exact_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a digit string (Fooocus seeds); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value.strip())
    return None


def kino_value(key: str | None, value: Any) -> Any:
    """A value typed for its Kino key: integers for seed/steps/width/height (digit strings
    and integral floats included), a float for cfg_scale; anything else unchanged (the
    sidecar check moves what still does not fit off the typed key).
    """
    if key in ("seed", "steps", "width", "height"):
        whole = exact_int(value)
        return value if whole is None else whole
    if key == "cfg_scale":
        parsed = number(value)
        if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
            return float(parsed)
    return value


def setting_key(label: str) -> str:
    """A settings label as a parameter key: ``"Hires upscale"`` -> ``hires_upscale``."""
    return _NON_WORD.sub("_", label.strip().lower()).strip("_") or "setting"


def size_pair(value: Any) -> tuple[int, int] | None:
    """``"1024x768"``, ``"(768, 1280)"``, ``"1216 x 832 (landscape)"`` -> (width, height)."""
    if not isinstance(value, str):
        return None
    match = _SIZE.search(value)
    return (int(match.group(1)), int(match.group(2))) if match else None


def text_or_none(value: Any) -> str | None:
    """A string value, or None for anything else."""
    return value if isinstance(value, str) else None


def iso_timestamp(text: Any) -> str | None:
    """An ISO 8601 time (``2026-01-04T01:27:21.2717070Z``) as Kino's local ``YYYYMMDD_HHMMSS``."""
    if not isinstance(text, str):
        return None
    try:  # .NET writes 7 fraction digits; Python 3.11 reads at most 6
        moment = dt.datetime.fromisoformat(
            _LONG_FRACTION.sub(r"\1", text.strip()).replace("Z", "+00:00")
        )
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone().replace(tzinfo=None)
    return moment.strftime("%Y%m%d_%H%M%S")
