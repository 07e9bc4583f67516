"""The shared real-image samples (../shared/foreign-samples) and their expected values.

They are test data kept outside the repository (and outside the wheel): the
tests that use them skip with the reason when the folder is not there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kino_catalog.importers.mapping import number, setting_key, size_pair

__all__ = ["SAMPLES", "compare", "expected_cases"]

_REPO = Path(__file__).resolve().parents[2]


def _find() -> Path | None:
    candidates = [os.environ.get("KINO_FOREIGN_SAMPLES")]
    # The shared folder sits beside the checkout: ../shared, or ../../shared for
    # a worktree under wt/.
    candidates += [str(_REPO.parent / "shared/foreign-samples")]
    candidates += [str(_REPO.parent.parent / "shared/foreign-samples")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "expected.json").is_file():
            return Path(candidate)
    return None


SAMPLES = _find()
SKIP_REASON = (
    "the shared foreign-samples folder (../shared/foreign-samples, or $KINO_FOREIGN_SAMPLES) "
    "is not here: it is test data outside the repository"
)


def expected_cases() -> list[tuple[str, dict[str, Any]]]:
    if SAMPLES is None:
        return []
    doc = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))
    return sorted((name, entry["expected"]) for name, entry in doc.items())


_SAMPLER_FIELDS = {
    "node": "node",
    "class": "class_type",
    "seed": "seed",
    "steps": "steps",
    "cfg": "cfg_scale",
    "sampler": "sampler",
    "scheduler": "scheduler",
    "denoise": "denoise",
    "positive": "positive",
    "negative": "negative",
    "model": "model_name",
    "loras": "loras",
    "latent_size": "latent_size",
    "start": "start_at_step",
    "end": "end_at_step",
    "add_noise": "add_noise",
}
# Keys that become plugin_version rather than parameters.
_VERSION_KEYS = {"Version", "version", "app_version", "swarm_version"}


def _same(expected: Any, actual: Any) -> bool:
    """Expected values are written as text ("7", "0.3"); the sidecar has numbers."""
    if expected is None:
        return actual is None
    if isinstance(expected, str) and not isinstance(actual, str):
        return number(expected) == actual
    if isinstance(expected, (int, float)) and isinstance(actual, str):
        return number(actual) == expected
    return bool(expected == actual)


def compare(expected: dict[str, Any], doc: dict[str, Any] | None) -> list[str]:
    """Every expected value the sidecar document does not give, as 'key: want X, got Y'."""
    if expected.get("generator") == "NONE":
        return [] if doc is None else [f"no metadata expected, got {doc['plugin']}"]
    if doc is None:
        return ["no sidecar"]
    params = doc["parameters"]
    wrong: list[str] = []

    def check(key: str, want: Any, got: Any) -> None:
        if not _same(want, got):
            wrong.append(f"{key}: want {want!r}, got {got!r}")

    simple = {
        "prompt": "prompt",
        "negative": "negative_prompt",
        "seed": "seed",
        "steps": "steps",
        "sampler": "sampler",
        "scheduler": "scheduler",
        "cfg": "cfg_scale",
        "model": "model_name",
        "model_hash": "model_hash",
    }
    for key, target in simple.items():
        if key in expected:
            check(key, expected[key], params.get(target))
    if "loras" in expected:
        check("loras", expected["loras"], params.get("loras", []))
    if expected.get("lora_hashes") is not None:
        check("lora_hashes", expected["lora_hashes"], params.get("lora_hashes"))
    if expected.get("size") is not None:
        pair = size_pair(expected["size"])
        check("size", pair, (params.get("width"), params.get("height")))
    for key, want in (expected.get("extra") or {}).items():
        if key in _VERSION_KEYS:
            check(f"extra.{key}", want, doc["plugin_version"])
        else:
            check(f"extra.{key}", want, params.get(key, params.get(setting_key(key))))
    for group in ("samplers", "also_comfy_prompt"):
        if group not in expected:
            continue
        got = params.get("samplers", [])
        if len(got) != len(expected[group]):
            wrong.append(f"{group}: want {len(expected[group])} samplers, got {len(got)}")
            continue
        for index, (want_pass, got_pass) in enumerate(zip(expected[group], got, strict=True)):
            for key, target in _SAMPLER_FIELDS.items():
                if key in want_pass:
                    check(f"{group}[{index}].{key}", want_pass[key], got_pass.get(target))
    return wrong
