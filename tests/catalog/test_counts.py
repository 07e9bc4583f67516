"""The terminal's match count: exact when quick, an estimate marked "about" when not."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from kino_catalog.catalog import counts
from kino_catalog.catalog.counts import MatchCount

if TYPE_CHECKING:
    from kino_catalog import Catalog
    from tests.factories import Library

QUERIES = ["", "castle", "-castle", "lora:add_detail", "東京", "-(castle OR steps:>25)"]


@pytest.fixture
def indexed(any_catalog: Catalog, library: Library) -> Catalog:
    for i in range(1, 31):
        library.frame(
            1,
            i,
            image=False,
            parameters={
                "prompt": "castle at dusk" if i % 3 else "東京の夜",
                "steps": 20 + i,
                "loras": [{"lora_name": "add_detail", "strength_model": 1.0}] if i % 2 else [],
            },
        )
    any_catalog.sync(library.root)
    return any_catalog


@pytest.mark.parametrize("query", QUERIES)
def test_a_quick_count_is_exact(
    indexed: Catalog, query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Quick" is within the budget: a busy machine can spend the real 400 ms
    # (PostgreSQL's statement_timeout) on a count of 30 frames.
    monkeypatch.setattr(counts, "EXACT_BUDGET_MS", 60_000)
    assert indexed.count_estimate(query) == MatchCount(indexed.count(query), True)


@pytest.mark.parametrize("query", QUERIES)
def test_a_count_over_its_budget_is_estimated_from_the_newest_frames(
    indexed: Catalog, query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if indexed.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's smallest statement_timeout (1 ms) is longer than these counts")
    monkeypatch.setattr(counts, "EXACT_BUDGET_MS", -1)
    monkeypatch.setattr(counts, "_CHECK_EVERY", 1)
    found = indexed.count_estimate(query)
    # every frame is in the sample here, so the estimate is the count itself
    assert found == MatchCount(indexed.count(query), False)
    assert str(found) == f"about {found.value:,}"
    assert indexed.count(query) == found.value  # Catalog.count stays exact


def test_a_small_sample_scales_to_every_frame(
    indexed: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(counts, "SAMPLE_FRAMES", 10)
    found = counts.sample_estimate(indexed.engine, "lora:add_detail")
    assert not found.is_exact
    assert found.value == 15  # the newest 10 ids hold 5 of them: 5 * 30 / 10
