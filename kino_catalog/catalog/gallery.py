"""What a browsing UI asks of a catalogue: pages with cursors, facets, projects.

The web gallery (``kino_catalog.web``) is a thin shell over these, so any
other front end (a script, Kino's own UI through the JSON API) gets the same
answers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from kino_catalog.query.ast import Compare, LoraTerm, Match
from kino_catalog.query.frame import FRAME_SELECT_COLUMNS, Frame
from kino_catalog.query.keyset import decode_cursor, encode_cursor, key_columns
from kino_catalog.query.plan import search_statement
from kino_catalog.query.sql import to_ast
from kino_catalog.query.unparse import unparse
from kino_catalog.schema import Frame as FrameRow
from kino_catalog.schema import Lora as LoraRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from kino_catalog.query.ast import Node

__all__ = ["FACETS", "FACET_SAMPLE", "Page", "facets", "projects", "search_page"]

f = FrameRow.__table__.c
loras = LoraRow.__table__.c
FACETS = ("loras", "models", "projects", "samplers")
#: Facets count at most this many matches (the newest): a query matching a
#: million frames is summarised from its newest 20,000, and the answer says so.
FACET_SAMPLE = 20_000


@dataclass(frozen=True)
class Page:
    """One page of a search: its frames and the cursor of the next page (None: no more)."""

    frames: list[Frame]
    next_cursor: str | None


def search_page(
    engine: Engine,
    query: str | Node = "",
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
        plan = search_statement(conn, node, sort=sort, limit=limit + 1, query=text, after=after)
        rows = conn.execute(
            plan.statement.add_columns(*key_columns(plan.keys, conn.dialect.name))
        ).all()
    width = len(FRAME_SELECT_COLUMNS)
    shown = rows[:limit]
    frames = [Frame(*tuple(row)[:width]) for row in shown]
    if len(rows) <= limit:
        return Page(frames, None)
    return Page(frames, encode_cursor(sort, list(tuple(shown[-1])[width:])))


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "facets": {name: [v.as_dict() for v in found] for name, found in self.values.items()},
            "frames_counted": self.frames,
            "sampled": self.is_sampled,
            "sample_limit": FACET_SAMPLE,
        }


def facets(
    engine: Engine, query: str | Node = "", *, top: int = 10, sample: int = FACET_SAMPLE
) -> Facets:
    """The most used LoRAs, models, projects and samplers among a query's frames.

    Counted over the newest ``sample`` matches (``is_sampled`` tells whether
    there were more), so a query over a million frames answers as fast as
    one page of a search does.  Each value carries the query term that
    selects it (``lora:add_detail``), ready to add to the query.

    Raises:
        QueryError: a bad query.
    """
    node = to_ast(query)
    text = query if isinstance(query, str) else None
    with engine.connect() as conn:
        plan = search_statement(conn, node, sort="newest", limit=sample + 1, query=text)
        matches = plan.statement.with_only_columns(
            f.id, f.model_key, f.model_name, f.project_id, f.sampler
        )
        rows = conn.execute(matches).all()
        is_sampled = len(rows) > sample
        rows = rows[:sample]
        ids = plan.statement.with_only_columns(f.id).limit(sample).scalar_subquery()
        lora_rows = conn.execute(
            select(loras.key, func.min(loras.name), func.count(func.distinct(loras.frame_id)))
            .where(loras.frame_id.in_(ids))
            .group_by(loras.key)
            .order_by(func.count(func.distinct(loras.frame_id)).desc(), loras.key)
            .limit(top)
        ).all()
    found = Facets(frames=len(rows), is_sampled=is_sampled)
    found.values["loras"] = [
        FacetValue(name, int(n), unparse(LoraTerm(key))) for key, name, n in lora_rows
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
