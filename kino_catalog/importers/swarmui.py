"""SwarmUI: ``parameters`` holds JSON ``{"sui_image_params": {...}, "sui_models": [...], ...}``.

Swarm also writes the ComfyUI graph it ran; its own parameters are what the
user set, so they win (the graph's samplers are kept beside them).
"""

from __future__ import annotations

from typing import Any

from kino_catalog.importers.mapping import Parsed, kino_value, setting_key

__all__ = ["is_swarm", "parse_swarm"]

_MAPPED = {
    "prompt": "prompt",
    "negativeprompt": "negative_prompt",
    "model": "model_name",
    "sampler": "sampler",
    "scheduler": "scheduler",
    "steps": "steps",
    "cfgscale": "cfg_scale",
    "seed": "seed",
    "width": "width",
    "height": "height",
}


def is_swarm(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("sui_image_params"), dict)


def parse_swarm(doc: dict[str, Any]) -> Parsed:
    """Map Swarm's parameters; LoRAs come from its parallel ``loras``/``loraweights`` lists."""
    source: dict[str, Any] = doc["sui_image_params"]
    params: dict[str, Any] = {}
    for key, value in source.items():
        target = _MAPPED.get(key)
        value = kino_value(target, value)
        if key in ("loras", "loraweights", "swarm_version"):
            continue
        params[target or setting_key(key)] = value
    names, weights = source.get("loras"), source.get("loraweights")
    if isinstance(names, list):
        weights = weights if isinstance(weights, list) else []
        params["loras"] = [
            {
                "lora_name": str(name),
                "strength_model": _weight(weights, index),
                "strength_clip": _weight(weights, index),
            }
            for index, name in enumerate(names)
        ]
    for key in ("sui_models", "sui_extra_data"):
        if key in doc:
            params[key] = doc[key]
    version = source.get("swarm_version")
    extra = doc.get("sui_extra_data")
    date = extra.get("date") if isinstance(extra, dict) else None
    timestamp = (
        date.replace("-", "") + "_000000" if isinstance(date, str) and len(date) == 10 else None
    )
    return Parsed(params, version if isinstance(version, str) else None, timestamp)


def _weight(weights: list[Any], index: int) -> float:
    try:
        return float(weights[index])
    except (IndexError, TypeError, ValueError):
        return 1.0
