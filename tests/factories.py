"""Builders for tests: Kino sidecars with overrides, library folders, CLI results, a tiny PNG."""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BASE_SIDECAR",
    "EXAMPLES",
    "ODD_VALUES",
    "PNG_8X8",
    "CliResult",
    "Library",
    "copy_examples",
    "make_sidecar",
]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "library"


def copy_examples(dest: Path) -> Path:
    """A private copy of examples/library at ``dest``, without a root marker.

    Running the README's first command syncs examples/library in the
    checkout, which writes its marker there; a copy with that marker would
    be the same root (named "library") to every catalogue it meets.
    """
    shutil.copytree(EXAMPLES, dest, ignore=shutil.ignore_patterns(".kino-catalog-root"))
    return dest


PNG_8X8 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000080000000808020000004b6d29dc00000011"
    "49444154789c63687050c08a1886960400fa033801caeedbfa0000000049454e44ae426082"
)

BASE_SIDECAR: dict[str, Any] = {
    "plugin": "sdxl",
    "plugin_version": "1.0.0",
    "parameters": {
        "prompt": "a cinematic portrait, 85mm, soft light",
        "negative_prompt": "blurry, lowres",
        "width": 1024,
        "height": 1024,
        "steps": 30,
        "cfg_scale": 7.0,
        "sampler": "euler_a",
        "scheduler": "karras",
        "seed": 1234567890,
        "model_name": "sd_xl_base_1.0.safetensors",
        "loras": [
            {"lora_name": "add_detail.safetensors", "strength_model": 0.8, "strength_clip": 0.8}
        ],
        "num_variants": 1,
    },
    "variants": 1,
    "output": {
        "filename": "project_12_frame_7_variant_0.png",
        "path": "/home/ana/kino/backend/data/frames/project_12_frame_7_variant_0.png",
    },
    "timestamp": "20251013_150530",
    "task_id": 0,
    "project_id": 12,
}


# Sidecars Kino-shaped but odd: (parameters overrides, top-level overrides).
# Each stays a frame (DESIGN §4); all but the integral floats carry a warning.
ODD_VALUES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "steps 30.0": ({"steps": 30.0}, {}),
    "integral floats everywhere": (
        {"seed": 12345.0, "width": 832.0, "height": 480.0},
        {"task_id": 2.0, "project_id": 12.0, "rating": 3.0},
    ),
    "steps as a string": ({"steps": "30"}, {}),
    "steps beyond 64 bits": ({"steps": 2**70}, {}),
    "width 1024.5": ({"width": 1024.5}, {}),
    "seed as a word": ({"seed": "abc"}, {}),
    "seed as a digit string": ({"seed": "1234"}, {}),
    "seed as a huge float": ({"seed": 1e300}, {}),
    "cfg as a string": ({"cfg_scale": "7"}, {}),
    "loras as an object": ({"loras": {}}, {}),
    "a bad LoRA among good ones": (
        {"loras": [3, {"lora_name": "film_grain", "strength_model": "x"}, {}]},
        {},
    ),
    "prompt as a list": ({"prompt": ["a", "castle"]}, {}),
    "model as a number": ({"model_name": 5}, {}),
    "project id as a word": ({}, {"project_id": "twelve"}),
    "project id as a superscript digit": ({}, {"project_id": "\u00b2"}),  # "²".isdigit()
    "task id of 5,000 digits": ({}, {"task_id": "1" * 5000}),  # beyond int()'s digit limit
    "timestamp as a number": ({}, {"timestamp": 20251013}),
    "output as a string": ({}, {"output": "x.png"}),
    "rating as a string": ({}, {"rating": "5"}),
    "tags with a number": ({}, {"tags": ["hero", 1]}),
    "system info as a list": ({}, {"system_info": ["gpu"]}),
}


def make_sidecar(parameters: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    """A Kino sdxl sidecar with overrides: ``parameters`` merge, top-level keys replace.

    A value of ``...`` (Ellipsis) removes the key.
    """
    doc = copy.deepcopy(BASE_SIDECAR)
    for key, value in (parameters or {}).items():
        if value is ...:
            doc["parameters"].pop(key, None)
        else:
            doc["parameters"][key] = value
    for key, value in top.items():
        if value is ...:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


@dataclass
class Library:
    """A library folder in tmp_path with helpers to write frames into it."""

    root: Path

    def write(
        self,
        rel: str,
        doc: dict[str, Any] | bytes | str,
        *,
        image: bool = True,
        indent: int | None = 2,
    ) -> Path:
        """Write a sidecar (and, by default, its PNG) at ``rel`` (``.json`` path)."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(doc, dict):
            data = json.dumps(doc, indent=indent, ensure_ascii=False).encode()
        elif isinstance(doc, str):
            data = doc.encode()
        else:
            data = doc
        path.write_bytes(data)
        if image:
            path.with_suffix(".png").write_bytes(PNG_8X8)
        return path

    def frame(
        self,
        project: int,
        frame: int,
        variant: int = 0,
        *,
        folder: str = "frames",
        image: bool = True,
        **over: Any,
    ) -> Path:
        """Write a Kino-named sdxl frame with ``make_sidecar(**over)``."""
        name = f"project_{project}_frame_{frame}_variant_{variant}"
        doc = make_sidecar(**over)
        doc.setdefault("output", {})
        if isinstance(doc.get("output"), dict):
            doc["output"] = {
                "filename": name + ".png",
                "path": f"/home/ana/kino/backend/data/frames/{name}.png",
            }
        if "project_id" in doc and "project_id" not in over:
            doc["project_id"] = project
        return self.write(f"{folder}/{name}.json", doc, image=image)

    def snapshot(self) -> dict[str, tuple[bytes, int]]:
        """Bytes and mtime_ns of every file, to prove indexing modified nothing.

        Except the root's marker, which the first sync writes on purpose (and
        only that: tests/index/test_roots.py checks it).
        """
        found = {}
        for path in sorted(self.root.rglob("*")):
            if path.name == ".kino-catalog-root" and path.parent == self.root:
                continue
            if path.is_file() and not path.is_symlink():
                found[str(path.relative_to(self.root))] = (
                    path.read_bytes(),
                    path.stat().st_mtime_ns,
                )
        return found


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)
