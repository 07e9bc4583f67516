"""Fooocus (and RuinedFooocus): JSON ``parameters``, ``fooocus_scheme`` beside it.

Seeds are strings there (``"6952411511246973023"``) and the size is a
string ``"(768, 1280)"``; both become exact integers.
"""

from __future__ import annotations

from typing import Any

from kino_catalog.importers.mapping import Parsed, kino_value, number, setting_key, size_pair

__all__ = ["is_fooocus", "parse_fooocus"]

_MAPPED = {
    "prompt": "prompt",
    "Prompt": "prompt",
    "negative_prompt": "negative_prompt",
    "Negative": "negative_prompt",
    "base_model": "model_name",
    "base_model_hash": "model_hash",
    "base_model_name": "model_name",
    "sampler": "sampler",
    "sampler_name": "sampler",
    "scheduler": "scheduler",
    "steps": "steps",
    "guidance_scale": "cfg_scale",
    "cfg": "cfg_scale",
    "seed": "seed",
    "width": "width",
    "height": "height",
}


def is_fooocus(doc: Any, scheme: str | None) -> bool:
    if not isinstance(doc, dict):
        return False
    return (
        scheme is not None
        or doc.get("metadata_scheme") == "fooocus"
        or "full_prompt" in doc
        or str(doc.get("software", "")).startswith("RuinedFooocus")
        or str(doc.get("version", "")).startswith("Fooocus")
    )


def parse_fooocus(doc: dict[str, Any]) -> Parsed:
    """Map Fooocus' JSON parameters."""
    params: dict[str, Any] = {}
    for key, value in doc.items():
        target = _MAPPED.get(key)
        value = kino_value(target, value)
        if key == "resolution":
            pair = size_pair(value)
            if pair:
                params.setdefault("width", pair[0])
                params.setdefault("height", pair[1])
        elif key == "loras":
            params["loras"] = _loras(value)
            continue
        params[target or setting_key(key)] = value
    version = doc.get("version")
    return Parsed(params, version if isinstance(version, str) else None)


def _loras(value: Any) -> list[dict[str, Any]]:
    """``[[name, weight(, hash)]]``, ``["name : weight"]`` or dicts -> Kino LoRA items."""
    items = []
    for entry in value if isinstance(value, list) else []:
        name, weight = None, 1.0
        if isinstance(entry, (list, tuple)) and entry:
            name = str(entry[0])
            if len(entry) > 1 and isinstance(number(entry[1]), (int, float)):
                weight = float(number(entry[1]))
        elif isinstance(entry, str):
            name, _, tail = entry.rpartition(" : ") if " : " in entry else (entry, "", "")
            parsed = number(tail.strip())
            weight = float(parsed) if isinstance(parsed, (int, float)) else 1.0
        elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
            name = entry["name"]
            parsed = number(entry.get("weight", 1.0))
            weight = float(parsed) if isinstance(parsed, (int, float)) else 1.0
        if name and name.lower() != "none":
            items.append({"lora_name": name, "strength_model": weight, "strength_clip": weight})
    return items
