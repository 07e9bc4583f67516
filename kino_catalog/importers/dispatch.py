"""Which tool wrote an image's metadata, and its parameters in Kino's shape.

Entries are tried from the most specific signature to the least: SwarmUI's
and Fooocus' JSON ``parameters`` before A1111 text, InvokeAI's and NovelAI's
own chunks, A1111 infotext (with a ComfyUI graph beside it, as some ComfyUI
savers write both), then ComfyUI graphs in PNG chunks or EXIF fields, then
EXIF comments.  A format whose signature is present but whose content does
not parse is reported as that format with an error, never as "no metadata".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kino_catalog.importers import a1111, comfyui, fooocus, invokeai, novelai, swarmui

if TYPE_CHECKING:
    from kino_catalog.importers.mapping import Parsed

__all__ = ["Detected", "detect"]

# ComfyUI savers that put the graphs into EXIF text fields, as "prompt:{...}"
# (ComfyUI's own WebP/JPEG savers) or "Prompt: {...}" (save-image-extended).
_GRAPH_PREFIXES = {"prompt:": "prompt", "workflow:": "workflow"}


@dataclass
class Detected:
    """The outcome of reading one image's entries."""

    format: str  # a1111, civitai, comfyui, invokeai, novelai, fooocus, swarmui
    parsed: Parsed | None  # None: the metadata is there but could not be parsed
    error: str | None = None


def _json(text: str | None) -> Any:
    if text is None or not text.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


def detect(entries: dict[str, str]) -> Detected | None:
    """Parse the metadata entries of one image; None when none is generation metadata."""
    graphs = _graph_entries(entries)
    params_text = entries.get("parameters")
    params_json = _json(params_text)
    if swarmui.is_swarm(params_json):
        return _run("swarmui", lambda: _with_graph(swarmui.parse_swarm(params_json), graphs))
    if fooocus.is_fooocus(params_json, entries.get("fooocus_scheme")):
        return _run("fooocus", lambda: fooocus.parse_fooocus(params_json))
    if "invokeai_metadata" in entries:
        return _run(
            "invokeai", lambda: invokeai.parse_invokeai(_object(entries["invokeai_metadata"]))
        )
    if "sd-metadata" in entries:
        return _run("invokeai", lambda: invokeai.parse_sd_metadata(_object(entries["sd-metadata"])))
    if "Dream" in entries:
        return _run("invokeai", lambda: invokeai.parse_dream(entries["Dream"]))
    comment = _json(entries.get("Comment"))
    if novelai.is_novelai(comment, entries.get("Software")):
        return _run("novelai", lambda: novelai.parse_novelai(comment, entries))
    if params_text is not None and params_json is None:
        fmt = "comfyui" if "prompt" in graphs else _infotext_format(params_text)
        return _run(fmt, lambda: _with_graph(a1111.parse_infotext(params_text), graphs))
    if "prompt" in graphs:
        return _run("comfyui", lambda: comfyui.parse_graph_text(graphs["prompt"]))
    if "workflow" in graphs:
        return _run("comfyui", lambda: comfyui.workflow_only(graphs["workflow"]))
    for key in ("EXIF.UserComment", "EXIF.UserComment(IFD0)", "JPEG.Comment", "stealth"):
        text = entries.get(key)
        if text is not None and a1111.is_infotext(text):
            return _run(_infotext_format(text), lambda t=text: a1111.parse_infotext(t))
    if params_text is not None:  # JSON of no tool we know
        return Detected("unknown", None, "'parameters' holds JSON of an unknown tool")
    return None


def _graph_entries(entries: dict[str, str]) -> dict[str, str]:
    """ComfyUI's ``prompt``/``workflow`` texts, wherever the saver put them."""
    found: dict[str, str] = {key: entries[key] for key in ("prompt", "workflow") if key in entries}
    for name, text in entries.items():
        if not name.startswith(("EXIF.", "JPEG.")):
            continue
        stripped = text.lstrip()
        for prefix, key in _GRAPH_PREFIXES.items():
            if stripped[: len(prefix)].lower() == prefix:
                found.setdefault(key, stripped[len(prefix) :].strip())
        doc = _json(text)  # SaveImagePlus: {"prompt": {...}, "workflow": {...}} in UserComment
        if isinstance(doc, dict) and isinstance(doc.get("prompt"), dict):
            found.setdefault("prompt", json.dumps(doc["prompt"]))
            if isinstance(doc.get("workflow"), dict):
                found.setdefault("workflow", json.dumps(doc["workflow"]))
    return found


def _infotext_format(text: str) -> str:
    return "civitai" if "Civitai resources:" in text or "Civitai metadata:" in text else "a1111"


def _object(text: str) -> dict[str, Any]:
    doc = _json(text)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


def _with_graph(parsed: Parsed, graphs: dict[str, str]) -> Parsed:
    """Add the samplers of a ComfyUI graph saved beside another format's parameters."""
    if "prompt" in graphs:
        try:
            graph = comfyui.parse_graph_text(graphs["prompt"])
        except comfyui.GraphError as exc:
            parsed.problems.append(f"ComfyUI graph beside the parameters: {exc}")
        else:
            parsed.parameters["samplers"] = graph.parameters["samplers"]
    return parsed


def _run(fmt: str, parse: Any) -> Detected:
    try:
        return Detected(fmt, parse())
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        reason = str(exc) or type(exc).__name__
        return Detected(fmt, None, f"{fmt} metadata could not be parsed: {reason}")
