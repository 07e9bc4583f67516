"""Walk the sort's index checking each frame, or read the smallest term's set and sort it.

The two plans for the first results of any search that no specialised plan
(``plan.py``: LoRA, model, words newest first) answers, chosen per query:

- ``walk``: the sort's own index (``ix_frames_sort_<column>``, ``(column IS
  NULL, column, id)`` in exactly ``order_by``'s order, or the time index),
  checking each frame with look-ups (a LoRA on ``ix_loras_frame_key``, a
  key on ``parameters``' primary key, a word in FTS5) until ``limit`` match.
  It visits about ``limit * frames / matches`` frames: cheap for common terms.
- ``set``: the ids of the term with the fewest matches, read from its own
  index (``sets.py``), then the other terms checked and the rest sorted: cheap
  for rare terms.

Each term's matches are counted up to a cap on its index (a few ms), the
matches of the whole query estimated as if terms were independent, and the
cheaper plan taken.  Neither plan multiplies two large numbers: the walk
stops early unless matches are rare, and then the set is small -- except
where no term has an index (a CJK substring, ``sampler:e*``), which the walk
checks row by row (issue 20).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from kino_catalog.query.ast import And, Node, Not, Or, TextTerm
from kino_catalog.query.sets import FrameSet, capped_count, frame_set, words_set
from kino_catalog.query.sql import Compiler, term_source
from kino_catalog.schema import Frame

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Select
    from sqlalchemy.engine import Connection

__all__ = ["SORT_INDEXES", "Choice", "choose", "last_id"]

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


@dataclass(frozen=True)
class Choice:
    """A plan's name and its WHERE (the driving set first), and the index hint it needs."""

    name: str
    condition: ColumnElement[bool]
    hint: str


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


def choose(
    conn: Connection,
    compiler: Compiler,
    prober: Compiler,
    nodes: list[Node],
    sort: str,
    limit: int | None,
) -> Choice:
    """The cheaper of ``walk`` and ``set`` for the first ``limit`` of ``nodes`` in ``sort``.

    ``compiler`` builds the sets; ``prober`` the per-frame checks.
    """
    total = max(last_id(conn), 1)
    candidates = _candidates(compiler, nodes)
    walk_hint = f"INDEXED BY {SORT_INDEXES[sort]}"
    if not candidates:
        return Choice("walk", prober.compile_all(nodes), walk_hint)
    rest_us = sum(probe_us(n) for n in nodes)
    if limit is None:
        cap = _CAP_MAX
    else:  # the set wins below ~sqrt(limit * frames * walk cost / set cost) matches
        even = math.sqrt(limit * total * (_STEP_US + rest_us) / _SET_ROW_US)
        cap = int(min(max(4 * even, _CAP_MIN), _CAP_MAX))
    sized = [(capped_count(conn, found, cap), found, terms) for found, terms in candidates]
    sized.sort(key=lambda item: item[0])
    rows, best, terms = sized[0]
    share = math.prod(min(n, total) / total for n, _found, _terms in sized)
    for node in nodes:  # a negated set: its complement's share, when counted exactly
        if isinstance(node, Not):
            inner = frame_set(node.node, compiler)
            if inner is not None and inner.is_indexed:
                n = capped_count(conn, inner, cap)
                share *= 1 - n / total if n < cap else 1.0
    if limit is not None:
        walked = min(total, limit / max(share, 1 / total))
        walk_us = walked * (_STEP_US + rest_us)
        others_us = sum(probe_us(n) for n in nodes if n not in terms)
        set_us = rows * (_SET_ROW_US + others_us)
        if walk_us <= set_us:
            return Choice("walk", prober.compile_all(nodes), walk_hint)
    others = [n for n in nodes if n not in terms]
    return Choice("set", and_(best.contains(), prober.compile_all(others)), "NOT INDEXED")


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
    if dialect != "sqlite":
        return statement
    return statement.with_hint(frames, choice.hint, "sqlite")
