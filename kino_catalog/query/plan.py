"""Search and count statements: which index a query walks, chosen per query.

``query.py`` says *what* matches; this module decides *how* to find the
first results fast.  For newest/oldest-first, the cheapest plan walks an
index that is already in generation-time order and stops at the limit:

- ``lora``: ``ix_loras_key (key, generated_at, frame_id)`` for an exact LoRA
  term, so rare and common LoRAs both cost a handful of index steps (a
  join-then-sort costs ~190 ms for a common one, a time walk probing the
  LoRA index ~23 ms for a rare one);
- ``model`` / ``project``: their ``(…, generated_at)`` indexes;
- ``fts-recent``: a query made only of words, when frame ids mostly follow
  generation time (a rebuild numbers frames in time order, syncs append
  newer ones): FTS5 walks its rowids from the newest (or oldest) end, so
  ``4 * limit`` matches come back without a sort, and only the few frames
  newer than the ``limit``-th of them with older ids (frames regenerated in
  place) need checking.  Exact for any id order; when the ids do not follow
  time it notices within ``400 * limit`` time-index entries and falls back
  (words in 2-15% of prompts otherwise cost 45-57 ms at 1M frames);
- ``fts-set``: a rarer word: fetch its frames from FTS5 and sort them on
  ``ix_frames_id_generated_at`` without reading their rows;
- ``time``: ``ix_frames_generated_at``, checking each frame (common words
  are probed per frame in FTS5, so a word in 40% of prompts stops after
  ~125 probes instead of materialising 400,000 ids);
- ``filter``: a seed equality: a handful of frames on ``ix_frames_seed_key``;
- anything else, and every other sort: ``walk.py`` chooses between walking
  the sort's index (``walk``, or ``time`` newest/oldest first), the smallest
  term's set (``set``) and a ``scan`` (issue 20).

Searches read ``frames`` alone: a frame's root is an id (``frame.root_places``
places it), so joining ``roots`` only gave the database's planner a table to
start from that no sort can use.  The id lists of fts-recent and fts-set, and
the cost model that chooses between fts-set and time, are in ``fts_plans.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    and_,
    exists,
    func,
    literal_column,
    not_,
    select,
    true,
    tuple_,
)

from kino_catalog.query import fts_plans, walk
from kino_catalog.query.ast import And, Compare, DateRange, LoraTerm, Match, Node, TextTerm
from kino_catalog.query.conditions import date_condition, lora_condition
from kino_catalog.query.frame import FRAME_SELECT_COLUMNS
from kino_catalog.query.fulltext import FTS_COLUMNS, fts, needs_substring, pg_relevance
from kino_catalog.query.keyset import SORT_KEYS, KeyTerm, after_condition
from kino_catalog.query.sets import all_words
from kino_catalog.query.sql import Compiler, order_by
from kino_catalog.schema import frames_table, loras_table
from kino_catalog.sidecar.record import normalise_name

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import ColumnElement, Select
    from sqlalchemy.engine import Connection

__all__ = ["RELEVANCE_CANDIDATES", "Plan", "search_statement"]

frames = frames_table
loras = loras_table
f = frames.c
# The same LoRA's earlier use in one frame (see lora_from); made once, as building
# an alias's column collection per search cost ~0.3 ms.
_earlier_use = loras.alias("earlier_use")
_TIME_SORTS = ("newest", "oldest")
#: --sort relevance ranks at most this many matches: the newest by frame id (which
#: follows generation time after a rebuild); README "Searching" says so.
RELEVANCE_CANDIDATES = 10_000


@dataclass(frozen=True)
class Plan:
    """A statement plus the name of the access path it was built for (benchmarks).

    ``keys`` are the sort's terms (see keyset.py): a page's last frame's values
    of them make the cursor of the next page.
    """

    name: str
    statement: Select[Any]
    keys: tuple[KeyTerm, ...] = ()


def _conjuncts(node: Node) -> list[Node]:
    return list(node.nodes) if isinstance(node, And) else [node]


def _is_word(node: Node) -> bool:
    return (
        isinstance(node, TextTerm) and node.field in FTS_COLUMNS and not needs_substring(node.value)
    )


class _Builder:
    def __init__(self, conn: Connection, query: str | None) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.compiler = Compiler(self.dialect, query)
        self.prober = Compiler(self.dialect, query, probe_words=True)
        self.after: ColumnElement[bool] = true()  # a page's keyset condition (keyset.py)

    def where(self, nodes: list[Node], *, probe_text: bool = False) -> ColumnElement[bool]:
        """AND of ``nodes`` (and the page's keyset condition); with ``probe_text``
        words are per-frame FTS5 probes, not materialised id sets."""
        compiler = self.prober if probe_text else self.compiler
        return and_(self.after, compiler.compile_all(nodes))

    # ------------------------------------------------------------ drivers
    def lora_driver(self, nodes: list[Node]) -> LoraTerm | None:
        """The exact LoRA term with the fewest uses (capped count), if any."""
        candidates = [n for n in nodes if isinstance(n, LoraTerm) and not n.is_glob]
        if len(candidates) <= 1:
            return candidates[0] if candidates else None

        def uses(node: LoraTerm) -> int:
            capped = (
                select(loras.c.frame_id)
                .where(loras.c.key == normalise_name(node.name))
                .limit(10_000)
                .subquery()
            )
            return int(self.conn.execute(select(func.count()).select_from(capped)).scalar_one())

        return min(candidates, key=uses)

    def lora_from(self, driver: LoraTerm, rest: list[Node]) -> tuple[Any, ColumnElement[bool]]:
        """FROM loras JOIN frames, one row per frame (its first use of the LoRA)."""
        other = _earlier_use
        earlier = exists().where(
            other.c.frame_id == loras.c.frame_id,
            lora_condition(driver, self.dialect, other),
            tuple_(other.c.role, other.c.position) < tuple_(loras.c.role, loras.c.position),
        )
        dates = [
            date_condition(n, loras.c.generated_at, self.dialect)
            for n in rest
            if isinstance(n, DateRange)
        ]
        condition = and_(
            lora_condition(driver, self.dialect),
            not_(earlier),
            *dates,
            self.where(rest, probe_text=True),
        )
        joined = loras.join(frames, f.id == loras.c.frame_id)
        return joined, condition


def _equality(nodes: list[Node], field: str) -> Node | None:
    for node in nodes:
        if isinstance(node, Match) and node.field == field and not node.is_glob:
            return node
        if isinstance(node, Compare) and node.field == field and node.op == "=":
            return node
    return None


def search_statement(
    conn: Connection,
    node: Node,
    *,
    sort: str = "newest",
    limit: int | None = None,
    query: str | None = None,
    after: Sequence[Any] | None = None,
) -> Plan:
    """The SELECT of frame columns for a search, with the access path chosen for it.

    ``after`` (a page cursor's values, see keyset.py) keeps only the frames
    that come after them in the sort's order.

    Raises:
        QueryError: unknown sort key, or a field the catalogue cannot answer.
    """
    orders = order_by(sort)
    b = _Builder(conn, query)
    nodes = _conjuncts(node)
    base = select(*FRAME_SELECT_COLUMNS)
    words = [n for n in nodes if isinstance(n, TextTerm) and _is_word(n)]
    if sort == "relevance" and words:
        return _relevance_plan(b, nodes, words, limit, after)
    if sort == "relevance":
        orders = order_by("newest")
        sort = "newest"
    keys = SORT_KEYS[sort]
    if after is not None:
        b.after = after_condition(keys, list(after), b.dialect)
    is_time = sort in _TIME_SORTS
    if _equality(nodes, "seed") is not None:  # a handful of frames on ix_frames_seed_key
        return Plan(
            "filter",
            base.select_from(frames).where(b.where(nodes)).order_by(*orders).limit(limit),
            keys,
        )
    if not is_time:
        return _chosen(b, nodes, sort, limit, keys)
    # fts-recent orders its candidates in SQL of its own: a later page takes
    # the other plans (fts-set's covering-index sort takes the cursor too).
    if b.dialect == "sqlite" and words and limit and len(words) == len(nodes) and after is None:
        recent = fts_plans.recent_ids(conn, words, limit, sort)
        if recent is not None:
            return Plan(
                "fts-recent",
                base.select_from(frames).where(f.id.in_(recent)).order_by(*orders).limit(limit),
                keys,
            )
    if b.dialect == "sqlite" and words and limit:
        if fts_plans.is_set_cheaper(conn, words, limit):
            if len(words) == len(nodes):  # words only: sort candidates on a covering index
                newest = fts_plans.newest_matching(words, limit, sort, after)
                return Plan(
                    "fts-set",
                    base.select_from(frames).where(f.id.in_(newest)).order_by(*orders).limit(limit),
                    keys,
                )
            return Plan(
                "fts-set",
                base.select_from(frames).where(b.where(nodes)).order_by(*orders).limit(limit),
                keys,
            )
    driver = b.lora_driver(nodes)
    if driver is not None:
        rest = [n for n in nodes if n is not driver]
        if after is not None:  # the same times and ids, on the LoRA index being walked
            lora_keys = (
                KeyTerm(loras.c.generated_at, keys[0].is_descending, "time"),
                KeyTerm(loras.c.frame_id, keys[1].is_descending, "int"),
            )
            b.after = after_condition(lora_keys, list(after), b.dialect)
        joined, condition = b.lora_from(driver, rest)
        direction = "desc" if sort == "newest" else "asc"
        lora_order = [
            getattr(loras.c.generated_at, direction)(),
            getattr(loras.c.frame_id, direction)(),
        ]
        return Plan(
            "lora",
            base.select_from(joined).where(condition).order_by(*lora_order).limit(limit),
            keys,
        )
    for field in ("model", "project"):
        if _equality(nodes, field) is not None:
            return Plan(
                field,
                base.select_from(frames)
                .where(b.where(nodes, probe_text=bool(limit)))
                .order_by(*orders)
                .limit(limit),
                keys,
            )
    return _chosen(b, nodes, sort, limit, keys)


def _chosen(
    b: _Builder, nodes: list[Node], sort: str, limit: int | None, keys: tuple[KeyTerm, ...]
) -> Plan:
    """The walk of the sort's index, the smallest term's set or a scan, whichever is
    cheapest (walk.py); a walk newest/oldest first keeps its old name, ``time``."""
    choice = walk.choose(b.conn, b.compiler, b.prober, nodes, sort, limit, b.after)
    name = "time" if choice.name == "walk" and sort in _TIME_SORTS else choice.name
    orders = order_by(sort)
    columns: Any = FRAME_SELECT_COLUMNS
    if limit is not None and choice.name in ("set", "setwalk", "scan"):
        # Only ids go through the sort: SQLite reads every selected column of each
        # candidate before sorting, and the sidecar text is most of a frame's bytes.
        first = (
            select(f.id)
            .select_from(frames)
            .where(b.after, choice.condition)
            .order_by(*choice.orders(sort))
            .limit(limit)
            .correlate(None)
        )
        statement = (
            select(*columns)
            .select_from(frames)
            .where(f.id.in_(walk.ordered(first, choice, b.dialect)))
            .order_by(*orders)
            .limit(limit)
        )
        return Plan(name, walk.ordered(statement, walk.BY_ID, b.dialect), keys)
    statement = (
        select(*columns)
        .select_from(frames)
        .where(b.after, choice.condition)
        .order_by(*choice.orders(sort))
        .limit(limit)
    )
    return Plan(name, walk.ordered(statement, choice, b.dialect), keys)


def _relevance_plan(
    b: _Builder, nodes: list[Node], words: list[TextTerm], limit: int | None, after: Any
) -> Plan:
    """Best matches first (then newest); the rank is the page key's first term.

    Only the newest ``RELEVANCE_CANDIDATES`` matches (by frame id) are ranked:
    ranking every match of a word in 70% of a million prompts took 1.5 s for
    50 results.  Below the cap the ranking is over every match.
    """
    edge = _relevance_edge(b, words)
    others = [n for n in nodes if n not in words]  # the ranked set already holds the words
    if b.dialect == "sqlite":
        # FTS5 ranks the candidates in one pass; a correlated rank per frame would
        # cost a probe (~50 us) per match.  FTS5's rank is better when lower.
        matching: list[ColumnElement[bool]] = [
            literal_column("frames_fts").op("MATCH")(all_words(words))
        ]
        if edge is not None:
            matching.append(fts.c.rowid >= edge)
        ranked = select(fts.c.rowid, fts.c.rank).where(*matching).subquery()
        source: Any = frames.join(ranked, ranked.c.rowid == f.id)
        rank = KeyTerm(ranked.c.rank, False, "float")
        condition = walk.checks(b.conn, b.compiler, b.prober, others, RELEVANCE_CANDIDATES)
    else:
        source = frames
        rank = KeyTerm(pg_relevance(words), True, "float")
        condition = and_(b.where(nodes), true() if edge is None else f.id >= edge)
    keys = (rank, *SORT_KEYS["newest"])
    if after is not None:
        b.after = after_condition(keys, list(after), b.dialect)
        condition = and_(b.after, condition)
    order = rank.expression.desc() if rank.is_descending else rank.expression.asc()
    return Plan(
        "relevance",
        select(*FRAME_SELECT_COLUMNS)
        .select_from(source)
        .where(condition)
        .order_by(order, *order_by("newest"))
        .limit(limit),
        keys,
    )


def _relevance_edge(b: _Builder, words: list[TextTerm]) -> int | None:
    """The lowest frame id among the newest ``RELEVANCE_CANDIDATES`` matches of
    ``words``, or None when there are no more matches than that."""
    if b.dialect == "sqlite":
        matching = select(fts.c.rowid).where(
            literal_column("frames_fts").op("MATCH")(all_words(words))
        )
        column: Any = fts.c.rowid
    else:
        matching = select(f.id).where(b.compiler.compile_all(list(words)))
        column = f.id
    edge = b.conn.execute(
        matching.order_by(column.desc()).offset(RELEVANCE_CANDIDATES).limit(1)
    ).scalar()
    return None if edge is None else int(edge) + 1
