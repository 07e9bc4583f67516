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
- ``setwalk``: when the walk did not find its page where expected (the terms
  are not spread evenly along the sort: ``-num_variants:1 --sort steps``
  matches only frames without steps, which come last), every term's set is
  read once and the sort's index walked checking ids against them, reading no
  frames row;
- ``scan``: every frame read once and the matches sorted, where a term has no
  set form at all (``-(a b)``, ``notes:x``).

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

from sqlalchemy import and_, case, false, func, not_, select, true

from kino_catalog.query.ast import And, Compare, Match, Node, Not, Or, Range, TextTerm
from kino_catalog.query.sets import FrameSet, capped_count, frame_set, words_set
from kino_catalog.query.sql import Compiler, order_by, term_source
from kino_catalog.schema import frames_table

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Select
    from sqlalchemy.engine import Connection

__all__ = ["BY_ID", "SORT_INDEXES", "Choice", "checks", "choose", "last_id", "ordered", "probe_us"]

frames = frames_table
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


_WORD_SET_US = 0.25  # a word's match read into a set
# A prefix (cast*) probed per frame expands to every word it starts in FTS5's
# index first: at 1M frames a few hundred such probes took seconds.
_PREFIX_PROBE_US = 5_000.0
# A walk gives up after four times the steps it was expected to take (at least
# what _WALK_MIN_US buys): the terms were not spread evenly along the sort (a
# plugin's frames all lack steps, so sort by steps puts them last).
_WALK_SLACK, _WALK_MIN_US = 4, 20_000.0
_MEMBER_STEP_US = 0.3  # a step of the sort's index checking ids against sets in memory
#: The column each sort's index starts with (after "IS NULL"); its terms have the same name.
_SORT_COLUMNS = {"seed": f.seed_key, "steps": f.steps, "cfg": f.cfg_scale, "model": f.model_key}


@dataclass(frozen=True)
class Choice:
    """A plan's name and its WHERE (the driving set first), and the index hint it needs."""

    name: str
    condition: ColumnElement[bool]
    hint: str
    is_seeking: bool = False  # the sort column is known non-NULL: order without "IS NULL"

    def orders(self, sort: str) -> list[Any]:
        """The ORDER BY of the index walk: when it seeks, the first term ("column IS
        NULL") is constant, and SQLite would sort to honour it rather than see that."""
        orders = order_by(sort)
        return orders[1:] if self.is_seeking else orders


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
    if isinstance(node, TextTerm) and node.is_prefix and term_source(node) == "words":
        return _PREFIX_PROBE_US
    return _PROBE_US.get(term_source(node), _COLUMN_US)


def checks(
    conn: Connection, compiler: Compiler, prober: Compiler, nodes: list[Node], rows: int
) -> ColumnElement[bool]:
    """``nodes`` checked on each of about ``rows`` frames: a word (or its negation) is
    probed in FTS5 per frame or its matches read once as a set, whichever is cheaper
    (a common word's set costs more than a few probes; many probes more than a rare
    word's set); every other term is a look-up per frame."""
    parts: list[ColumnElement[bool]] = []
    for node in nodes:
        inner = node.node if isinstance(node, Not) else node
        if (
            compiler.dialect == "sqlite"
            and isinstance(inner, TextTerm)
            and term_source(inner) == "words"
        ):
            cap = int(rows * probe_us(inner) / _WORD_SET_US) + 1
            if capped_count(conn, words_set([inner]), cap) < cap:
                # "id + 0": a check of each frame, never the list the database drives from
                found = (f.id + 0).in_(words_set([inner]).ids.correlate(None))
                parts.append(not_(found) if isinstance(node, Not) else found)
            else:
                parts.append(prober.compile(node))
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
    (a page's keyset condition): ``walk``, ``set``, ``setwalk`` or ``scan``.

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
        if rows >= cap:  # counted no further: as dear as reading half the frames
            rows = max(rows, total // 2)
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
    seek = _seek(compiler, nodes, sort)
    is_seeking = seek is not None
    seek = true() if seek is None else seek
    walk_condition = and_(seek, prober.compile_all(nodes))
    walk_hint = f"INDEXED BY {SORT_INDEXES[sort]}"
    if compiler.dialect != "sqlite":  # PostgreSQL's planner takes it from here
        return Choice("walk", walk_condition, walk_hint, is_seeking)
    steps = int(max(_WALK_SLACK * walked, _WALK_MIN_US / (_STEP_US + rest_us)))
    # the seek in the walk's WHERE (the index range), every check in its select list
    walking = Choice("walk", walk_condition, walk_hint, is_seeking)
    ids = _walk(conn, walking, and_(after, seek), sort, limit, steps)
    if ids is not None:
        return Choice("walk", f.id.in_(ids), "NOT INDEXED")
    members = _memberships(compiler, nodes)
    if members is not None and (set_choice is None or set_us > total * _MEMBER_STEP_US):
        return Choice("setwalk", and_(seek, members), walk_hint, is_seeking)
    if set_choice is not None:
        return set_choice
    return Choice("scan", checks(conn, compiler, prober, nodes, total), "NOT INDEXED")


def _memberships(compiler: Compiler, nodes: list[Node]) -> ColumnElement[bool] | None:
    """Every term (or negated term) as membership of its set, read once: a walk of
    the sort's index then reads no frames row (None if a term has no set form)."""
    parts = []
    for node in nodes:
        is_negated = isinstance(node, Not)
        found = frame_set(node.node if isinstance(node, Not) else node, compiler)
        if found is None:
            return None
        ids = found.ids.correlate(None)
        parts.append(f.id.not_in(ids) if is_negated else f.id.in_(ids))
    return and_(true(), *parts)


def _seek(compiler: Compiler, nodes: list[Node], sort: str) -> ColumnElement[bool] | None:
    """``column IS NULL`` is false, when a term needs the sort's column: then the walk
    starts at the term's values instead of passing every frame before them."""
    column = _SORT_COLUMNS.get(sort)
    for node in nodes:
        if column is None or not isinstance(node, Compare | Range | Match):
            continue
        if node.field == sort and not (isinstance(node, Match) and node.is_glob):
            # the term itself too, so the walk starts at its first value
            return and_(column.is_(None) == false(), compiler.compile(node))
    return None


def _walk(
    conn: Connection,
    walking: Choice,
    where: ColumnElement[bool],
    sort: str,
    limit: int,
    steps: int,
) -> list[int] | None:
    """The ids of the first ``limit`` matches along the sort's index, or None if they
    are not within ``steps`` index entries (the end of the index counts as found)."""
    walked = (
        select(f.id, case((walking.condition, 1), else_=0).label("ok"))
        .select_from(frames)
        .with_hint(frames, walking.hint, "sqlite")
        .where(where)
        .order_by(*walking.orders(sort))
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
