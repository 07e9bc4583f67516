"""Query semantics, table-driven: query -> expected frames, on SQLite and PostgreSQL.

Every row is also checked against the reference evaluator (tests/query/reference.py),
so the table, the catalogue and the reference must all agree.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from kino_catalog import Catalog
from kino_catalog.errors import QueryError
from kino_catalog.query.parse import parse_query
from tests.factories import Library, make_sidecar
from tests.query.reference import evaluate, load_frame

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.query.reference import RefFrame

BIG = 2**64 - 1
# label -> (project, frame, sidecar overrides); see make_sidecar for the defaults
# (sdxl, steps 30, cfg 7.0, euler_a/karras, seed 1234567890, sd_xl_base_1.0,
# add_detail 0.8, 2025-10-13 15:05:30, project 12, num_variants 1).
FRAMES: dict[str, tuple[int, int, dict[str, Any]]] = {
    "f1": (12, 1, {}),
    "f2": (
        3,
        2,
        {
            "parameters": {
                "prompt": "(red dragon:1.2), castle on a hill, score_9",
                "negative_prompt": "sketch, lowres",
                "steps": 20,
                "cfg_scale": 6.5,
                "sampler": "dpmpp_2m",
                "seed": BIG,
                "model_name": "juggernautXL_v9.safetensors",
                "loras": [
                    {"lora_name": "Add_Detail", "strength_model": 0.5},
                    {"lora_name": "detail_tweaker.safetensors", "strength_model": 1.0},
                ],
            },
            "timestamp": "20251001_120000",
        },
    ),
    "f3": (
        3,
        3,
        {
            "parameters": {
                "prompt": "a dragon, red sky",
                "negative_prompt": "bad hands",
                "steps": 25,
                "cfg_scale": 5.0,
                "seed": 77,
                "loras": [],
            },
            "timestamp": "20251020_000000",
        },
    ),
    "f4": (
        7,
        4,
        {
            "plugin": "wan22_i2v",
            "parameters": {
                "prompt": "東京の夜, neon city",
                "steps": ...,
                "cfg_scale": ...,
                "sampler": ...,
                "scheduler": ...,
                "loras": ...,
                "seed": 2**63,
                "num_frames": 81,
                "total_frames": 81,
                "model_name": "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
                "high_loras": [{"lora_name": "loras/add_detail.pt", "strength_model": 1.2}],
                "low_loras": [{"lora_name": "wan_lightx2v_4step", "strength_model": 1.0}],
            },
            "timestamp": None,
        },
    ),
    "f5": (
        5,
        5,
        {
            "parameters": {
                "prompt": "café terrace at night",
                "negative_prompt": "",
                "steps": 40,
                "cfg_scale": 8.0,
                "sampler": "euler",
                "seed": 5,
                "model_name": "models/Juggernaut XL v9.ckpt",
                "loras": [{"lora_name": "add-detail.safetensors", "strength_model": 1.5}],
            },
            "timestamp": "regenerated",
            "frame_id": 5,
            "project_id": ...,
            "task_id": ...,
        },
    ),
    "f6": (
        12,
        6,
        {
            "parameters": {
                "prompt": "category of cats",
                "steps": ...,
                "sampler": "Euler_A",
                "seed": 0,
                "cfg_scale": 7.5,
                "loras": [],
                "style": "Anime",
                "num_frames": "81",
                "denoise": 0.75,
                "big": 2**63 + 1,
            },
            "task_id": 42,
            "timestamp": "20251013_090000",
        },
    ),
    "f7": (
        12,
        7,
        {
            "parameters": {
                "prompt": "🌸 spring, castles",
                "model_name": "sd_xl_base_1.0",
                "width": 832,
                "height": 1216,
                "cfg_scale": 12.0,
                "seed": 1234567891,
                "steps": 35,
                "loras": [],
            },
            "plugin_version": "1.1.0",
            "timestamp": "20240229_235959",
        },
    ),
}
ALL = set(FRAMES)
SQLITE_ONLY = {"cafe"}  # diacritics fold on SQLite (unicode61), not on PostgreSQL

CASES: list[tuple[str, set[str]] | Any] = [
    ("", ALL),
    # full text: words, phrases, prefixes, prompt syntax, non-ASCII
    ("portrait", {"f1"}),
    ("PORTRAIT", {"f1"}),
    ('"red dragon"', {"f2"}),
    ("red dragon", {"f2", "f3"}),
    ("drag*", {"f2", "f3"}),
    ('"(red dragon:1.2)"', {"f2"}),
    ("score_9", {"f2"}),
    ("score", {"f2"}),
    ("cat", set()),
    ("cat*", {"f6"}),
    ("castle", {"f2"}),
    ("castle*", {"f2", "f7"}),
    ("85mm", {"f1"}),
    ("東京", {"f4"}),
    ("夜", {"f4"}),
    ("東京の夜", {"f4"}),
    ("café", {"f5"}),
    ("cafe", {"f5"}),
    ("🌸", {"f7"}),
    ("neg:sketch", {"f2"}),
    ("neg:lowres", {"f1", "f2", "f4", "f6", "f7"}),
    ("-neg:lowres", {"f3", "f5"}),
    ('neg:"bad hands"', {"f3"}),
    ("neg:blurry portrait", {"f1"}),
    # LoRAs: any list, normalised names, globs, strengths
    ("lora:add_detail", {"f1", "f2", "f4", "f5"}),
    ("lora:ADD-DETAIL.safetensors", {"f1", "f2", "f4", "f5"}),
    ("lora:loras/add_detail.pt", {"f1", "f2", "f4", "f5"}),
    ("lora:add_detail@0.5..1.0", {"f1", "f2"}),
    ("lora:add_detail@>=1.2", {"f4", "f5"}),
    ("lora:*detail*", {"f1", "f2", "f4", "f5"}),
    ("lora:detail*", {"f2"}),
    ("lora:*.pt", {"f4"}),
    ("lora:wan_lightx2v_4step", {"f4"}),
    ("lora:wan_lightx2v_4step@1", {"f4"}),
    ("-lora:add_detail", {"f3", "f6", "f7"}),
    ("lora:add_detail lora:detail_tweaker", {"f2"}),
    ("lora:nothing_like_it", set()),
    # names: model (with or without extension), sampler, plugin, version, path
    ("model:sd_xl_base_1.0", {"f1", "f3", "f6", "f7"}),
    ("model:sd_xl_base_1.0.safetensors", {"f1", "f3", "f6", "f7"}),
    ("model:Juggernaut_XL_v9", {"f5"}),
    ("model:juggernaut*", {"f2", "f5"}),
    ("model:*.ckpt", {"f5"}),
    ("model:wan2.2*", {"f4"}),
    ("-model:sd_xl_base_1.0", {"f2", "f4", "f5"}),
    ("sampler:euler_a", {"f1", "f3", "f6", "f7"}),
    ("sampler:euler*", {"f1", "f3", "f5", "f6", "f7"}),
    ("sampler:euler?a", {"f1", "f3", "f6", "f7"}),
    ("plugin:wan22*", {"f4"}),
    ("plugin:SDXL", ALL - {"f4"}),
    ("scheduler:karras", ALL - {"f4"}),
    ("version:1.1.0", {"f7"}),
    ("path:frames/project_3_*", {"f2", "f3"}),
    # numbers: exact, ranges, comparisons; seeds at any size
    ("steps:30", {"f1"}),
    ("steps:20..30", {"f1", "f2", "f3"}),
    ("steps:>30", {"f5", "f7"}),
    ("-steps:30", {"f2", "f3", "f4", "f5", "f6", "f7"}),
    ("cfg:>=6.5", {"f1", "f2", "f5", "f6", "f7"}),
    ("cfg:7", {"f1"}),
    ("width:<1024", {"f7"}),
    ("height:1216", {"f7"}),
    (f"seed:{BIG}", {"f2"}),
    (f"seed:{2**63}", {"f4"}),
    (f"seed:>{2**63 - 1}", {"f2", "f4"}),
    ("seed:0", {"f6"}),
    ("seed:..77", {"f3", "f5", "f6"}),
    ("seed:1234567890", {"f1"}),
    ("project:12", {"f1", "f6", "f7"}),
    ("project:5", {"f5"}),
    ("task:42", {"f6"}),
    ("task:0", ALL - {"f5", "f6"}),
    # any other parameter key
    ("num_frames:81", {"f4"}),
    ('num_frames:"81"', {"f4", "f6"}),
    ("total_frames:>40", {"f4"}),
    ("style:anime", {"f6"}),
    ("style:an*", {"f6"}),
    ("denoise:<0.8", {"f6"}),
    (f"big:{2**63 + 1}", {"f6"}),
    ("num_variants:1", ALL),
    ("no_such_key:1", set()),
    ("-no_such_key:1", ALL),
    # dates (f4 and f5 have no usable timestamp: their file time, i.e. now)
    ("date:2025-10-13", {"f1", "f6"}),
    ("date:2025-10", {"f1", "f2", "f3", "f6"}),
    ("date:2025-10-01..2025-10-13", {"f1", "f2", "f6"}),
    ("date:>2025-10", {"f4", "f5"}),
    ("date:today", {"f4", "f5"}),
    ("date:-7d..", {"f4", "f5"}),
    ("date:<2025", {"f7"}),
    ("date:2025-10-20", {"f3"}),  # exactly at midnight: inside its day, outside the one before
    ("date:<2025-10-20", {"f1", "f2", "f6", "f7"}),
    ("date:2025-10-19", set()),
    # boolean structure
    ("dragon OR cats", {"f2", "f3", "f6"}),
    ("(dragon OR cats) steps:20", {"f2"}),
    ("-(dragon OR cats)", ALL - {"f2", "f3", "f6"}),
    ("lora:add_detail -steps:30", {"f2", "f4", "f5"}),
    ("lora:add_detail model:sd_xl* date:2025-10", {"f1"}),
    ("lora:add_detail (castle OR neon)", {"f2", "f4"}),
    ("project:12 -portrait", {"f6", "f7"}),
]
SORTED = [  # sort key -> expected order (f4 and f5 carry file times: written in that order)
    ("newest", ["f5", "f4", "f3", "f1", "f6", "f2", "f7"]),
    ("oldest", ["f7", "f2", "f6", "f1", "f3", "f4", "f5"]),
    ("steps", ["f2", "f3", "f1", "f7", "f5"]),  # then f4 and f6, which have no steps
    ("seed", ["f6", "f5", "f3", "f1", "f7", "f4", "f2"]),
    ("cfg", ["f3", "f2", "f1", "f6", "f5", "f7", "f4"]),  # f4 has no cfg: last
]


def _pg_database(admin_url: str) -> Iterator[str]:
    import psycopg

    name = f"kc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Indexed:
    """The FRAMES library indexed in one catalogue, with its reference records."""

    catalog: Catalog
    labels: dict[str, str]  # absolute sidecar path -> label
    refs: dict[str, RefFrame]  # label -> reference record

    def found(self, query: str, **options: Any) -> list[str]:
        return [self.labels[frame.sidecar_path] for frame in self.catalog.search(query, **options)]

    def reference(self, query: str) -> set[str]:
        by_path = {ref.path: label for label, ref in self.refs.items()}
        return {by_path[path] for path in evaluate(parse_query(query), list(self.refs.values()))}

    @property
    def is_sqlite(self) -> bool:
        return self.catalog.engine.dialect.name == "sqlite"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def indexed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Indexed]:
    """FRAMES indexed once per dialect (module scope: the table has ~100 rows)."""
    root = tmp_path_factory.mktemp("query_library")
    library = Library(root)
    labels, refs = {}, {}
    for label, (project, number, over) in FRAMES.items():
        path = library.frame(project, number, **over)
        labels[str(path)] = label
        refs[label] = load_frame(str(root), os.path.relpath(path, root).replace(os.sep, "/"))
    if request.param == "sqlite":
        targets: Iterator[str] = iter([str(tmp_path_factory.mktemp("db") / "catalog.db")])
    else:
        targets = _pg_database(request.getfixturevalue("pg_server"))
    target = next(targets)
    try:
        with Catalog.open(target) as cat:
            cat.sync(root)
            yield Indexed(cat, labels, refs)
    finally:
        for _ in targets:  # drops the PostgreSQL database
            pass


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_query_finds_expected_frames(indexed: Indexed, query: str, expected: set[str]) -> None:
    assert indexed.reference(query) == expected
    if query in SQLITE_ONLY and not indexed.is_sqlite:
        pytest.skip("SQLite-only behaviour")
    found = indexed.found(query, limit=None)
    assert len(found) == len(set(found)), "a frame came back twice"
    assert set(found) == expected
    assert indexed.catalog.count(query) == len(expected)


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_first_results_are_the_newest_matches(
    indexed: Indexed, query: str, expected: set[str]
) -> None:
    if query in SQLITE_ONLY and not indexed.is_sqlite:
        pytest.skip("SQLite-only behaviour")
    everything = indexed.found(query, limit=None)
    assert indexed.found(query, limit=2) == everything[:2]
    assert indexed.found(query, limit=2, sort="oldest") == everything[::-1][:2]


@pytest.mark.parametrize(("sort", "order"), SORTED)
def test_sort_orders(indexed: Indexed, sort: str, order: list[str]) -> None:
    found = indexed.found("", limit=None, sort=sort)
    assert found[: len(order)] == order
    assert set(found) == ALL


def test_relevance_keeps_the_set_and_ranks_phrase_matches_first(indexed: Indexed) -> None:
    found = indexed.found("red dragon", limit=None, sort="relevance")
    assert set(found) == {"f2", "f3"}
    assert set(indexed.found("", limit=None, sort="relevance")) == ALL


def test_unknown_sort_is_a_query_error(indexed: Indexed) -> None:
    with pytest.raises(QueryError, match="unknown sort key"):
        indexed.catalog.search("", sort="random")


def test_user_values_are_bound_parameters(tmp_path: Path) -> None:
    """Quotes and SQL in values are data: nothing breaks, nothing matches by accident."""
    library = Library(tmp_path / "lib")
    library.frame(1, 1, parameters={"prompt": 'it\'s a "quoted" prompt; DROP TABLE frames'})
    with Catalog.open(tmp_path / "c.db") as cat:
        cat.sync(library.root)
        for query in [
            '"it\'s"',
            "model:\"x' OR '1'='1\"",
            'lora:"\'; DROP TABLE loras; --"',
            'key:"%"',
            "sampler:_uler_a",
            'neg:"\\"" ',
        ]:
            cat.search(query)
        assert cat.count('"it\'s"') == 1
        assert cat.count("sampler:_uler_a") == 0  # _ is not a LIKE wildcard
        assert cat.count("DROP TABLE frames") == 1
        assert cat.count("") == 1


def test_make_sidecar_defaults_are_what_the_table_assumes() -> None:
    doc = make_sidecar()
    assert doc["parameters"]["steps"] == 30
    assert doc["timestamp"] == "20251013_150530"


@pytest.mark.parametrize("probe_us", [0.0, 1e9])  # force probing / force fetching the set
def test_both_full_text_plans_give_the_same_first_results(
    indexed: Indexed, monkeypatch: pytest.MonkeyPatch, probe_us: float
) -> None:
    from kino_catalog.query import fts_plans

    expected = {
        query: indexed.found(query, limit=3) for query, _ in CASES if query not in SQLITE_ONLY
    }
    monkeypatch.setattr(fts_plans, "_PROBE_US", probe_us)
    for query, first in expected.items():
        assert indexed.found(query, limit=3) == first, query
        assert indexed.found(query, limit=None)[:3] == first, query
