"""Requests for a Kino plugin from another tool's parameters (``regen --plugin sdxl``).

An imported frame's ``parameters`` hold Kino's keys where values mapped and
every other setting under its own key.  A Kino plugin takes a fixed set of
keys, so the request keeps those, translates sampler and scheduler names to
the ComfyUI names Kino's plugins pass on (A1111's ``DPM++ 2M`` +
``Karras`` -> ``dpmpp_2m`` + ``karras``), and lists every key it leaves out
in ``source.not_sent`` instead of dropping it silently.
"""

from __future__ import annotations

import os
import re
from typing import Any

from kino_catalog.errors import UsageError

__all__ = ["PLUGIN_PARAMETERS", "comfy_sampler", "retarget_document"]

#: The parameters each Kino plugin reads (backend/plugins/<name>/loader.py).
PLUGIN_PARAMETERS: dict[str, tuple[str, ...]] = {
    "sdxl": (
        "prompt",
        "negative_prompt",
        "width",
        "height",
        "steps",
        "cfg_scale",
        "model_name",
        "sampler",
        "scheduler",
        "seed",
        "loras",
        "num_variants",
    ),
}

# A1111/Forge display names, InvokeAI and NovelAI names -> ComfyUI sampler names.
_SAMPLERS = {
    "euler a": "euler_ancestral",
    "euler_a": "euler_ancestral",
    "euler": "euler",
    "lms": "lms",
    "heun": "heun",
    "dpm2": "dpm_2",
    "dpm2 a": "dpm_2_ancestral",
    "dpm++ 2s a": "dpmpp_2s_ancestral",
    "dpm++ 2m": "dpmpp_2m",
    "dpm++ sde": "dpmpp_sde",
    "dpm++ 2m sde": "dpmpp_2m_sde",
    "dpm++ 2m sde gpu": "dpmpp_2m_sde_gpu",
    "dpm++ 3m sde": "dpmpp_3m_sde",
    "dpm fast": "dpm_fast",
    "dpm adaptive": "dpm_adaptive",
    "lcm": "lcm",
    "ddim": "ddim",
    "ddpm": "ddpm",
    "unipc": "uni_pc",
    "uni_pc": "uni_pc",
    "dpmpp_2m": "dpmpp_2m",
}
_SCHEDULERS = {
    "karras": "karras",
    "exponential": "exponential",
    "sgm uniform": "sgm_uniform",
    "sgm_uniform": "sgm_uniform",
    "simple": "simple",
    "normal": "normal",
    "uniform": "normal",
    "beta": "beta",
    "ddim": "ddim_uniform",
    "ddim_uniform": "ddim_uniform",
    "linear quadratic": "linear_quadratic",
    "kl optimal": "kl_optimal",
}
# Scheduler suffixes fused into older sampler names: "DPM++ 2M Karras", "euler_karras".
_FUSED = re.compile(r"^(.*?)[ _](karras|exponential|sgm[ _]uniform)$", re.IGNORECASE)
_LORA_KEYS = ("lora_name", "strength_model", "strength_clip")


def comfy_sampler(sampler: str | None, scheduler: str | None) -> tuple[str | None, str | None]:
    """(sampler, scheduler) in ComfyUI's names; unknown names pass through unchanged."""
    if sampler is not None:
        fused = _FUSED.match(sampler.strip())
        if fused and scheduler in (None, "", "Automatic"):
            sampler, scheduler = fused.group(1), fused.group(2)
        key = sampler.strip().lower()
        if key.startswith("k_"):  # NovelAI: k_euler_ancestral
            key = key[2:]
        if key.endswith("_k") and scheduler is None:  # InvokeAI: dpmpp_2m_k
            key, scheduler = key[:-2], "karras"
        sampler = _SAMPLERS.get(key, key if key.replace("_", "").isalnum() else sampler)
    if scheduler is not None:
        mapped = _SCHEDULERS.get(scheduler.strip().lower())
        scheduler = mapped if mapped is not None else scheduler
    return sampler, scheduler


def retarget_document(
    document: dict[str, Any], plugin: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A copy of ``document`` for Kino plugin ``plugin``, and what the request's source
    should say about it (``converted_from``, ``not_sent`` keys, ``notes``).

    Raises:
        UsageError: the plugin's parameters are not known.
    """
    if document.get("plugin") == plugin:
        return document, {}
    keys = PLUGIN_PARAMETERS.get(plugin)
    if keys is None:
        known = ", ".join(sorted(PLUGIN_PARAMETERS))
        raise UsageError(f"no parameter list for Kino plugin {plugin!r} (known: {known})")
    source: dict[str, Any] = document["parameters"]
    params = {key: source[key] for key in keys if source.get(key) is not None}
    if "sampler" in params or "scheduler" in params:
        sampler, scheduler = comfy_sampler(params.get("sampler"), params.get("scheduler"))
        if scheduler == "Automatic":  # A1111: the sampler's default; Kino has its own
            scheduler = None
        params.update({"sampler": sampler, "scheduler": scheduler})
        params = {key: value for key, value in params.items() if value is not None}
    if isinstance(params.get("loras"), list):
        params["loras"] = [
            {k: item[k] for k in _LORA_KEYS if item.get(k) is not None}
            for item in params["loras"]
            if isinstance(item, dict)
        ]
    notes = []
    model = params.get("model_name")
    if isinstance(model, str) and not os.path.splitext(model)[1]:
        notes.append("model_name has no file extension; Kino looks up that exact file name")
    about = {
        "converted_from": document.get("plugin"),
        "not_sent": [key for key in source if key not in params],
        "notes": notes,
    }
    return {**document, "plugin": plugin, "parameters": params}, about
