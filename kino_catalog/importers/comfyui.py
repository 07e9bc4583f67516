"""ComfyUI: the API graph (``prompt``) mapped to Kino's keys, every sampler kept.

The earliest sampler behind the saved image (the base pass of a hires or
refiner graph, whose latent size is the image's size before upscaling, as
in A1111's ``Size``) gives the top-level keys; ``samplers`` lists every pass
in order.  LoRAs of other passes go to ``other_loras`` (indexed like
``loras``), and nodes no trace used keep their literal inputs under
``other_nodes``, so a custom node's settings stay searchable.
"""

from __future__ import annotations

import json
from typing import Any

from kino_catalog.importers.comfy_graph import Graph, GraphError
from kino_catalog.importers.mapping import Parsed, exact_int

__all__ = ["GraphError", "parse_graph", "parse_graph_text", "workflow_only"]

# A pass's keys that the main pass also puts at the top level.
_TOP_LEVEL = (
    "model_name",
    "sampler",
    "scheduler",
    "steps",
    "cfg_scale",
    "seed",
    "width",
    "height",
    "denoise",
    "guidance",
)
# Plumbing that carries no setting worth a key of its own.
_QUIET = frozenset({"SaveImage", "PreviewImage", "VAEDecode", "VAEEncode", "Reroute", "Note"})


def parse_graph_text(text: str) -> Parsed:
    """Parse the JSON text of an API graph.

    Raises:
        GraphError: not JSON, not a graph, a cycle, or no sampler.
    """
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise GraphError(f"the prompt graph is not valid JSON ({exc})") from exc
    return parse_graph(doc)


def parse_graph(doc: Any) -> Parsed:
    """Map an API graph (already parsed) to Kino's keys.

    Raises:
        GraphError: not a graph, a cycle, or no sampler.
    """
    graph = Graph(doc)
    order = graph.samplers_in_order()
    if not order:
        raise GraphError("no sampler node in the prompt graph")
    passes = [_sampler(graph, node_id) for node_id in order]
    main = passes[0]
    top = {
        "prompt": "\n".join(main["positive"]) if main["positive"] else None,
        "negative_prompt": "\n".join(main["negative"]) if main["negative"] else None,
        **{key: main.get(key) for key in _TOP_LEVEL},
    }
    params: dict[str, Any] = {key: value for key, value in top.items() if value is not None}
    params["loras"] = list(main["loras"])
    seen = {(lora["lora_name"], lora.get("strength_model")) for lora in main["loras"]}
    others = [
        lora
        for p in passes[1:]
        for lora in p["loras"]
        if (lora["lora_name"], lora.get("strength_model")) not in seen
    ]
    if others:
        params["other_loras"] = others
    params["samplers"] = passes
    leftovers = _unused_nodes(graph, set(order))
    if leftovers:
        params["other_nodes"] = leftovers
    return Parsed(params)


def _sampler(graph: Graph, node_id: str) -> dict[str, Any]:
    graph.used.add(node_id)
    seed, _ = graph.via(node_id, "noise", "seed", "noise_seed")
    steps, _ = graph.via(node_id, "sigmas", "steps")
    scheduler, _ = graph.via(node_id, "sigmas", "scheduler")
    denoise, _ = graph.via(node_id, "sigmas", "denoise")
    sampler, _ = graph.via(node_id, "sampler", "sampler_name")
    cfg, guider = graph.via(node_id, "guider", "cfg")
    conditioned = graph.source(node_id, "guider") or node_id
    graph.used.add(conditioned)
    positive = graph.texts(conditioned, "positive") or graph.texts(conditioned, "conditioning")
    negative = graph.texts(conditioned, "negative")
    model, loras = graph.model_chain(
        conditioned if "model" in graph.inputs(conditioned) else node_id
    )
    width, height, size = graph.latent(node_id)
    entry: dict[str, Any] = {
        "node": node_id,
        "class_type": graph.class_of(node_id),
        "seed": exact_int(seed),
        "steps": exact_int(steps),
        "cfg_scale": float(cfg) if isinstance(cfg, (int, float)) and guider else None,
        "sampler": sampler if isinstance(sampler, str) else None,
        "scheduler": scheduler if isinstance(scheduler, str) else None,
        "denoise": float(denoise) if isinstance(denoise, (int, float)) else None,
        "positive": positive,
        "negative": negative,
        "model_name": model,
        "loras": loras,
        "width": width,
        "height": height,
        "latent_size": size,
    }
    for name in ("add_noise", "start_at_step", "end_at_step", "return_with_leftover_noise"):
        if name in graph.inputs(node_id):
            entry[name] = graph.value(node_id, name)
    guidance = _flux_guidance(graph, conditioned)
    if guidance is not None:
        entry["guidance"] = guidance
    return entry


def _flux_guidance(graph: Graph, node_id: str) -> float | None:
    """Flux graphs set guidance on a FluxGuidance node in the positive conditioning."""
    current = graph.source(node_id, "positive") or graph.source(node_id, "conditioning")
    seen: set[str] = set()
    while current is not None and current not in seen:
        seen.add(current)
        value = graph.inputs(current).get("guidance")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        current = graph.source(current, "conditioning")
    return None


def _unused_nodes(graph: Graph, samplers: set[str]) -> list[dict[str, Any]]:
    nodes = []
    for node_id, node in graph.nodes.items():
        if node_id in graph.used or node_id in samplers or node["class_type"] in _QUIET:
            continue
        literals = {
            k: v
            for k, v in node["inputs"].items()
            if not (isinstance(v, list) and len(v) == 2 and isinstance(v[1], int))
        }
        if literals:
            nodes.append({"node": node_id, "class_type": node["class_type"], **literals})
    return nodes


def workflow_only(text: str) -> Parsed:
    """A UI ``workflow`` without an API graph: its nodes' widget values, untraced.

    The UI graph's widgets are positional and its links need the node
    definitions to read; the importer keeps what each node says so it is
    searchable, and lists the image as not traced.

    Raises:
        GraphError: not a UI workflow.
    """
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise GraphError(f"the workflow is not valid JSON ({exc})") from exc
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    if not isinstance(nodes, list):
        raise GraphError("the workflow has no node list")
    kept = [
        {"node": n.get("id"), "class_type": n.get("type"), "widgets_values": n["widgets_values"]}
        for n in nodes
        if isinstance(n, dict) and n.get("widgets_values")
    ]
    parsed = Parsed({"other_nodes": kept})
    parsed.problems.append("only a UI workflow (no API prompt graph): parameters not traced")
    return parsed
