"""Newest/oldest-first full-text plans (fts_plans.py): the first results are exact for any
frame-id order, and the fts-recent plan is chosen when ids follow generation time.

Frame ids are renumbered and times changed with SQL after indexing: the catalogue then
looks as a rebuild in time order, an old unordered build, or frames regenerated in place
(old id, newest time) would leave it.  Every answer is compared with a full sort of all
matches (``limit=None``), whose membership is checked against tests/query/reference.py.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kino_catalog import Catalog
from kino_catalog.query import fts_plans
from kino_catalog.query.parse import parse_query
from kino_catalog.query.plan import search_statement
from tests.factories import Library
from tests.query.reference import evaluate, load_frame

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tests.query.reference import RefFrame

FRAMES = 160
START = dt.datetime(2025, 1, 1)
# Shares of prompts: every frame, 1/2, 1/5, 1/10 (16 matches: K = 4 * limit at limit 4),
# 1/40, and words on both columns; several frames share a time, so ties are broken by id.
QUERIES = [
    "every",
    "half",
    "fifth",
    "tenth",
    "rare",
    "half fifth",
    "neg:lowres",
    "fifth neg:odd",
    "fift*",
    "nothing",
]
ORDERS = ["time", "reverse", "shuffled"]


def _prompt(i: int) -> str:
    words = ["every", f"frame{i}"]
    words += [
        word
        for word, step in [("half", 2), ("fifth", 5), ("tenth", 10), ("rare", 40)]
        if i % step == 0
    ]
    return " ".join(words)


def _timestamp(i: int) -> str:
    return (START + dt.timedelta(minutes=(i * 37) % FRAMES // 3)).strftime("%Y%m%d_%H%M%S")


@dataclass
class Catalogue:
    catalog: Catalog
    db_path: Path
    refs: list[RefFrame]
    paths: dict[str, str]  # absolute sidecar path -> relative path

    def search(self, query: str, **options: Any) -> list[str]:
        return [self.paths[frame.sidecar_path] for frame in self.catalog.search(query, **options)]

    def plan(self, query: str, limit: int, sort: str = "newest") -> str:
        with self.catalog.engine.connect() as conn:
            return search_statement(conn, parse_query(query), sort=sort, limit=limit).name

    def renumber(self, order: str, seed: int = 0) -> None:
        """Give frames new ids: in time order, in reverse time order, or shuffled."""
        with sqlite3.connect(self.db_path) as db:
            rows = db.execute("SELECT id FROM frames ORDER BY generated_at, id").fetchall()
            ids = [row[0] for row in rows]
            new = list(range(1, len(ids) + 1))
            if order == "reverse":
                new.reverse()
            elif order == "shuffled":
                random.Random(seed).shuffle(new)
            _move_ids(db, dict(zip(ids, new, strict=True)))

    def regenerate(self, ids: list[int], *, newest: bool = True) -> None:
        """Frames regenerated in place: same id, a time after (or before) every other."""
        with sqlite3.connect(self.db_path) as db:
            edge = db.execute(
                f"SELECT {'max' if newest else 'min'}(generated_at) FROM frames"
            ).fetchone()[0]
            for n, frame_id in enumerate(ids, 1):
                shift = dt.timedelta(seconds=n if newest else -n)
                when = (dt.datetime.fromisoformat(edge) + shift).isoformat(" ", "microseconds")
                db.execute("UPDATE frames SET generated_at = ? WHERE id = ?", (when, frame_id))


def _move_ids(db: sqlite3.Connection, mapping: dict[int, int]) -> None:
    db.execute("CREATE TEMP TABLE moved (old INTEGER PRIMARY KEY, new INTEGER NOT NULL)")
    db.executemany("INSERT INTO moved VALUES (?, ?)", mapping.items())
    for table, column in [
        ("frames", "id"),
        ("loras", "frame_id"),
        ("parameters", "frame_id"),
        ("tags", "frame_id"),
    ]:
        db.execute(
            f"UPDATE {table} SET {column} = -(SELECT new FROM moved WHERE old = {table}.{column})"
        )
        db.execute(f"UPDATE {table} SET {column} = -{column}")
    db.execute("DROP TABLE moved")
    db.execute("INSERT INTO frames_fts(frames_fts) VALUES ('rebuild')")


@pytest.fixture
def catalogue(tmp_path: Path) -> Iterator[Catalogue]:
    library = Library(tmp_path / "lib")
    paths = {}
    for i in range(1, FRAMES + 1):
        path = library.frame(
            1,
            i,
            image=False,
            timestamp=_timestamp(i),
            parameters={
                "prompt": _prompt(i),
                "negative_prompt": "lowres" + (" odd" if i % 2 else ""),
            },
        )
        paths[str(path)] = os.path.relpath(path, library.root).replace(os.sep, "/")
    db_path = tmp_path / "catalog.db"
    with Catalog.open(db_path) as cat:
        cat.sync(library.root)
        refs = [load_frame(str(library.root), rel) for rel in paths.values()]
        yield Catalogue(cat, db_path, refs, paths)


def _assert_first_results_exact(cat: Catalogue, query: str, limit: int, sort: str) -> None:
    everything = cat.search(query, limit=None, sort=sort)
    assert set(everything) == evaluate(parse_query(query), cat.refs), query
    assert cat.search(query, limit=limit, sort=sort) == everything[:limit], (query, limit, sort)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_first_results_are_exact_in_any_id_order(
    catalogue: Catalogue, order: str, sort: str
) -> None:
    catalogue.renumber(order, seed=3)
    for query in QUERIES:
        for limit in (1, 4, 5, 50):
            _assert_first_results_exact(catalogue, query, limit, sort)


@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_frames_regenerated_in_place_are_found(catalogue: Catalogue, sort: str) -> None:
    catalogue.renumber("time")
    # Old ids, now the newest (or oldest) frames: found only by the stray check.
    catalogue.regenerate(
        [1, 2, 10, 20, 40] if sort == "newest" else [160, 150, 140, 120, 80],
        newest=sort == "newest",
    )
    for query in QUERIES:
        for limit in (1, 4, 5, 50):
            _assert_first_results_exact(catalogue, query, limit, sort)
    first = catalogue.catalog.search("every", limit=1, sort=sort)[0]
    assert first.id == (40 if sort == "newest" else 80)  # the last one regenerated
    assert catalogue.plan("every", 4, sort) == "fts-recent"


def test_a_sidecar_regenerated_and_synced_comes_first(tmp_path: Path, catalogue: Catalogue) -> None:
    catalogue.renumber("time")
    library = Library(tmp_path / "lib")
    library.frame(
        1,
        20,
        image=False,
        timestamp="20260101_000000",
        parameters={"prompt": _prompt(20), "negative_prompt": "lowres"},
    )
    catalogue.catalog.sync(library.root)
    found = catalogue.search("half", limit=4)
    assert found[0] == "frames/project_1_frame_20_variant_0.json"
    assert catalogue.plan("half", limit=4) == "fts-recent"
    _assert_first_results_exact(catalogue, "half", 4, "newest")


@pytest.mark.parametrize(
    ("query", "limit"),
    [
        ("every", 4),
        ("half", 4),
        ("fifth", 4),
        ("half fifth", 2),
        ("neg:lowres", 4),
        ("tenth", 5),
        ("nothing", 4),
    ],
)
@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_time_ordered_ids_choose_fts_recent(
    catalogue: Catalogue, query: str, limit: int, sort: str
) -> None:
    catalogue.renumber("time")
    assert catalogue.plan(query, limit, sort) == "fts-recent"


@pytest.mark.parametrize(("query", "plan"), [("tenth", "fts-set"), ("every", "time")])
def test_unordered_ids_fall_back_to_the_other_plans(
    catalogue: Catalogue, query: str, plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fts_plans, "_RECENT_WALK", 15)  # scaled to this small catalogue
    catalogue.renumber("time")
    assert catalogue.plan(query, limit=2) == "fts-recent"
    catalogue.renumber("reverse")
    assert catalogue.plan(query, limit=2) == plan
    assert catalogue.plan("every -half", limit=2) == "time"  # not words only
    _assert_first_results_exact(catalogue, query, 2, "newest")


@pytest.fixture
def forced_recent(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    """Make fts-recent never give up, checking strays by probes or by an intersection."""

    def force(is_probed: bool) -> None:
        monkeypatch.setattr(fts_plans, "_RECENT_WALK", 10**9)
        monkeypatch.setattr(fts_plans, "_stray_cost", lambda *_a, **_k: (is_probed, 0.0))

    return force


_SETTINGS = dict(
    deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@settings(**_SETTINGS)  # type: ignore[arg-type]
@given(
    order=st.sampled_from(ORDERS),
    seed=st.integers(0, 2**16),
    regenerated=st.lists(st.integers(1, FRAMES), max_size=12, unique=True),
    newest=st.booleans(),
    is_probed=st.booleans(),
    query=st.sampled_from(QUERIES),
    limit=st.integers(1, 12),
)
def test_forced_fts_recent_is_exact(
    catalogue: Catalogue,
    forced_recent: Callable[[bool], None],
    order: str,
    seed: int,
    regenerated: list[int],
    newest: bool,
    is_probed: bool,
    query: str,
    limit: int,
) -> None:
    forced_recent(is_probed)
    catalogue.renumber(order, seed)
    catalogue.regenerate(regenerated, newest=newest)
    sort = "newest" if newest else "oldest"
    assert catalogue.plan(query, limit, sort) == "fts-recent"
    _assert_first_results_exact(catalogue, query, limit, sort)
