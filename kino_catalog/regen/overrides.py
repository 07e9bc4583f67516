"""Edits to a request's parameters: ``--set``, ``--set-lora``, ``--drop-lora``.

A module of its own because the edit rules (typing a value like the one it
replaces, relative and random seeds, finding a LoRA in whichever list holds
it) are used on their own: the CLI and the web API parse edits into an
``Edits``; requests.py applies them to a sidecar's, a preset's or a saved
request's parameters.  Edits are typed like the value they replace because
Kino plugins pass parameters straight to ComfyUI, which rejects ``"40"``
where it wants 40.
"""

from __future__ import annotations

import copy
import math
import random
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kino_catalog.errors import SidecarError, UsageError
from kino_catalog.sidecar import loads_exact
from kino_catalog.sidecar.record import is_json_int, is_lora_list, normalise_name

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "DEFAULT_SEED_RANGE",
    "PLUGIN_SEED_RANGES",
    "Edits",
    "apply_edits",
    "convert",
    "parse_assignments",
    "parse_strengths",
]

#: ComfyUI (behind both Kino plugins) accepts seeds 0..2**64-1.
PLUGIN_SEED_RANGES: dict[str, tuple[int, int]] = {
    "sdxl": (0, 2**64 - 1),
    "wan22_i2v": (0, 2**64 - 1),
}
#: Unknown plugins get the range every backend accepts (numpy's is 32-bit),
#: widened to 64 bits when the frame's own seed shows the plugin takes more.
DEFAULT_SEED_RANGE = (0, 2**32 - 1)

_INT = re.compile(r"[+-]?\d+")
_RELATIVE = re.compile(r"[+-]\d+")
_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


@dataclass(frozen=True)
class Edits:
    """What to change in every request: ``--set``, ``--set-lora``, ``--drop-lora``.

    ``overrides`` values may be text (from the command line: converted to the
    original's type) or Python values (from code: checked against it).
    """

    overrides: Mapping[str, Any] = field(default_factory=dict)
    set_loras: Mapping[str, float] = field(default_factory=dict)
    drop_loras: tuple[str, ...] = ()
    allow_new_keys: bool = False
    rng: random.Random | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.overrides or self.set_loras or self.drop_loras)


def parse_assignments(items: Iterable[str], option: str) -> dict[str, str]:
    """Split ``KEY=VALUE`` strings (the value may itself hold ``=``).

    Raises:
        UsageError: an item without ``=`` or with an empty key.
    """
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} {item!r}: expected KEY=VALUE")
        found[key.strip()] = value
    return found


def parse_strengths(items: Iterable[str]) -> dict[str, float]:
    """``--set-lora NAME=STRENGTH`` items -> {name: strength}.

    Raises:
        UsageError: a strength that is not a finite number.
    """
    return {
        name: _to_float("--set-lora " + name, text)
        for name, text in parse_assignments(items, "--set-lora").items()
    }


# ---------------------------------------------------------------- values


def _bad(key: str, value: Any, expected: str) -> UsageError:
    return UsageError(f"--set {key}={value}: {key} must be {expected}")


def _to_float(key: str, text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise _bad(key, text, "a number") from None
    if not math.isfinite(number):
        raise _bad(key, text, "a finite number")
    return number


def _guess(text: str) -> Any:
    """A new key's value: a JSON literal if it is one (``12``, ``true``, ``[1]``), else text."""
    try:
        return loads_exact(text.encode("utf-8"))
    except SidecarError:
        return text


def _seed_range(plugin: str, original: Any) -> tuple[int, int]:
    low, high = PLUGIN_SEED_RANGES.get(plugin, DEFAULT_SEED_RANGE)
    if is_json_int(original) and original > high:
        high = 2**64 - 1
    return low, high


def _seed(plugin: str, original: Any, text: str, rng: random.Random | None) -> int | None:
    """``random`` or ``+N``/``-N`` (wrapping inside the plugin's range, as Kino's UI does)."""
    low, high = _seed_range(plugin, original)
    if text.strip().lower() == "random":
        return (rng or random.SystemRandom()).randint(low, high)
    if _RELATIVE.fullmatch(text.strip()) and isinstance(original, int):
        return (int(original) + int(text) - low) % (high - low + 1) + low
    return None


def convert(key: str, original: Any, value: Any) -> Any:
    """``value`` as the JSON type of ``original`` (text is parsed, Python values checked).

    Raises:
        UsageError: the value does not fit, e.g. ``steps=abc`` or ``cfg_scale=[]``.
    """
    is_text = isinstance(value, str)
    if isinstance(original, bool):
        if isinstance(value, bool):
            return value
        if is_text and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _bad(key, value, "true or false")
    if is_json_int(original):
        if is_json_int(value):
            return value
        if is_text and _INT.fullmatch(value.strip()):
            return int(value)
        raise _bad(key, value, "an integer")
    if isinstance(original, float):
        if is_json_int(value) or isinstance(value, float):
            number = float(value)
            if math.isfinite(number):
                return number
            raise _bad(key, value, "a finite number")
        if is_text:
            return _to_float(key, value)
        raise _bad(key, value, "a number")
    if isinstance(original, str):
        if is_text:
            return value
        raise _bad(key, value, "a string")
    if isinstance(original, (list, dict)):
        parsed = _guess(value) if is_text else value
        if isinstance(parsed, type(original)):
            return parsed
        raise _bad(key, value, "a JSON list" if isinstance(original, list) else "a JSON object")
    return _guess(value) if is_text else value  # null (or unknown) before: take it as given


# ---------------------------------------------------------------- edits
def apply_edits(parameters: dict[str, Any], plugin: str, edits: Edits) -> dict[str, Any]:
    """A copy of ``parameters`` with the edits applied; the input is left alone.

    Raises:
        UsageError: unknown key or LoRA (without ``allow_new_keys``), or a value
            that does not fit the original's type.
    """
    params = copy.deepcopy(parameters)
    for key, value in edits.overrides.items():
        if key not in params and not edits.allow_new_keys:
            raise UsageError(
                f"--set {key}: the frame has no parameter {key!r} (use --allow-new-keys to add it)"
            )
        original = params.get(key)
        if key == "seed" and isinstance(value, str):
            seed = _seed(plugin, original, value, edits.rng)
            if seed is not None:
                params[key] = seed
                continue
        params[key] = (
            convert(key, original, value)
            if key in params
            else (_guess(value) if isinstance(value, str) else value)
        )
    for name in edits.drop_loras:
        _drop_lora(params, name, edits.allow_new_keys)
    for name, strength in edits.set_loras.items():
        _set_lora(params, name, float(strength), edits.allow_new_keys)
    return params


def _lora_lists(params: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    return [
        (role, items)
        for role, items in params.items()
        if is_lora_list(role, items) and isinstance(items, list)
    ]


def _item_key(item: Any) -> str | None:
    name = (
        item
        if isinstance(item, str)
        else (item.get("lora_name", item.get("name")) if isinstance(item, dict) else None)
    )
    return normalise_name(name) if isinstance(name, str) else None


def _drop_lora(params: dict[str, Any], name: str, is_lenient: bool) -> None:
    key, is_found = normalise_name(name), False
    for role, items in _lora_lists(params):
        kept = [item for item in items if _item_key(item) != key]
        is_found = is_found or len(kept) != len(items)
        params[role] = kept
    if not is_found and not is_lenient:
        raise UsageError(f"--drop-lora {name}: the frame uses no such LoRA")


def _set_lora(params: dict[str, Any], name: str, strength: float, is_lenient: bool) -> None:
    key, is_found = normalise_name(name), False
    lists = _lora_lists(params)
    for _role, items in lists:
        for position, item in enumerate(items):
            if _item_key(item) != key:
                continue
            is_found = True
            if isinstance(item, str):  # a bare name has nowhere to keep a strength
                items[position] = item = {"lora_name": item}
            item["strength_model"] = strength
            if "strength_clip" in item:
                item["strength_clip"] = strength
    if is_found:
        return
    if not is_lenient:
        raise UsageError(
            f"--set-lora {name}: the frame uses no such LoRA (use --allow-new-keys to add it)"
        )
    if "loras" not in params and lists:
        roles = ", ".join(role for role, _ in lists)
        raise UsageError(f"--set-lora {name}: cannot tell which list ({roles}) should get it")
    target = params.setdefault("loras", [])
    has_clip = not target or any(isinstance(i, dict) and "strength_clip" in i for i in target)
    new = {"lora_name": name, "strength_model": strength}
    if has_clip:
        new["strength_clip"] = strength
    target.append(new)
