"""The typed fields of a sidecar: read fast when plain, checked when odd.

A known key with the wrong type (``"steps": "30"``) leaves its field empty
and becomes a warning (DESIGN §4), which the Checker collects.  Nearly every
sidecar has only plain types, so well_typed reads those in one pass of type
tests and checked_fields reads the rest; on what well_typed accepts the two
agree (a property test in tests/sidecar/test_record.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TypeVar

from kino_catalog.sidecar.values import INT64_RANGE, as_int, as_number, describe

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MAX_KEY_INT", "MAX_WARNINGS", "Checker", "Fields", "checked_fields", "well_typed"]

_T = TypeVar("_T")

# An id as a digit string: ASCII digits only ("²".isdigit() is true), and
# short enough for int() (longer ones are out of range anyway).
_DIGITS = re.compile(r"[0-9]{1,30}")


def _is_number(value: Any) -> bool:
    return as_number(value) is not None


#: Warnings kept per frame: a list of a thousand broken LoRAs is one problem.
MAX_WARNINGS = 5
# encode_int_key holds up to 999 digits.
MAX_KEY_INT = 10**999


class Checker:
    """Typed getters: a value of the wrong type is read as None and noted as a warning.

    A frame is never dropped for one odd value (DESIGN §4): its typed column
    stays empty, everything else is indexed, and ``kino-catalog errors``
    lists the warning.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def wrong(self, key: str, expected: str, value: Any) -> None:
        self.warn(f"{key} must be {expected}, not {describe(value)}")

    def str_(self, obj: dict[str, Any], key: str, where: str) -> str | None:
        value = obj.get(key)
        if value is None or type(value) is str:
            return value
        self.wrong(where + key, "a string", value)
        return None

    def _converted(
        self,
        obj: dict[str, Any],
        key: str,
        where: str,
        convert: Callable[[Any], _T | None],
        expected: str,
    ) -> _T | None:
        """``convert`` of the value (None stays None); a value it refuses is a warning."""
        value = obj.get(key)
        if value is None:
            return None
        converted = convert(value)
        if converted is None:
            self.wrong(where + key, expected, value)
        return converted

    def int_(self, obj: dict[str, Any], key: str, where: str) -> int | None:
        """An integer that fits a 64-bit column; ``30.0`` is 30."""
        number = self._converted(obj, key, where, as_int, "an integer")
        return self.in_range(number, where + key)

    def in_range(self, number: int | None, key: str) -> int | None:
        """``number`` if a 64-bit column holds it; else a warning and None."""
        if number is None or number in INT64_RANGE:
            return number
        self.warn(f"{key} {number} is out of the 64-bit integer range")
        return None

    def seed(self, obj: dict[str, Any], key: str, where: str) -> int | None:
        """An integer of any size (ComfyUI seeds reach 2**64-1) that encode_int_key holds."""
        number = self._converted(obj, key, where, as_int, "an integer")
        if number is not None and abs(number) >= MAX_KEY_INT:
            self.warn(f"{where}{key} is an integer too long to index")
            return None
        return number

    def number(self, obj: dict[str, Any], key: str, where: str) -> float | None:
        return self._converted(obj, key, where, as_number, "a number")

    def id_(self, obj: dict[str, Any], key: str) -> int | None:
        """Ids may arrive as ints or digit strings (form fields); both are fine."""
        value = obj.get(key)
        if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
            return self.in_range(int(value), key)
        return self.int_(obj, key, "")


# The typed fields in the order well_typed and checked_fields give them.
Fields = tuple[Any, ...]


def well_typed(doc: dict[str, Any], params: dict[str, Any]) -> Fields | None:
    """The typed fields of a sidecar whose known keys all have their plain types; else None.

    Nearly every sidecar is like that, and one straight pass of type tests
    costs a third of the checker's call per key (the indexer reads a million
    of them).  Any doubt (a digit-string id, ``30.0`` steps, a number as
    plugin version, a value out of range) returns None and the checker reads
    the document; on what this accepts the two agree (a property test).
    """
    get, pget = doc.get, params.get
    output = get("output")
    filename = None
    if output is not None:
        if type(output) is not dict:
            return None
        filename = output.get("filename")
    texts = (
        get("plugin_version"),
        get("timestamp"),
        filename,
        pget("prompt"),
        pget("negative_prompt"),
        pget("model_name"),
        pget("sampler"),
        pget("scheduler"),
    )
    for text in texts:
        if text is not None and type(text) is not str:
            return None
    ints = (get("task_id"), get("project_id"), get("frame_id"))
    sizes = (pget("steps"), pget("width"), pget("height"))
    for number in ints + sizes:
        if number is not None and (type(number) is not int or number not in INT64_RANGE):
            return None
    seed = pget("seed")
    if seed is not None and (type(seed) is not int or not -MAX_KEY_INT < seed < MAX_KEY_INT):
        return None
    cfg_scale = pget("cfg_scale")
    if cfg_scale is not None:
        cfg_scale = as_number(cfg_scale)
        if cfg_scale is None:
            return None
    steps, width, height = sizes
    return texts[:3] + ints + texts[3:] + (seed, steps, cfg_scale, width, height)


def checked_fields(doc: dict[str, Any], params: dict[str, Any], check: Checker) -> Fields:
    """The typed fields of any Kino-shaped document: a wrong type is None and a warning."""
    version = doc.get("plugin_version")
    if version is not None and not isinstance(version, str):
        if _is_number(version):
            version = str(version)
        else:
            check.wrong("plugin_version", "a string", version)
            version = None
    timestamp = check.str_(doc, "timestamp", "")
    output = doc.get("output")
    if output is not None and not isinstance(output, dict):
        check.wrong("output", "an object", output)
        output = None
    filename = check.str_(output, "filename", "output.") if output else None
    p = "parameters."
    return (
        version,
        timestamp,
        filename,
        check.id_(doc, "task_id"),
        check.id_(doc, "project_id"),
        check.id_(doc, "frame_id"),
        check.str_(params, "prompt", p),
        check.str_(params, "negative_prompt", p),
        check.str_(params, "model_name", p),
        check.str_(params, "sampler", p),
        check.str_(params, "scheduler", p),
        check.seed(params, "seed", p),
        check.int_(params, "steps", p),
        check.number(params, "cfg_scale", p),
        check.int_(params, "width", p),
        check.int_(params, "height", p),
    )
