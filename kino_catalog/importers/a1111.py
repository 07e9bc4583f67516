"""A1111 / Forge / SD.Next / Civitai "infotext": the prompt, ``Negative prompt:``, a settings line.

The layout (A1111's ``create_infotext``): prompt lines, then lines starting
``Negative prompt:``, then one settings line ``Key: value, Key: value, ...``,
then optionally sd-dynamic-prompts' ``Template:`` / ``Negative Template:``
lines.  Values may be quoted (``Lora hashes: "a: 1, b: 2"``) or be raw JSON
with commas in it (Civitai's ``Civitai resources: [...]``), which breaks a
plain split on commas.  LoRAs come from ``<lora:name:weight>`` (and
``<lyco:...>``) in the prompt; ``Lora hashes`` is kept as written and never
used to rename a LoRA.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kino_catalog.importers.mapping import Parsed, iso_timestamp, number, setting_key, size_pair

__all__ = ["is_infotext", "parse_infotext", "prompt_loras"]

_SETTINGS_START = re.compile(r"\s*Steps:\s*\d")
_KEY = re.compile(r"\s*([A-Za-z][\w \-/().+]*?):\s*")
_LORA = re.compile(r"<(lora|lyco):([^:>]+)((?::[^:>]*)*)>", re.IGNORECASE)
_TEMPLATES = ("Template:", "Negative Template:")

# Settings with a Kino key (or a special rule); the others become snake_case keys.
_MAPPED = {
    "Sampler": "sampler",
    "Schedule type": "scheduler",
    "Model": "model_name",
}


def is_infotext(text: str) -> bool:
    """Does ``text`` look like an infotext (a settings line with Steps, or 3+ settings)?"""
    return _find_settings(text.split("\n")) is not None


def parse_infotext(text: str) -> Parsed:
    """Map an infotext to Kino's keys; every other setting keeps its own key.

    Raises:
        ValueError: no settings line could be found.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    found = _find_settings(lines)
    if found is None:
        raise ValueError("no settings line (Steps: ...) in the infotext")
    index, settings = found
    prompt, negative = _split_prompts(lines[:index])
    params: dict[str, Any] = {"prompt": prompt}
    if negative is not None:
        params["negative_prompt"] = negative
    version = None
    for key, value in settings.items():
        if key == "Size":
            pair = size_pair(value)
            if pair:
                params["width"], params["height"] = pair
                continue
        if key == "Version":
            version = value if isinstance(value, str) else str(value)
            continue
        if key in ("Steps", "Seed"):
            params[key.lower()] = number(value)
            continue
        if key == "CFG scale":
            value = number(value)
            params["cfg_scale"] = float(value) if isinstance(value, (int, float)) else value
            continue
        target = _MAPPED.get(key) or setting_key(key)
        if target in params:
            target = f"{target}_setting"
        params[target] = (
            value if target in ("model_name", "sampler", "scheduler") else number(value)
        )
    params.update(_templates(lines[index + 1 :]))
    loras = prompt_loras(prompt)
    if loras:
        params["loras"] = loras
    return Parsed(params, version, iso_timestamp(settings.get("Created Date")))


def _find_settings(lines: list[str]) -> tuple[int, dict[str, Any]] | None:
    """The settings line (its index and its settings), searched from the end."""
    fallback = None
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if _SETTINGS_START.match(line):
            return index, parse_settings(line)
        if fallback is None and not line.startswith(_TEMPLATES):
            settings = parse_settings(line)
            if len(settings) >= 3 and not line.startswith("Negative prompt:"):
                fallback = (index, settings)
    return fallback


def parse_settings(line: str) -> dict[str, Any]:
    """``Key: value, Key: "quoted, value", Key: [json, ...]`` -> dict (A1111's rules, plus JSON)."""
    settings: dict[str, Any] = {}
    pos, end = 0, len(line)
    while pos < end:
        match = _KEY.match(line, pos)
        if match is None:
            break
        key, pos = match.group(1).strip(), match.end()
        value: Any
        if pos < end and line[pos] == '"':
            value, pos = _quoted(line, pos)
        elif pos < end and line[pos] in "[{":
            value, pos = _json_value(line, pos)
        else:
            stop = _next_comma(line, pos)
            value, pos = line[pos:stop].strip(), stop
        settings[key] = value
        pos = line.find(",", pos)
        if pos < 0:
            break
        pos += 1
    return settings


def _next_comma(line: str, pos: int) -> int:
    """The comma that ends a plain value: one followed by ``Key:`` (or the end of the line)."""
    while True:
        comma = line.find(",", pos)
        if comma < 0:
            return len(line)
        if _KEY.match(line, comma + 1):
            return comma
        pos = comma + 1


def _quoted(line: str, pos: int) -> tuple[str, int]:
    index, end = pos + 1, len(line)
    while index < end:
        if line[index] == "\\":
            index += 2
            continue
        if line[index] == '"':
            raw = line[pos : index + 1]
            try:
                return json.loads(raw), index + 1
            except json.JSONDecodeError:
                return raw[1:-1], index + 1
        index += 1
    return line[pos + 1 :], end


def _json_value(line: str, pos: int) -> tuple[Any, int]:
    """A raw JSON array/object: up to its matching bracket, strings taken into account."""
    depth, index, end, in_string = 0, pos, len(line), False
    while index < end:
        char = line[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                raw = line[pos : index + 1]
                try:
                    return json.loads(raw), index + 1
                except (json.JSONDecodeError, RecursionError):
                    return raw, index + 1
        index += 1
    stop = _next_comma(line, pos)
    return line[pos:stop].strip(), stop


def _split_prompts(lines: list[str]) -> tuple[str, str | None]:
    prompt: list[str] = []
    negative: list[str] | None = None
    for line in lines:
        if negative is None and line.startswith("Negative prompt:"):
            negative = [line[len("Negative prompt:") :]]
        elif negative is not None:
            negative.append(line)
        else:
            prompt.append(line)
    return "\n".join(prompt).strip(), (
        "\n".join(negative).strip() if negative is not None else None
    )


def _templates(lines: list[str]) -> dict[str, str]:
    """sd-dynamic-prompts' ``Template:`` / ``Negative Template:`` blocks (may span lines)."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        for label in ("Negative Template:", "Template:"):
            if line.startswith(label):
                current = found.setdefault(setting_key(label[:-1]), [])
                current.append(line[len(label) :].strip())
                break
        else:
            if current is not None:
                current.append(line)
    return {key: "\n".join(parts).strip() for key, parts in found.items()}


def prompt_loras(prompt: str) -> list[dict[str, Any]]:
    """``<lora:name:weight>`` / ``<lora:name:te:unet>`` / ``<lyco:name:...>`` -> Kino LoRA items.

    One weight applies to both; two are (text encoder, unet) as in A1111's
    extra networks, i.e. (strength_clip, strength_model).  ``te=``/``unet=``
    named weights are understood too.
    """
    loras = []
    for match in _LORA.finditer(prompt):
        name = match.group(2).strip()
        weights = [w.strip() for w in match.group(3).split(":")[1:] if w.strip()]
        named = {k.strip(): v for k, _, v in (w.partition("=") for w in weights if "=" in w)}
        plain = [_float(w) for w in weights if "=" not in w]
        clip = _float(named["te"]) if "te" in named else (plain[0] if plain else 1.0)
        model = _float(named["unet"]) if "unet" in named else (plain[1] if len(plain) > 1 else clip)
        item: dict[str, Any] = {"lora_name": name, "strength_model": model, "strength_clip": clip}
        if match.group(1).lower() != "lora":
            item["kind"] = match.group(1).lower()
        loras.append(item)
    return loras


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
