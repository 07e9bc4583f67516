"""Count statements: exact, from the terms' own indexes wherever one answers.

A count cannot stop early, so checking every frame (``count(-lora:x)``: a
look-up per frame of a million) is what makes counts slow.  Instead:

- one term with an index counts its set there (``sets.py``): a LoRA's uses
  on ``ix_loras_key``, words in FTS5 alone (not FTS5 joined to ``frames``);
- a negation subtracts: ``count(P AND NOT Q) = count(P) - count(P AND Q)``,
  so ``-lora:x`` costs a count of all frames (an index of ids) and one of
  ``lora:x``; leaf conditions are never NULL (sql.py), so this is exact;
- several terms: with a set each, the smallest (counted up to a cap) keeps
  the ids the others' sets also hold; else it drives and the others are
  checked per frame of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from kino_catalog.query.ast import All, And, Node, Not, TextTerm
from kino_catalog.query.sets import FrameSet, capped_count, exact_count, frame_set, words_set
from kino_catalog.query.sql import Compiler, term_source
from kino_catalog.query.walk import checks
from kino_catalog.schema import frames_table

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Select
    from sqlalchemy.engine import Connection

__all__ = ["count_statement"]

frames = frames_table
f = frames.c
_DRIVER_CAP = 50_000  # sets are compared by their size counted up to this
_INTERSECTED = 4  # at most this many sets intersected without frames rows
_SUBTRACTIONS = 3  # negations taken apart per count (each doubles the statements)


def count_statement(conn: Connection, node: Node, query: str | None = None) -> Select[Any]:
    """SELECT the number of frames matching ``node``.

    Raises:
        QueryError: a field the catalogue cannot answer.
    """
    counter = _Counter(conn, query)
    return select(counter.count(_conjuncts(node), _SUBTRACTIONS))


def _conjuncts(node: Node) -> list[Node]:
    nodes = list(node.nodes) if isinstance(node, And) else [node]
    return [n for n in nodes if not isinstance(n, All)]


class _Counter:
    def __init__(self, conn: Connection, query: str | None) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.compiler = Compiler(self.dialect, query)
        self.prober = Compiler(self.dialect, query, probe_words=True)

    def count(self, nodes: list[Node], subtractions: int) -> ColumnElement[Any]:
        """A scalar expression: the number of frames matching all ``nodes``."""
        if not nodes:
            return select(func.count()).select_from(frames).scalar_subquery()
        for i, node in enumerate(nodes):
            if subtractions and isinstance(node, Not) and self._has_set(node.node):
                rest = nodes[:i] + nodes[i + 1 :]
                return self.count(rest, subtractions - 1) - self.count(
                    rest + _conjuncts(node.node), subtractions - 1
                )
        sets = self._sets(nodes)
        covered = [(found, terms) for found, terms in sets if len(terms) == len(nodes)]
        if covered:  # one set answers the whole query
            return exact_count(covered[0][0]).scalar_subquery()
        indexed = [(found, terms) for found, terms in sets if found.is_indexed]
        if not indexed:
            return self._plain(self.compiler.compile_all(nodes))
        sized = [
            (capped_count(self.conn, found, _DRIVER_CAP), found, terms) for found, terms in indexed
        ]
        rows, best, terms = min(sized, key=lambda item: item[0])
        rest = [n for n in nodes if n not in terms]
        if sum(len(t) for _found, t in sets) == len(nodes) and len(sets) <= _INTERSECTED:
            # every term has a set: intersect them, never reading a frames row
            column = best.ids.selected_columns[0]
            others = [found.ids.correlate(None) for found, t in sets if t is not terms]
            # "+ 0": the others are checked per id, never the list SQLite drives from
            narrowed = best.ids.where(*((column + 0).in_(ids) for ids in others))
            return exact_count(FrameSet(narrowed, best.repeats, True)).scalar_subquery()
        checked = checks(self.conn, self.compiler, self.prober, rest, rows)
        return self._plain(and_(best.contains(), checked))

    def _plain(self, condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return select(func.count()).select_from(frames).where(condition).scalar_subquery()

    def _has_set(self, node: Node) -> bool:
        nodes = _conjuncts(node)
        return len(nodes) == 1 and frame_set(nodes[0], self.compiler) is not None

    def _sets(self, nodes: list[Node]) -> list[tuple[FrameSet, list[Node]]]:
        """Each term's set; on SQLite all words as one (FTS5 intersects them)."""
        found: list[tuple[FrameSet, list[Node]]] = []
        is_sqlite = self.dialect == "sqlite"
        words = [n for n in nodes if term_source(n) == "words" and isinstance(n, TextTerm)]
        if words and is_sqlite:
            found.append((words_set(words), list(words)))
        for node in nodes:
            if is_sqlite and node in words:
                continue
            its = frame_set(node, self.compiler)
            if its is not None:
                found.append((its, [node]))
        return found
