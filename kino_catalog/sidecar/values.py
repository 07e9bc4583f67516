"""How sidecar JSON values are typed: what counts as an integer or a number, and how a
wrong value is described in a warning.

One home for these rules, shared by the record (``record.py``) and the keys we
add (``added_keys.py``), so ``"steps": 30.0`` and ``"rating": 4.0`` are read
the same way.
"""

from __future__ import annotations

from typing import Any

__all__ = ["INT64_RANGE", "as_int", "as_number", "describe"]

# Beyond 2**53 a float no longer holds every integer: 1.8446744073709552e19 is
# not the seed somebody wrote, so such a float is not taken as an integer.
_EXACT_FLOAT_INT = 2**53

#: What a 64-bit integer column holds (seeds have their own encoding).
INT64_RANGE = range(-(2**63), 2**63)


def as_int(value: Any) -> int | None:
    """The integer a JSON value stands for, or None if it is not one.

    JSON has one number type, so ``30.0`` is the integer 30; ``30.5``,
    ``"30"``, ``true`` and floats too large to be exact are not integers.
    """
    kind = type(value)
    if kind is int:  # bool is a subclass, not this type
        return int(value)
    if kind is float and value.is_integer() and -_EXACT_FLOAT_INT <= value <= _EXACT_FLOAT_INT:
        return int(value)
    return None


def as_number(value: Any) -> float | None:
    """A JSON number as a float, or None if it is not a (representable) number."""
    kind = type(value)
    if kind is float:  # NaN and infinities were refused by the JSON reader
        return float(value)
    if kind is int:
        try:
            return float(value)
        except OverflowError:  # an integer beyond a float's range
            return None
    return None


def describe(value: Any) -> str:
    """``a string '30'``, ``an object``: a wrong value as a warning names it."""
    kind = {
        str: "a string",
        bool: "a boolean",
        list: "a list",
        dict: "an object",
        float: "a number",
        int: "an integer",
        type(None): "null",
    }.get(type(value), type(value).__name__)
    shown = repr(value) if isinstance(value, (str, int, float)) else ""
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{kind} {shown}".rstrip()
