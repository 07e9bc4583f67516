"""Tracing a ComfyUI API graph (the ``prompt`` chunk) from its output back to every sampler.

An API graph maps node ids (``"3"``, ``"Sampler"``, subgraph ids like
``"30:3"``) to ``{"class_type", "inputs"}``; an input is a literal or a link
``[node_id, output_index]``.  Samplers are found by class or, for custom
nodes, by shape; each is traced back to its seed, steps, cfg, sampler and
scheduler (directly or through RandomNoise / KSamplerSelect / BasicScheduler
/ CFGGuider nodes), its model through any chain of LoRA loaders, its prompt
texts through conditioning combine / set-area / ControlNet nodes, and its
latent size.  Every walk keeps a visited set, and the graph is checked for
cycles first, so a hostile graph cannot make it loop or recurse without end.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from kino_catalog.importers.mapping import exact_int, size_pair

__all__ = ["Graph", "GraphError"]

_SAMPLER_CLASSES = frozenset(
    {
        "KSampler",
        "KSamplerAdvanced",
        "SamplerCustom",
        "SamplerCustomAdvanced",
        "KSampler (Efficient)",
        "KSampler Adv. (Efficient)",
        "KSamplerAdvanced (Efficient)",
        "KSampler SDXL (Eff.)",
    }
)
_LOADER_INPUTS = ("ckpt_name", "unet_name", "gguf_name", "model_path")
_TEXT_INPUTS = ("text", "text_g", "text_l", "t5xxl", "clip_l", "prompt", "string", "value")
_LATENT_INPUTS = ("latent_image", "samples", "latent", "pixels", "image", "images")
_SCALAR_INPUTS = ("value", "int", "float", "number", "seed", "noise_seed", "string", "text")
_OUTPUT_HINTS = ("save", "preview", "output")


class GraphError(ValueError):
    """The graph cannot be traced (not a graph, or it has a cycle)."""


def _is_link(value: Any) -> TypeGuard[list[Any]]:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], (str, int))
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


class Graph:
    """An API graph with the walks the importer needs."""

    def __init__(self, doc: Any) -> None:
        if not isinstance(doc, dict) or not doc:
            raise GraphError("the prompt graph is not an object of nodes")
        self.nodes: dict[str, dict[str, Any]] = {}
        for node_id, node in doc.items():
            if isinstance(node, dict) and isinstance(node.get("class_type"), str):
                inputs = node.get("inputs")
                self.nodes[str(node_id)] = {
                    "class_type": node["class_type"],
                    "inputs": inputs if isinstance(inputs, dict) else {},
                }
        if not self.nodes:
            raise GraphError("the prompt graph has no nodes with a class_type")
        self.used: set[str] = set()  # nodes some trace consumed
        self._check_acyclic()

    # ------------------------------------------------------------ structure
    def class_of(self, node_id: str) -> str:
        return str(self.nodes[node_id]["class_type"])

    def inputs(self, node_id: str) -> dict[str, Any]:
        inputs: dict[str, Any] = self.nodes[node_id]["inputs"]
        return inputs

    def links(self, node_id: str) -> list[tuple[str, str]]:
        """(input name, source node id) of every linked input that names a node of the graph."""
        return [
            (name, str(value[0]))
            for name, value in self.inputs(node_id).items()
            if _is_link(value) and str(value[0]) in self.nodes
        ]

    def source(self, node_id: str, name: str) -> str | None:
        value = self.inputs(node_id).get(name)
        if _is_link(value) and str(value[0]) in self.nodes:
            return str(value[0])
        return None

    def _check_acyclic(self) -> None:
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done
        for start in self.nodes:
            if start in state:
                continue
            stack = [(start, iter(self.links(start)))]
            state[start] = 1
            while stack:
                node_id, pending = stack[-1]
                for _, upstream in pending:
                    if state.get(upstream) == 1:
                        raise GraphError(f"the prompt graph has a cycle through node {upstream!r}")
                    if upstream not in state:
                        state[upstream] = 1
                        stack.append((upstream, iter(self.links(upstream))))
                        break
                else:
                    state[node_id] = 2
                    stack.pop()

    def upstream(self, node_id: str) -> set[str]:
        """Every node the given one depends on."""
        seen: set[str] = set()
        stack = [node_id]
        while stack:
            for _, upstream in self.links(stack.pop()):
                if upstream not in seen:
                    seen.add(upstream)
                    stack.append(upstream)
        return seen

    # ------------------------------------------------------------ samplers
    def is_sampler(self, node_id: str) -> bool:
        if self.class_of(node_id) in _SAMPLER_CLASSES:
            return True
        names = set(self.inputs(node_id))
        # By shape (custom samplers): a guider node has model/positive/negative
        # and cfg too, but no latent to sample.
        return {"noise", "guider", "sigmas"} <= names or (
            {"model", "positive", "negative", "latent_image"} <= names
            and bool(names & {"seed", "noise_seed", "steps", "cfg"})
        )

    def samplers_in_order(self) -> list[str]:
        """The samplers behind the output with the most of them, first pass first."""
        samplers = [n for n in self.nodes if self.is_sampler(n)]
        chains = [
            [s for s in samplers if s in self.upstream(out)]
            for out in self.nodes
            if any(hint in self.class_of(out).lower() for hint in _OUTPUT_HINTS)
            and ("images" in self.inputs(out) or "image" in self.inputs(out))
        ]
        chosen = max(chains, key=len, default=[]) or samplers
        before = {s: len(self.upstream(s) & set(chosen)) for s in chosen}
        return sorted(chosen, key=lambda s: before[s])

    # ------------------------------------------------------------ values
    def value(self, node_id: str, name: str, _depth: int = 0) -> Any:
        """A literal input, following links through primitive/reroute nodes."""
        value = self.inputs(node_id).get(name)
        if not _is_link(value):
            return value
        source = str(value[0])
        if source not in self.nodes or _depth > 32:
            return None
        self.used.add(source)
        inputs = self.inputs(source)
        for candidate in (name, *_SCALAR_INPUTS):
            if candidate in inputs:
                return self.value(source, candidate, _depth + 1)
        literals = [k for k, v in inputs.items() if not _is_link(v) and not isinstance(v, dict)]
        if len(literals) == 1:
            return inputs[literals[0]]
        links = self.links(source)
        if len(links) == 1:  # a reroute
            return self.value(source, links[0][0], _depth + 1)
        return None

    def via(self, node_id: str, link: str, *names: str) -> tuple[Any, str | None]:
        """The first of ``names`` on ``node_id``, else on the node behind input ``link``."""
        inputs = self.inputs(node_id)
        for name in names:
            if name in inputs:
                return self.value(node_id, name), node_id
        source = self.source(node_id, link)
        if source is not None:
            self.used.add(source)
            for name in names:
                if name in self.inputs(source):
                    return self.value(source, name), source
        return None, None

    # ------------------------------------------------------------ model and LoRAs
    def model_chain(self, node_id: str) -> tuple[str | None, list[dict[str, Any]]]:
        """The checkpoint/UNET behind a ``model`` input and the LoRAs on the way, applied order."""
        loras: list[dict[str, Any]] = []
        current, seen = self.source(node_id, "model"), set()
        model = None
        while current is not None and current not in seen:
            seen.add(current)
            self.used.add(current)
            inputs = self.inputs(current)
            loras[:0] = self._loras_of(current)
            found = next((self.value(current, n) for n in _LOADER_INPUTS if n in inputs), None)
            if isinstance(found, str):
                model = found
                break
            current = self.source(current, "model") or next(
                (src for name, src in self.links(current) if "model" in name), None
            )
        return model, loras

    def _loras_of(self, node_id: str) -> list[dict[str, Any]]:
        inputs = self.inputs(node_id)
        items = []
        name = self.value(node_id, "lora_name") if "lora_name" in inputs else None
        if isinstance(name, str) and name and name.lower() != "none":
            item: dict[str, Any] = {
                "lora_name": name,
                "strength_model": _float(self.value(node_id, "strength_model"), 1.0),
            }
            if "strength_clip" in inputs:
                item["strength_clip"] = _float(self.value(node_id, "strength_clip"), 1.0)
            items.append(item)
        for value in inputs.values():  # rgthree Power Lora Loader: {"on", "lora", "strength"}
            if isinstance(value, dict) and isinstance(value.get("lora"), str):
                if value.get("on") is False or value["lora"].lower() == "none":
                    continue
                strength = _float(value.get("strength"), 1.0)
                items.append(
                    {
                        "lora_name": value["lora"],
                        "strength_model": strength,
                        "strength_clip": _float(value.get("strengthTwo"), strength),
                    }
                )
        return items

    # ------------------------------------------------------------ prompts and latents
    def texts(self, node_id: str, polarity: str) -> list[str]:
        """Prompt texts behind a sampler/guider input (``positive``/``negative``), in order."""
        found: list[str] = []
        start = self.source(node_id, polarity)
        stack, seen = ([start] if start else []), set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            self.used.add(current)
            inputs = self.inputs(current)
            texts = [self.value(current, n) for n in _TEXT_INPUTS if n in inputs]
            texts = [t for t in texts if isinstance(t, str)]
            if texts:
                found.extend(dict.fromkeys(texts))  # SDXL encoders repeat text_g as text_l
                continue
            follow = [
                src
                for name, src in self.links(current)
                if name == polarity or "cond" in name or name == "guider"
            ]
            stack.extend(reversed(follow))  # depth first, conditioning_1 before _2
        return found

    def latent(self, node_id: str) -> tuple[int | None, int | None, str | None]:
        """The latent size behind a sampler: (width, height, as written), None for img2img."""
        current, seen = node_id, set()
        while current not in seen:
            seen.add(current)
            inputs = self.inputs(current)
            if current != node_id:
                self.used.add(current)
                width, height = exact_int(inputs.get("width")), exact_int(inputs.get("height"))
                if width and height:
                    return width, height, f"{width}x{height}"
                for name in ("dimensions", "resolution", "aspect_ratio"):
                    pair = size_pair(inputs.get(name))
                    if pair:
                        return pair[0], pair[1], str(inputs[name])
            nxt = next(
                (s for s in (self.source(current, n) for n in _LATENT_INPUTS) if s is not None),
                None,
            )
            if nxt is None:
                return None, None, None
            current = nxt
        return None, None, None


def _float(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return float(value)
