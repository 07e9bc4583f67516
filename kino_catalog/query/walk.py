"""Walk the sort's index checking each frame, or read the smallest term's set and sort it.

The plans for the first results of any search that no specialised plan
(``plan.py``: LoRA, model, words newest first) answers, chosen per query:

- ``walk``: the sort's own index (``ix_frames_sort_<column>``, ``(column IS
  NULL, column, id)`` in exactly ``order_by``'s order, or the time index),
  checking each frame with look-ups (a LoRA on ``ix_loras_frame_key``, a
  key on ``parameters``' primary key, a word in FTS5) until ``limit`` match.
  It visits about ``limit * frames / matches`` frames: cheap for common terms.
  A term on the sort's own column (``steps:20..30 --sort steps``) makes it
  start at that term's first value.
- ``set``: the ids of the term with the fewest matches, read from its own
  index (``sets.py``), then the other terms checked and the rest sorted: cheap
  for rare terms.
- ``scan``: every frame read once and the matches sorted, where no term has
  an index and the walk did not find its page (``plugin:wan* --sort steps``:
  those frames have no steps, so they all come last).

Each term's matches are counted up to a cap on its index (a few ms), the
matches of the whole query estimated as if terms were independent, and the
cheaper plan taken.  Terms are not always independent of the sort, so on
SQLite the walk runs while planning, bounded to four times the index entries
it was expected to need; if it has not found its page by then, the set (or
the scan) answers instead, and a walk that succeeded hands over its ids.
None of these multiplies two large numbers (issue 20).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, false, func, select, true

from kino_catalog.query.ast import And, Compare, Match, Node, Not, Or, Range, TextTerm
from kino_catalog.query.sets import FrameSet, capped_count, frame_set, words_set
from kino_catalog.query.sql import Compiler, order_by, term_source
from kino_catalog.schema import Frame

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Select
    from sqlalchemy.engine import Connection

__all__ = ["BY_ID", "SORT_INDEXES", "Choice", "checks", "choose", "last_id", "ordered", "probe_us"]

frames = Frame.__table__
f = frames.c

#: The index each sort walks in its own order (schema.models, migration 0006).
SORT_INDEXES = {
    "newest": "ix_frames_generated_at",
    "oldest": "ix_frames_generated_at",
    "seed": "ix_frames_sort_seed",
    "steps": "ix_frames_sort_steps",
    "cfg": "ix_frames_sort_cfg",
    "model": "ix_frames_sort_model",
}
# Costs in us, measured on this design (SQLite 3.40, 100k frames, warm cache):
# a step of an index walk with its row read; an id of a set read, looked up and
# sorted; a look-up per frame by source (a word's FTS5 probe is the dearest).
_STEP_US = 2.0
_SET_ROW_US = 2.5
_PROBE_US = {"words": 50.0, "loras": 3.0, "tags": 2.0, "parameters": 3.0}
_COLUMN_US = 0.3
_CAP_MIN, _CAP_MAX = 2_000, 200_000


_WORD_PROBE_US, _WORD_SET_US = 50.0, 0.25  # a word checked per frame, or read as a set
# A walk gives up after four times the steps it was expected to take (at least
# what _WALK_MIN_US buys): the terms were not spread evenly along the sort (a
# plugin's frames all lack steps, so sort by steps puts them last).
_WALK_SLACK, _WALK_MIN_US = 4, 20_000.0
#: The column each sort's index starts with (after "IS NULL"); its terms have the same name.
_SORT_COLUMNS = {"seed": f.seed_key, "steps": f.steps, "cfg": f.cfg_scale, "model": f.model_key}


@dataclass(frozen=True)
class Choice:
    """A plan's name and its WHERE (the driving set first), and the index hint it needs."""

    name: str
    condition: ColumnElement[bool]
    hint: str


#: The hint of a statement that looks up a short list of ids (and sorts them).
BY_ID = Choice("ids", true(), "NOT INDEXED")


def last_id(conn: Connection) -> int:
    """The highest frame id: the plans' estimate of the number of frames."""
    return int(conn.execute(select(func.max(f.id))).scalar() or 0)


def probe_us(node: Node) -> float:
    """The estimated cost of checking ``node`` on one frame."""
    if isinstance(node, Not):
        return probe_us(node.node)
    if isinstance(node, And | Or):
        return sum(probe_us(child) for child in node.nodes)
    return _PROBE_US.get(term_source(node), _COLUMN_US)


def checks(
    conn: Connection, compiler: Compiler, prober: Compiler, nodes: list[Node], rows: int
) -> ColumnElement[bool]:
    """``nodes`` checked on each of about ``rows`` frames: a word (or its negation) is
    probed in FTS5 per frame or its matches read once as a set, whichever is cheaper
    (a common word's set costs more than a few probes; many probes more than a rare
    word's set); every other term is a look-up per frame."""
    parts = []
    for node in nodes:
        inner = node.node if isinstance(node, Not) else node
        if (
            compiler.dialect == "sqlite"
            and isinstance(inner, TextTerm)
            and term_source(inner) == "words"
        ):
            cap = int(rows * _WORD_PROBE_US / _WORD_SET_US) + 1
            is_set = capped_count(conn, words_set([inner]), cap) < cap
            parts.append((compiler if is_set else prober).compile(node))
        else:
            parts.append(prober.compile(node))
    return and_(true(), *parts)


def choose(
    conn: Connection,
    compiler: Compiler,
    prober: Compiler,
    nodes: list[Node],
    sort: str,
    limit: int | None,
    after: ColumnElement[bool],
) -> Choice:
    """The cheapest plan for the first ``limit`` of ``nodes`` in ``sort`` after ``after``
    (a page's keyset condition): ``walk``, ``set`` or ``scan``.

    ``compiler`` builds the sets; ``prober`` the per-frame checks.
    """
    total = max(last_id(conn), 1)
    candidates = _candidates(compiler, nodes)
    rest_us = sum(probe_us(n) for n in nodes)
    if limit is None:
        cap = _CAP_MAX
    else:  # the set wins below ~sqrt(limit * frames * walk cost / set cost) matches
        even = math.sqrt(limit * total * (_STEP_US + rest_us) / _SET_ROW_US)
        cap = int(min(max(4 * even, _CAP_MIN), _CAP_MAX))
    sized = [(capped_count(conn, found, cap), found, terms) for found, terms in candidates]
    sized.sort(key=lambda item: item[0])
    share = math.prod(min(n, total) / total for n, _found, _terms in sized)
    for node in nodes:  # a negated set: its complement's share, when counted exactly
        if isinstance(node, Not):
            inner = frame_set(node.node, compiler)
            if inner is not None and inner.is_indexed:
                n = capped_count(conn, inner, cap)
                share *= 1 - n / total if n < cap else 1.0
    set_choice = None
    if sized:
        rows, best, terms = sized[0]
        others = [n for n in nodes if n not in terms]
        set_us = rows * (_SET_ROW_US + sum(probe_us(n) for n in others))
        condition = and_(best.contains(), checks(conn, compiler, prober, others, rows))
        set_choice = Choice("set", condition, "NOT INDEXED")
    if limit is None:
        return set_choice or Choice("scan", checks(conn, compiler, prober, nodes, total), "")
    walked = min(total, limit / max(share, 1 / total))
    walk_us = walked * (_STEP_US + rest_us)
    if set_choice is not None and set_us < walk_us:
        return set_choice
    walk_condition = and_(_seek(compiler, nodes, sort), prober.compile_all(nodes))
    walk_hint = f"INDEXED BY {SORT_INDEXES[sort]}"
    if compiler.dialect != "sqlite":  # PostgreSQL's planner takes it from here
        return Choice("walk", walk_condition, walk_hint)
    steps = int(max(_WALK_SLACK * walked, _WALK_MIN_US / (_STEP_US + rest_us)))
    ids = _walk(conn, walk_condition, after, sort, limit, steps, walk_hint)
    if ids is not None:
        return Choice("walk", f.id.in_(ids), "NOT INDEXED")
    if set_choice is not None:
        return set_choice
    return Choice("scan", checks(conn, compiler, prober, nodes, total), "NOT INDEXED")


def _seek(compiler: Compiler, nodes: list[Node], sort: str) -> ColumnElement[bool]:
    """``column IS NULL`` is false, when a term needs the sort's column: then the walk
    starts at the term's values instead of passing every frame before them."""
    column = _SORT_COLUMNS.get(sort)
    for node in nodes:
        if column is None or not isinstance(node, Compare | Range | Match):
            continue
        if node.field == sort and not (isinstance(node, Match) and node.is_glob):
            # the term itself too, so the walk starts at its first value
            return and_(column.is_(None) == false(), compiler.compile(node))
    return true()


def _walk(
    conn: Connection,
    condition: ColumnElement[bool],
    after: ColumnElement[bool],
    sort: str,
    limit: int,
    steps: int,
    hint: str,
) -> list[int] | None:
    """The ids of the first ``limit`` matches along the sort's index, or None if they
    are not within ``steps`` index entries (the end of the index counts as found)."""
    walked = (
        select(f.id, case((condition, 1), else_=0).label("ok"))
        .select_from(frames)
        .with_hint(frames, hint, "sqlite")
        .where(after)
        .order_by(*order_by(sort))
        .limit(steps)
        .subquery()
    )
    found: list[int] = []
    seen = 0
    for frame_id, ok in conn.execute(select(walked.c.id, walked.c.ok)):
        seen += 1
        if ok:
            found.append(int(frame_id))
            if len(found) == limit:
                return found
    return found if seen < steps else None


def _candidates(compiler: Compiler, nodes: list[Node]) -> list[tuple[FrameSet, list[Node]]]:
    """Each term that an index answers as a set (all words together, as FTS5 intersects)."""
    found: list[tuple[FrameSet, list[Node]]] = []
    words = [n for n in nodes if term_source(n) == "words"]
    if words and compiler.dialect == "sqlite":
        found.append((words_set([w for w in words if isinstance(w, TextTerm)]), list(words)))
    for node in nodes:
        if node in words and compiler.dialect == "sqlite":
            continue
        its = frame_set(node, compiler)
        if its is not None and its.is_indexed:
            found.append((its, [node]))
    return found


def ordered(statement: Select[Any], choice: Choice, dialect: str) -> Select[Any]:
    """``statement`` with the choice's index hint (SQLite; PostgreSQL plans from statistics)."""
    if dialect != "sqlite" or not choice.hint:
        return statement
    return statement.with_hint(frames, choice.hint, "sqlite")
