"""Big ComfyUI graphs, as studios' workflows are, for tests and benchmarks of large imports.

A real workflow with upscalers, detailers and colour passes runs to hundreds
of nodes and several hundred KB of JSON; what makes one big here is a long
chain of post-processing nodes between the VAE decode and the save.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["sampler_graph", "with_post_chain"]


def sampler_graph(seed: int, *, lora: str | None = None) -> dict[str, Any]:
    """A plain text-to-image API graph: checkpoint, an optional LoRA, two prompts, one
    KSampler, decode, save (node ids as ComfyUI's default workflow numbers them)."""
    model: list[Any] = ["4", 0]
    clip: list[Any] = ["4", 1]
    graph: dict[str, Any] = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
    }
    if lora is not None:
        graph["10"] = {
            "class_type": "LoraLoader",
            "inputs": {
                "model": model,
                "clip": clip,
                "lora_name": lora,
                "strength_model": 0.8,
                "strength_clip": 0.8,
            },
        }
        model, clip = ["10", 0], ["10", 1]
    graph |= {
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a castle", "clip": clip}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": clip}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": 30,
                "cfg": 6.5,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": model,
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0]}},
    }
    return graph


def with_post_chain(
    graph: dict[str, Any], nodes: int, *, decode: str = "8", save: str = "9"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``graph`` (an API graph, changed in place) with ``nodes`` post-processing nodes
    chained between its ``decode`` and ``save`` nodes, and a UI workflow of it.

    The save node is added (a SaveImage) when the graph has none.  Both are
    what ComfyUI writes into a PNG's ``prompt`` and ``workflow`` texts; the
    same arguments always give the same graphs.
    """
    rng = random.Random(21)
    upstream = decode
    for i in range(nodes):
        node_id = str(100 + i)
        graph[node_id] = {
            "class_type": rng.choice(["ImageSharpen", "ColorCorrect", "FilmGrain", "Vignette"]),
            "inputs": {
                "image": [upstream, 0],
                "amount": round(rng.random(), 4),
                "radius": rng.randint(1, 9),
                "mode": rng.choice(["soft", "hard", "overlay"]),
            },
        }
        upstream = node_id
    if save in graph:
        graph[save]["inputs"]["images"] = [upstream, 0]
    else:
        graph[save] = {"class_type": "SaveImage", "inputs": {"images": [upstream, 0]}}
    workflow = {
        "last_node_id": 100 + nodes,
        "nodes": [
            {
                "id": int(key) if key.isdigit() else 99_999,  # "30:11": a subgraph's node
                "type": node["class_type"],
                "pos": [rng.uniform(0, 9000), rng.uniform(0, 9000)],
                "size": [315, 262],
                "flags": {},
                "order": order,
                "mode": 0,
                "inputs": [{"name": "image", "type": "IMAGE", "link": order}],
                "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [order + 1]}],
                "properties": {"Node name for S&R": node["class_type"]},
                "widgets_values": list(node["inputs"].values())[1:],
            }
            for order, (key, node) in enumerate(graph.items())
        ],
        "links": [[i, i, 0, i + 1, 0, "IMAGE"] for i in range(nodes)],
        "version": 0.4,
    }
    return graph, workflow
