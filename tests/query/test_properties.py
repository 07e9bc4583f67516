"""Property tests: random small libraries and random queries; the catalogue must return
exactly the frames the reference evaluator (tests/query/reference.py) selects, in the
order of every sort, in either dialect, whichever plan (walk.py) runs them."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kino_catalog import Catalog
from kino_catalog.query.parse import parse_query
from kino_catalog.query.sql import SORTS
from tests.factories import Library, make_sidecar
from tests.query.plans import forced_plan
from tests.query.reference import evaluate, load_frame, ordered

if TYPE_CHECKING:
    from pathlib import Path

MISSING = ...
WORDS = [
    "red",
    "dragon",
    "castle",
    "castles",
    "cat",
    "category",
    "Café",
    "東京の夜",
    "東京",
    "(detailed:1.2)",
    "score_9",
    "🌸",
    "neon",
    "night",
    "a",
    "Red",
]
LORAS = [
    "add_detail.safetensors",
    "Add_Detail",
    "loras/add_detail.pt",
    "add-detail",
    "detail_tweaker.safetensors",
    "more_details",
    "film_grain",
]
TERMS = [
    "red",
    "dragon",
    "cat",
    "cat*",
    "castle*",
    '"red dragon"',
    "東京",
    "🌸",
    "score_9",
    "café",
    "neon",
    "drag*",
    '"detailed 1"',
    "neg:red",
    "neg:night*",
    "lora:add_detail",
    "lora:*detail*",
    "lora:detail_tweaker@0.5..1.0",
    "lora:add_detail@>=1",
    "lora:*.pt",
    "lora:film_grain",
    "model:sd_xl_base_1.0",
    "model:juggernaut*",
    "model:*.ckpt",
    "sampler:euler*",
    "sampler:euler_a",
    "plugin:wan*",
    "steps:20",
    "steps:10..20",
    "steps:>15",
    "cfg:>=6.5",
    "seed:0",
    f"seed:{2**64 - 1}",
    "seed:>100",
    "project:2",
    "num_frames:81",
    'num_frames:"81"',
    "style:anime",
    "date:2025-10",
    "date:today",
    "date:<2025",
    "date:2025-10-01..2025-10-13",
]


def _maybe(values: list[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from([MISSING, *values])


_text = st.lists(st.sampled_from(WORDS), max_size=5).flatmap(
    lambda words: st.sampled_from([", ", " ", "_"]).map(lambda sep: sep.join(words))
)
_lora = st.builds(
    lambda name, strength: {"lora_name": name, "strength_model": strength},
    st.sampled_from(LORAS),
    st.sampled_from([None, 0.5, 0.8, 1.0, 1.2]),
)
_frame = st.fixed_dictionaries(
    {
        "prompt": st.one_of(st.just(MISSING), _text),
        "negative_prompt": st.one_of(st.just(MISSING), _text),
        "loras": st.one_of(st.just(MISSING), st.lists(_lora, max_size=3)),
        "high_loras": st.one_of(st.just(MISSING), st.lists(_lora, max_size=2)),
        "steps": _maybe([10, 20, 30]),
        "cfg_scale": _maybe([5.0, 6.5, 7.0]),
        "seed": _maybe([0, 1, 77, 2**63, 2**64 - 1, 1234567890]),
        "model_name": _maybe(
            [
                "sd_xl_base_1.0.safetensors",
                "juggernautXL_v9.safetensors",
                "models/Juggernaut XL v9.ckpt",
                "wan2.2_i2v.gguf",
            ]
        ),
        "sampler": _maybe(["euler", "euler_a", "Euler_A", "dpmpp_2m"]),
        "num_frames": _maybe([49, 81, "81"]),
        "style": _maybe(["Anime", "photo"]),
    }
).flatmap(
    lambda params: st.fixed_dictionaries(
        {
            "parameters": st.just(params),
            "plugin": st.sampled_from(["sdxl", "wan22_i2v"]),
            "timestamp": st.sampled_from(
                ["20251013_150530", "20251001_000000", "20240229_235959", None, "regenerated"]
            ),
            "project_id": _maybe([1, 2, 3]),
        }
    )
)


def _query() -> st.SearchStrategy[str]:
    leaves = st.sampled_from(TERMS)
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(" ".join),
            st.lists(inner, min_size=2, max_size=3).map(lambda qs: "(" + " OR ".join(qs) + ")"),
            inner.map(lambda q: f"-({q})"),
        ),
        max_leaves=5,
    )


def _write(library: Library, frames: list[dict[str, Any]]) -> dict[str, str]:
    """Replace the library's contents; returns sidecar path -> relative path."""
    shutil.rmtree(library.root, ignore_errors=True)
    library.root.mkdir()
    paths = {}
    for number, doc in enumerate(frames, 1):
        over = {key: value for key, value in doc.items() if key != "parameters"}
        path = library.frame(2, number, parameters=doc["parameters"], **over)
        paths[str(path)] = os.path.relpath(path, library.root).replace(os.sep, "/")
    return paths


def _check(
    cat: Catalog, library: Library, frames: list[dict[str, Any]], queries: list[str]
) -> None:
    """Every query in every sort: the reference's frames in the reference's order (ties by
    id), the first two of them with a limit, and the same count, whichever plan is chosen."""
    paths = _write(library, frames)
    cat.rebuild(library.root)
    refs = [load_frame(str(library.root), rel) for rel in paths.values()]
    stored = {paths[f.sidecar_path]: (f.id, f.generated_at) for f in cat.search(limit=None)}
    for query in queries:
        expected = evaluate(parse_query(query), refs)
        assert cat.count(query) == len(expected), query
        for sort in SORTS:
            found = [paths[f.sidecar_path] for f in cat.search(query, limit=None, sort=sort)]
            assert len(found) == len(set(found)), (query, sort)
            assert set(found) == expected, (query, sort)
            if sort != "relevance":  # bm25 has no reference; its ties are newest first
                assert found == ordered(expected, refs, stored, sort), (query, sort)
            first = [paths[f.sidecar_path] for f in cat.search(query, limit=2, sort=sort)]
            assert first == found[:2], (query, sort)


_EXAMPLE = dict(
    frames=st.lists(_frame, min_size=1, max_size=7),
    queries=st.lists(_query(), min_size=1, max_size=8),
)
_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@settings(max_examples=60, **_SETTINGS)  # type: ignore[arg-type]
@given(**_EXAMPLE, plan=st.sampled_from([None, "walk", "set", "setwalk"]))
def test_sqlite_matches_reference(
    tmp_path: Path, frames: list[dict[str, Any]], queries: list[str], plan: str | None
) -> None:
    with Catalog.open(tmp_path / "props.db") as cat, forced_plan(plan):
        _check(cat, Library(tmp_path / "lib"), frames, queries)


@pytest.mark.postgres
@settings(max_examples=15, **_SETTINGS)  # type: ignore[arg-type]
@given(**_EXAMPLE, plan=st.sampled_from([None, "walk", "set", "setwalk"]))
def test_postgresql_matches_reference(
    pg_url: str, tmp_path: Path, frames: list[dict[str, Any]], queries: list[str], plan: str | None
) -> None:
    with Catalog.open(pg_url) as cat, forced_plan(plan):
        _check(cat, Library(tmp_path / "lib"), frames, queries)


def test_make_sidecar_keeps_what_the_strategies_remove() -> None:
    doc = make_sidecar(parameters={"steps": MISSING})
    assert "steps" not in doc["parameters"]
