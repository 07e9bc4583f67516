"""Big ComfyUI graphs, as studios' workflows are, for tests and benchmarks of large imports.

A real workflow with upscalers, detailers and colour passes runs to hundreds
of nodes and several hundred KB of JSON; what makes one big here is a long
chain of post-processing nodes between the VAE decode and the save.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["with_post_chain"]


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
