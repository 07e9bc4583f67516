"""Keyset pages: the same order as Catalog.search for every sort, stable while frames are added."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest

from kino_catalog.errors import QueryError
from kino_catalog.query.keyset import encode_cursor
from kino_catalog.query.sql import SORTS

if TYPE_CHECKING:
    from kino_catalog import Catalog
    from tests.factories import Library

QUERIES = ["", "portrait", "lora:add_detail", "steps:>=25", "model:sd_xl*", "portrait OR castle"]


def _fill(library: Library, catalog: Catalog, count: int, seed: int = 7) -> None:
    """Frames with many ties (same times, steps, cfg, models, missing values)."""
    rng = random.Random(seed)
    for i in range(count):
        params = {
            "prompt": rng.choice(["a portrait", "a castle", "portrait of a castle", "a dragon"]),
            "steps": rng.choice([20, 30, 30, ...]),
            "cfg_scale": rng.choice([6.5, 7.0, ...]),
            "seed": rng.choice([1, 2**64 - 1, 2**64 - 2, 12345, ...]),
            "model_name": rng.choice(["sd_xl_base_1.0.safetensors", "juggernaut.safetensors", ...]),
            "loras": rng.choice(
                [[], [{"lora_name": "add_detail.safetensors", "strength_model": 0.5}]]
            ),
        }
        stamp = rng.choice(["20251013_150530", "20251013_150531", "20251014_090000", None])
        library.frame(rng.randint(1, 3), i, parameters=params, timestamp=stamp)
    catalog.sync(library.root)


def _pages(catalog: Catalog, query: str, sort: str, limit: int) -> list[int]:
    found: list[int] = []
    cursor = None
    while True:
        page = catalog.search_page(query, sort=sort, limit=limit, cursor=cursor)
        found += [frame.id for frame in page.frames]
        if page.next_cursor is None:
            return found
        assert len(page.frames) == limit
        cursor = page.next_cursor


@pytest.mark.parametrize("sort", SORTS)
def test_pages_follow_search_order_for_every_sort(
    any_catalog: Catalog, library: Library, sort: str
) -> None:
    _fill(library, any_catalog, 60)
    for query in QUERIES:
        expected = [f.id for f in any_catalog.search(query, limit=None, sort=sort)]
        assert expected, query
        assert _pages(any_catalog, query, sort, 7) == expected, (query, sort)
        assert _pages(any_catalog, query, sort, 1000) == expected, (query, sort)


@pytest.mark.parametrize("sort", ["newest", "oldest", "seed", "model"])
def test_frames_added_between_pages_never_repeat_or_skip(
    any_catalog: Catalog, library: Library, sort: str
) -> None:
    _fill(library, any_catalog, 40)
    before = {f.id for f in any_catalog.search("", limit=None)}
    rng = random.Random(3)
    seen: list[int] = []
    cursor = None
    added = 1000
    while True:
        page = any_catalog.search_page("", sort=sort, limit=6, cursor=cursor)
        seen += [f.id for f in page.frames]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        for _ in range(3):  # newer, older and equal times and seeds land on both sides
            added += 1
            stamp = rng.choice(["20251013_150530", "20200101_000000", "20300101_000000", None])
            library.frame(
                9, added, parameters={"seed": rng.choice([1, 2**64 - 1, 5])}, timestamp=stamp
            )
        any_catalog.sync(library.root)
    assert len(seen) == len(set(seen)), "a frame appeared twice"
    assert before <= set(seen), "a frame that was there all along was skipped"


def test_bad_cursors_are_query_errors(catalog: Catalog, library: Library) -> None:
    _fill(library, catalog, 5)
    page = catalog.search_page("", sort="newest", limit=2)
    assert page.next_cursor is not None
    with pytest.raises(QueryError, match="made for sort 'newest'"):
        catalog.search_page("", sort="oldest", cursor=page.next_cursor)
    for bad in ("x", "!!!", encode_cursor("newest", ["not-a-time", "not-an-id"]), "e30"):
        with pytest.raises(QueryError, match="bad cursor"):
            catalog.search_page("", sort="newest", cursor=bad)
    relevance = catalog.search_page("portrait", sort="relevance", limit=1).next_cursor
    assert relevance is not None
    with pytest.raises(QueryError, match="bad cursor"):  # rank, time, id: not newest's two keys
        catalog.search_page("", sort="relevance", cursor=relevance)
