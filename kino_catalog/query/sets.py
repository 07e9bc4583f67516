"""Set-at-a-time forms of query terms: the ids of a term's frames read from its own index.

``sql.py`` says whether one frame matches (a per-frame probe, e.g. a correlated
``EXISTS`` on ``loras``); a plan that reads a term's matches as a whole
instead (``frames.id IN (SELECT frame_id FROM loras WHERE key = ?)``) costs
the number of matches, not frames times anything.  The plans use these forms
to drive a search or a count from the smallest term, and their capped counts
to estimate which term that is (issue 20).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, literal_column, select, union

from kino_catalog.query.ast import Compare, LoraTerm, Match, Node, Or, Range, TextTerm
from kino_catalog.query.conditions import is_written_glob, lora_condition
from kino_catalog.query.fulltext import fts, fts_phrase
from kino_catalog.query.sql import Compiler, term_source
from kino_catalog.schema import frames_table, loras_table, parameters_table, tags_table

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Select
    from sqlalchemy.engine import Connection

__all__ = ["FrameSet", "all_words", "capped_count", "exact_count", "frame_set", "words_set"]

frames = frames_table
loras = loras_table
parameters = parameters_table
tags = tags_table
f = frames.c


@dataclass(frozen=True)
class FrameSet:
    """The frame ids a term matches, as one SELECT of one column.

    ``repeats``: an id may come more than once (a LoRA twice in one frame);
    ``is_indexed``: an index finds them without reading every frame, so a
    capped count of them is cheap and the set can drive a plan.
    """

    ids: Select[Any]
    repeats: bool
    is_indexed: bool

    def contains(self) -> ColumnElement[bool]:
        """``frames.id IN (the set)``: read once, then a look-up per frame."""
        return f.id.in_(self.ids.correlate(None))


def all_words(words: list[TextTerm]) -> str:
    """One FTS5 MATCH string for several words: FTS5 intersects their lists itself."""
    return " AND ".join(fts_phrase(w) for w in words)


def frame_set(node: Node, compiler: Compiler) -> FrameSet | None:
    """The set form of ``node``, or None where only a per-frame check answers it (Not, All)."""
    source = term_source(node)
    if source == "loras":
        assert isinstance(node, LoraTerm)
        # A glob without a literal start (lora:*detail*) reads the whole index.
        is_indexed = not node.is_glob or (
            not is_written_glob(node.name) and node.name[:1] not in "*?"
        )
        ids = select(loras.c.frame_id).where(lora_condition(node, compiler.dialect))
        return FrameSet(ids, True, is_indexed)
    if source == "words" and compiler.dialect == "sqlite":
        assert isinstance(node, TextTerm)
        return words_set([node])
    if source == "tags":
        assert isinstance(node, Match)
        # One row per (frame, tag): a glob can match several tags of one frame.
        ids = select(tags.c.frame_id).where(compiler.tag_condition(node))
        return FrameSet(ids, node.is_glob, True)
    if source == "parameters":
        assert isinstance(node, Match | Compare | Range)
        conditions = compiler.parameter_conditions(node)
        return FrameSet(select(parameters.c.frame_id).where(*conditions), False, True)
    if source:  # a frames column: its index (GIN for words on PostgreSQL) or a scan
        is_indexed = source in ("indexed", "words", "covered")
        return FrameSet(select(f.id).where(compiler.compile(node)), False, is_indexed)
    if isinstance(node, Or):
        children = [frame_set(child, compiler) for child in node.nodes]
        if any(child is None for child in children):
            return None
        sets = [child for child in children if child is not None]
        return FrameSet(
            select(union(*(s.ids for s in sets)).subquery().c[0]),
            False,
            all(s.is_indexed for s in sets),
        )
    return None


def words_set(words: list[TextTerm]) -> FrameSet:
    """SQLite: the frames holding all ``words``, straight from FTS5 (no frames row read)."""
    matching = literal_column("frames_fts").op("MATCH")(all_words(words))
    return FrameSet(select(fts.c.rowid).where(matching), False, True)


def capped_count(conn: Connection, found: FrameSet, cap: int) -> int:
    """How many ids ``found`` holds, counting no further than ``cap`` (repeats count)."""
    capped = found.ids.limit(cap).subquery()
    return int(conn.execute(select(func.count()).select_from(capped)).scalar_one())


def exact_count(found: FrameSet) -> Select[Any]:
    """SELECT the number of distinct frames in ``found``."""
    inner = found.ids.subquery()
    column = inner.c[0]
    counted = func.count(func.distinct(column)) if found.repeats else func.count()
    return select(counted).select_from(inner)
