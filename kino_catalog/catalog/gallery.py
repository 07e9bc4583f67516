"""What a browsing UI asks of a catalogue: pages with cursors, facets, projects.

The web gallery (``kino_catalog.web``) is a thin shell over these, so any
other front end (a script, Kino's own UI through the JSON API) gets the same
answers.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from kino_catalog.query.ast import Compare, LoraTerm, Match
from kino_catalog.query.frame import FRAME_SELECT_COLUMNS, Frame, RootPlace
from kino_catalog.query.keyset import decode_cursor, encode_cursor, key_columns
from kino_catalog.query.plan import search_statement
from kino_catalog.query.sql import to_ast
from kino_catalog.query.unparse import unparse
from kino_catalog.schema import frames_table, loras_table

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy.engine import Connection, Engine

    from kino_catalog.query.ast import Node

__all__ = [
    "FACETS",
    "FACET_BUDGET_SECONDS",
    "FACET_SAMPLE",
    "Page",
    "facets",
    "projects",
    "search_page",
]

f = frames_table.c
loras = loras_table.c
FACETS = ("loras", "models", "projects", "samplers")
#: Facets count at most this many matches (the newest): a query matching a
#: million frames is summarised from its newest 2,000, and the answer says so
#: (top-10 lists barely change beyond that; see RESULTS.md for the times).
FACET_SAMPLE = 2_000
#: ... and read them for at most this long (the rest of the answer then takes
#: about as long again): a slow query is summarised from fewer frames.
FACET_BUDGET_SECONDS = 0.06
_ID_CHUNK = 1_000  # frame ids bound per LoRA look-up
_FACET_PAGE = 500


@dataclass(frozen=True)
class Page:
    """One page of a search: its frames and the cursor of the next page (None: no more)."""

    frames: list[Frame]
    next_cursor: str | None


def search_page(
    engine: Engine,
    query: str | Node,
    places: Mapping[int, RootPlace],
    *,
    sort: str = "newest",
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """The ``limit`` frames after ``cursor`` (from the start without one), in ``sort`` order.

    Pages follow :meth:`Catalog.search`'s order exactly; frames added or
    removed between pages never make one appear twice or skip one that was
    there all along (see keyset.py).

    Raises:
        QueryError: a bad query, sort key or cursor.
        ValueError: ``limit`` is not positive.
    """
    if limit < 1:
        raise ValueError(f"limit must be positive, not {limit}")
    node = to_ast(query)
    text = query if isinstance(query, str) else None
    after = decode_cursor(cursor, sort) if cursor else None
    with engine.connect() as conn:
        rows, last = _page_rows(conn, node, text, sort, limit, after, FRAME_SELECT_COLUMNS)
    frames = [Frame.from_row(row, places) for row in rows]
    return Page(frames, None if last is None else encode_cursor(sort, last))


def _page_rows(
    conn: Connection,
    node: Node,
    text: str | None,
    sort: str,
    limit: int,
    after: list[Any] | None,
    columns: Sequence[Any],
) -> tuple[list[tuple[Any, ...]], list[Any] | None]:
    """``columns`` of the ``limit`` frames after ``after``, and the last one's sort values
    (None when no frame follows: the end)."""
    plan = search_statement(conn, node, sort=sort, limit=limit + 1, query=text, after=after)
    keys = key_columns(plan.keys, conn.dialect.name)
    found = conn.execute(plan.statement.with_only_columns(*columns, *keys)).all()
    width = len(columns)
    rows = [tuple(row)[:width] for row in found[:limit]]
    last = list(tuple(found[limit - 1])[width:]) if len(found) > limit else None
    return rows, last


@dataclass(frozen=True)
class FacetValue:
    """One value of a facet: what to show, how many frames, and the query term selecting it."""

    label: str
    count: int
    term: str

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "count": self.count, "term": self.term}


@dataclass
class Facets:
    """Top values per facet over the matches (or their newest ``sample`` when ``is_sampled``)."""

    values: dict[str, list[FacetValue]] = field(default_factory=dict)
    frames: int = 0
    is_sampled: bool = False
    sample: int = FACET_SAMPLE

    def as_dict(self) -> dict[str, Any]:
        return {
            "facets": {name: [v.as_dict() for v in found] for name, found in self.values.items()},
            "frames_counted": self.frames,
            "sampled": self.is_sampled,
            "sample_limit": self.sample,
        }


def facets(
    engine: Engine,
    query: str | Node = "",
    *,
    top: int = 10,
    sample: int = FACET_SAMPLE,
    budget_seconds: float = FACET_BUDGET_SECONDS,
    page_size: int = _FACET_PAGE,
) -> Facets:
    """The most used LoRAs, models, projects and samplers among a query's frames.

    Counted over the newest ``sample`` matches, read page by page, and over
    fewer when the pages read so far took ``budget_seconds`` (at least one
    page is read): ``is_sampled`` tells whether any match was left out,
    ``frames`` how many were counted.  A query over a million frames so
    answers in about the time of a few pages of a search.  Each
    value carries the query term that selects it (``lora:add_detail``).

    Raises:
        QueryError: a bad query.
    """
    node = to_ast(query)
    text = query if isinstance(query, str) else None
    deadline = time.monotonic() + budget_seconds
    rows: list[tuple[Any, ...]] = []
    columns = (f.id, f.model_key, f.model_name, f.project_id, f.sampler)
    with engine.connect() as conn:
        after: list[Any] | None = None
        is_sampled = True
        # In keyset pages: each costs what a page of the grid costs, so the
        # budget can stop between them (one plan for 2,000 rows may take
        # seconds before its first row).
        while len(rows) < sample and (not rows or time.monotonic() < deadline):
            size = min(page_size, sample - len(rows))
            page, after = _page_rows(conn, node, text, "newest", size, after, columns)
            rows += page
            if after is None:
                is_sampled = False
                break
        ids = [row[0] for row in rows]
        lora_uses = [
            use
            for start in range(0, len(ids), _ID_CHUNK)
            for use in conn.execute(
                select(loras.frame_id, loras.key, loras.name).where(
                    loras.frame_id.in_(ids[start : start + _ID_CHUNK])
                )
            )
        ]
    found = Facets(frames=len(rows), is_sampled=is_sampled, sample=sample)
    lora_frames: dict[str, set[int]] = {}
    lora_names: dict[str, str] = {}
    for frame_id, key, name in lora_uses:
        lora_frames.setdefault(key, set()).add(frame_id)
        lora_names[key] = min(name, lora_names.get(key, name))
    found.values["loras"] = [
        FacetValue(lora_names[key], n, unparse(LoraTerm(key)))
        for key, n in _top(Counter({k: len(v) for k, v in lora_frames.items()}), top)
    ]
    models: Counter[str] = Counter()
    model_names: dict[str, str] = {}
    projects: Counter[int] = Counter()
    samplers: Counter[str] = Counter()
    for _id, model_key, model_name, project_id, sampler in rows:
        if model_key is not None:
            models[model_key] += 1
            model_names.setdefault(model_key, model_name)
        if project_id is not None:
            projects[project_id] += 1
        if sampler:
            samplers[sampler.lower()] += 1
    found.values["models"] = [
        FacetValue(model_names[key], n, unparse(Match("model", key)))
        for key, n in _top(models, top)
    ]
    found.values["projects"] = [
        FacetValue(str(pid), n, unparse(Compare("project", "=", pid)))
        for pid, n in _top(projects, top)
    ]
    found.values["samplers"] = [
        FacetValue(name, n, unparse(Match("sampler", name))) for name, n in _top(samplers, top)
    ]
    return found


def _top(counts: Counter[Any], top: int) -> list[tuple[Any, int]]:
    """Most frequent first, ties in value order, so the same data lists the same way."""
    return sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))[:top]


def projects(engine: Engine) -> list[tuple[int, int]]:
    """Every project with its number of frames, by id."""
    with engine.connect() as conn:
        stmt = (
            select(f.project_id, func.count())
            .where(f.project_id.is_not(None))
            .group_by(f.project_id)
            .order_by(f.project_id)
        )
        return [(int(pid), int(n)) for pid, n in conn.execute(stmt)]
