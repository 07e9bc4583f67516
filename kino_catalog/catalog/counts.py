"""The terminal's "N matched": the exact count when it comes quickly, else an estimate.

``Catalog.count`` and ``search --count`` are always exact.  Below the table
of a search, a count that has not finished within ``EXACT_BUDGET_MS`` (a term
no index answers, such as a CJK substring over a million prompts) gives way to
an estimate from the newest ``SAMPLE_FRAMES`` frames, shown as "about N".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import DBAPIError, OperationalError

from kino_catalog.query.counting import count_statement
from kino_catalog.query.sql import Compiler, to_ast
from kino_catalog.schema import frames_table

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from kino_catalog.query.ast import Node

__all__ = ["EXACT_BUDGET_MS", "SAMPLE_FRAMES", "MatchCount", "estimate_count", "sample_estimate"]

EXACT_BUDGET_MS = 400
SAMPLE_FRAMES = 2_000
_CHECK_EVERY = 10_000  # SQLite VM steps between looks at the clock
_f = frames_table.c


@dataclass(frozen=True)
class MatchCount:
    """How many frames match: exact, or estimated from a sample (``is_exact`` False)."""

    value: int
    is_exact: bool

    def __str__(self) -> str:
        return f"{self.value}" if self.is_exact else f"about {self.value:,}"


def estimate_count(engine: Engine, query: str | Node) -> MatchCount:
    """The exact count if it takes under EXACT_BUDGET_MS, else an estimate.

    Raises:
        QueryError: the query is malformed.
    """
    node = to_ast(query)
    text = query if isinstance(query, str) else None
    with engine.connect() as conn:
        statement = count_statement(conn, node, text)  # a bad query raises here
        exact = _within_budget(conn, statement)
    return MatchCount(exact, True) if exact is not None else sample_estimate(engine, node)


def _within_budget(conn: Connection, statement: Any) -> int | None:
    """Run ``statement``; None if the database stopped it at the budget."""
    if conn.dialect.name == "sqlite":
        deadline = time.monotonic() + EXACT_BUDGET_MS / 1000
        raw: Any = conn.connection.driver_connection
        raw.set_progress_handler(lambda: time.monotonic() > deadline, _CHECK_EVERY)
        try:
            return int(conn.execute(statement).scalar_one())
        except OperationalError as exc:
            if "interrupted" not in str(exc):
                raise
            conn.rollback()
            return None
        finally:
            raw.set_progress_handler(None, 0)
    conn.rollback()  # the plan's own look-ups began a transaction
    with conn.begin():
        # 0 would mean no limit at all
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(EXACT_BUDGET_MS, 1)}")
        try:
            return int(conn.execute(statement).scalar_one())
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != "57014":  # query_canceled
                raise
            return None


def sample_estimate(engine: Engine, query: str | Node) -> MatchCount:
    """The matches among the newest SAMPLE_FRAMES (by id), scaled to every frame.

    Raises:
        QueryError: the query is malformed.
    """
    node = to_ast(query)
    text = query if isinstance(query, str) else None
    with engine.connect() as conn:
        last = conn.execute(select(func.max(_f.id), func.count())).one()
        last_id, total = int(last[0] or 0), int(last[1])
        sample = Compiler(conn.dialect.name, text, probe_words=True).compile(node)
        in_sample = _f.id > last_id - SAMPLE_FRAMES
        row = conn.execute(
            select(func.count(), func.sum(case((sample, 1), else_=0)))
            .select_from(frames_table)
            .where(in_sample)
        ).one()
    seen, matched = int(row[0]), int(row[1] or 0)
    return MatchCount(round(matched * total / seen) if seen else 0, False)
