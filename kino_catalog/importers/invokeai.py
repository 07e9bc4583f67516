"""InvokeAI: ``invokeai_metadata`` (3.x+), ``sd-metadata`` (2.x) and ``Dream`` (1.x) chunks.

InvokeAI's ``scheduler`` is what the other tools call the sampler
(``euler_a``), so it maps to ``sampler``.  The graph (``invokeai_graph``)
stays in the raw metadata only.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from kino_catalog.importers.mapping import Parsed, exact_int, kino_value, setting_key

__all__ = ["parse_dream", "parse_invokeai", "parse_sd_metadata"]

_MAPPED = {
    "positive_prompt": "prompt",
    "negative_prompt": "negative_prompt",
    "scheduler": "sampler",
    "steps": "steps",
    "cfg_scale": "cfg_scale",
    "seed": "seed",
    "width": "width",
    "height": "height",
}
_NEGATIVE = re.compile(r"\[([^\[\]]*)\]")


def parse_invokeai(doc: dict[str, Any]) -> Parsed:
    """Map ``invokeai_metadata`` (3.x to 6.x)."""
    params: dict[str, Any] = {}
    for key, value in doc.items():
        target = _MAPPED.get(key)
        value = kino_value(target, value)
        if key == "model" and isinstance(value, dict):
            name = value.get("name") or value.get("model_name")
            if isinstance(name, str):
                params["model_name"] = name
            if isinstance(value.get("hash"), str):
                params["model_hash"] = value["hash"]
        elif key == "loras" and isinstance(value, list):
            params["loras"] = [item for item in map(_lora, value) if item]
            continue
        if key == "app_version":
            continue
        params[target or setting_key(key)] = value
    version = doc.get("app_version")
    return Parsed(params, version if isinstance(version, str) else None)


def _lora(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return None
    model = item.get("model") or item.get("lora") or {}
    name = model.get("name") or model.get("model_name") if isinstance(model, dict) else None
    if not isinstance(name, str):
        return None
    weight = item.get("weight", 1.0)
    weight = float(weight) if isinstance(weight, (int, float)) else 1.0
    return {"lora_name": name, "strength_model": weight, "strength_clip": weight}


def parse_sd_metadata(doc: dict[str, Any]) -> Parsed:
    """InvokeAI 2.x: ``{"model_weights", "image": {...}}``, ``[negative]`` inside the prompt."""
    image = doc.get("image")
    if not isinstance(image, dict):
        raise ValueError("sd-metadata has no image object")
    prompt = image.get("prompt")
    if isinstance(prompt, list):  # [{"prompt": text, "weight": w}, ...]
        prompt = " ".join(str(p.get("prompt", "")) for p in prompt if isinstance(p, dict))
    params: dict[str, Any] = {}
    if isinstance(prompt, str):
        params.update(_split_negative(prompt))
    for key, value in image.items():
        if key == "prompt":
            continue
        target = {"sampler": "sampler", "cfg_scale": "cfg_scale"}.get(key) or _MAPPED.get(key)
        params[target or setting_key(key)] = kino_value(target, value)
    if isinstance(doc.get("model_weights"), str):
        params["model_name"] = doc["model_weights"]
    version = doc.get("app_version")
    return Parsed(params, version if isinstance(version, str) else None)


def parse_dream(text: str) -> Parsed:
    """InvokeAI 1.x ``Dream``: ``"prompt [negative]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms``.

    Raises:
        ValueError: the command line cannot be split.
    """
    parts = shlex.split(text)
    if not parts:
        raise ValueError("empty Dream text")
    params: dict[str, Any] = dict(_split_negative(parts[0]))
    options = {"-s": "steps", "-S": "seed", "-W": "width", "-H": "height", "-C": "cfg_scale"}
    index = 1
    while index < len(parts):
        flag = parts[index]
        value = parts[index + 1] if index + 1 < len(parts) else None
        if flag in options and value is not None:
            key = options[flag]
            params[key] = float(value) if key == "cfg_scale" else exact_int(value)
            index += 2
        elif flag == "-A" and value is not None:
            params["sampler"] = value
            index += 2
        else:
            params.setdefault("options", []).append(flag)
            index += 1
    return Parsed(params)


def _split_negative(prompt: str) -> dict[str, str]:
    negative = ", ".join(part.strip() for part in _NEGATIVE.findall(prompt))
    positive = _NEGATIVE.sub("", prompt).strip()
    return {"prompt": positive, "negative_prompt": negative} if negative else {"prompt": positive}
