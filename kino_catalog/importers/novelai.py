"""NovelAI: ``Comment`` JSON (``uc`` = negative, ``scale`` = cfg), ``Description``, ``Source``.

Only a ``Comment`` that parses as a JSON object with NovelAI's keys counts:
GIMP writes ``Comment = "Created with GIMP"``.  V4 images carry character
prompts in ``v4_prompt.caption.char_captions``; they are kept as
``characters``.
"""

from __future__ import annotations

from typing import Any

from kino_catalog.importers.mapping import Parsed, kino_value, setting_key

__all__ = ["is_novelai", "parse_novelai"]

_SIGNS = ("uc", "scale", "v4_prompt", "noise_schedule", "n_samples")
_MAPPED = {
    "prompt": "prompt",
    "uc": "negative_prompt",
    "steps": "steps",
    "scale": "cfg_scale",
    "seed": "seed",
    "width": "width",
    "height": "height",
    "sampler": "sampler",
    "noise_schedule": "scheduler",
}


def is_novelai(comment: Any, software: str | None) -> bool:
    if not isinstance(comment, dict):
        return False
    return software == "NovelAI" or sum(key in comment for key in _SIGNS) >= 2


def parse_novelai(comment: dict[str, Any], entries: dict[str, str]) -> Parsed:
    """Map NovelAI's Comment JSON; the prompt falls back to ``Description``."""
    params: dict[str, Any] = {}
    for key, value in comment.items():
        target = _MAPPED.get(key)
        params[target or setting_key(key)] = kino_value(target, value)
    if "prompt" not in params and "Description" in entries:
        params["prompt"] = entries["Description"]
    v4 = comment.get("v4_prompt")
    captions = v4.get("caption", {}).get("char_captions") if isinstance(v4, dict) else None
    if isinstance(captions, list):
        params["characters"] = [
            c["char_caption"] for c in captions if isinstance(c, dict) and "char_caption" in c
        ]
    if "Source" in entries:
        params["model_name"] = entries["Source"]
    return Parsed(params)
