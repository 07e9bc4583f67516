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
start from that no sort can use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    and_,
    column,
    exists,
    func,
    literal_column,
    not_,
    select,
    text,
    true,
    tuple_,
)

from kino_catalog.query import walk
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
_PROBE_US = 50.0  # see _is_set_cheaper
_SET_US_PER_ROW = 1.2
_TIME_SORTS = ("newest", "oldest")
# fts-recent (see _recent_ids), per result asked for: candidates taken from the end
# of FTS5's id order, and time-index entries walked at most.
_RECENT_CANDIDATES = 4
_RECENT_WALK = 400
_INTERSECT_US = 0.25  # one FTS5 match read into an IN set (see _stray_cost)
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


def _fts_matches(conn: Connection, words: list[TextTerm], cap: int) -> int:
    """How many frames match all ``words``, counting no further than ``cap``.

    Counting stops early, so a word in 70% of a million prompts costs a few
    ms to rule out, where FTS5's vocabulary table would walk its whole list.
    """
    matching = (
        select(fts.c.rowid)
        .where(literal_column("frames_fts").op("MATCH")(all_words(words)))
        .limit(cap)
    )
    return int(conn.execute(select(func.count()).select_from(matching.subquery())).scalar_one())


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
        recent = _recent_ids(conn, words, limit, sort)
        if recent is not None:
            return Plan(
                "fts-recent",
                base.select_from(frames).where(f.id.in_(recent)).order_by(*orders).limit(limit),
                keys,
            )
    if b.dialect == "sqlite" and words and limit:
        if _is_set_cheaper(conn, words, limit):
            if len(words) == len(nodes):  # words only: sort candidates on a covering index
                newest = _newest_matching(words, limit, sort, after)
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


def _is_set_cheaper(conn: Connection, words: list[TextTerm], limit: int) -> bool:
    """Whether fetching every match beats walking the time index and probing each frame.

    Measured on this design (SQLite 3.40, warm cache): one FTS5 probe costs
    about 50 us, one candidate fetched and sorted through
    ``ix_frames_id_generated_at`` about 1.2 us.  The walk visits about
    ``limit * frames / matches`` frames before it has ``limit`` matches, so
    the set wins below ``sqrt(limit * frames * 50 / 1.2)`` matches (~46,000
    for 50 of a million frames); matches are counted only up to that.
    """
    frames_total = walk.last_id(conn)
    break_even = math.isqrt(int(limit * frames_total * _PROBE_US / _SET_US_PER_ROW)) + 1
    matches = _fts_matches(conn, words, break_even)
    set_us, time_us = _set_and_time_us(matches, frames_total, limit)
    return matches < break_even and set_us <= time_us


def _set_and_time_us(matches: float, frames: int, limit: int) -> tuple[float, float]:
    """Estimated cost (us) of fts-set (fetch and sort every match) and of time (probe
    frames newest first until ``limit`` match, about ``limit * frames / matches``)."""
    return matches * _SET_US_PER_ROW, limit * frames / max(matches, 1) * _PROBE_US


def _recent_ids(conn: Connection, words: list[TextTerm], limit: int, sort: str) -> list[int] | None:
    """Ids holding the first ``limit`` matches of ``words`` by time, or None if that is costly.

    Exact for any id order; cheap when ids mostly follow generation time (a
    rebuild numbers frames in time order, later syncs append newer ones).
    FTS5 hands back matches from the end of the id order without sorting, so
    take the ``K = 4 * limit`` newest-id matches C; if FTS5 had fewer, C is
    every match.  Otherwise let (T, i) be the ``limit``-th of C by time.  A
    match outside C has an id beyond C's (every match inside C's id range is
    in C), so it loses to (T, i) unless its time is strictly newer than T:
    the only other frames to check ("strays", e.g. frames regenerated in
    place) are those newer than T with ids beyond C's, found on
    ``ix_frames_generated_at``.  Oldest-first is the mirror image.  The times
    compared are the stored values, bound back unchanged.

    When ids follow time the walk is about ``limit / share of prompts with
    the words`` index entries; past ``400 * limit`` (a word in under 0.25%
    of prompts, which fts-set sorts cheaply, or ids unrelated to time) this
    gives up, as it does when checking the strays would cost more than the
    other plans (see _stray_cost).
    """
    newest = sort == "newest"
    way, past, beyond = ("DESC", ">", "<") if newest else ("ASC", "<", ">")
    matching = "SELECT rowid FROM frames_fts WHERE frames_fts MATCH :words"
    candidates_max = limit * _RECENT_CANDIDATES
    candidates = conn.execute(
        text(
            "SELECT id, generated_at FROM frames INDEXED BY ix_frames_id_generated_at WHERE id IN "
            f"({matching} ORDER BY rowid {way} LIMIT :k) ORDER BY generated_at {way}, id {way}"
        ),
        {"words": all_words(words), "k": candidates_max},
    ).all()
    first = [int(row[0]) for row in candidates[:limit]]
    if len(candidates) < candidates_max:
        return first
    ids = [int(row[0]) for row in candidates]
    edge = {
        "words": all_words(words),
        "edge_time": candidates[limit - 1][1],
        "edge_id": min(ids) if newest else max(ids),
    }
    strays = f"FROM frames INDEXED BY ix_frames_generated_at WHERE generated_at {past} :edge_time"
    walked, stray_count = conn.execute(
        text(
            f"SELECT count(*), count(CASE WHEN id {beyond} :edge_id THEN 1 END) FROM "
            f"(SELECT id {strays} LIMIT :walk)"
        ),
        {**edge, "walk": limit * _RECENT_WALK},
    ).one()
    if walked >= limit * _RECENT_WALK:
        return None
    if not stray_count:
        return first
    is_probed, cost = _stray_cost(ids, stray_count, walk.last_id(conn), limit, newest=newest)
    if cost is None:
        return None
    check = (
        "EXISTS (SELECT 1 FROM frames_fts WHERE frames_fts MATCH :words AND rowid = frames.id)"
        if is_probed
        else f"id IN ({matching} AND rowid {beyond} :edge_id)"
    )
    found = conn.execute(text(f"SELECT id {strays} AND id {beyond} :edge_id AND {check}"), edge)
    return first + [int(i) for i in found.scalars()]


def _stray_cost(
    ids: list[int], strays: int, last_id: int, limit: int, *, newest: bool
) -> tuple[bool, float | None]:
    """How to check the strays (probe each, or intersect) and its cost in us; None if too dear.

    The candidates' id span gives the words' share of frames, hence how many
    matches lie beyond the candidates (an intersection reads them all, ~0.25
    us each) and what fts-set and time would cost (see _is_set_cheaper).
    """
    share = len(ids) / (max(ids) - min(ids) + 1)
    beyond = share * (min(ids) - 1 if newest else last_id - max(ids))
    probe_us, intersect_us = strays * _PROBE_US, beyond * _INTERSECT_US
    other_us = min(_set_and_time_us(share * last_id, last_id, limit))
    cost = min(probe_us, intersect_us)
    return probe_us <= intersect_us, (cost if cost < other_us else None)


def _newest_matching(
    words: list[TextTerm], limit: int, sort: str, after: Sequence[Any] | None = None
) -> Any:
    """Ids of the first ``limit`` frames (by time) whose text matches all ``words``.

    ``after`` (a page cursor's stored time and id) starts after that frame.
    Written as text only for the index hint SQLAlchemy cannot express on
    SQLite: without it SQLite fetches each candidate's whole row (prompt and
    JSON, often on overflow pages) just to read its time.  Values stay bound.
    """
    direction = "DESC" if sort == "newest" else "ASC"
    params: dict[str, Any] = {"limit": limit, "words": all_words(words)}
    keyset = ""
    if after is not None:  # checked by after_condition already: (stored time, id)
        keyset = f"AND (generated_at, id) {'<' if sort == 'newest' else '>'} (:time, :id) "
        params.update(time=after[0], id=after[1])
    return (
        text(
            "SELECT id FROM frames INDEXED BY ix_frames_id_generated_at WHERE id IN "
            f"(SELECT rowid FROM frames_fts WHERE frames_fts MATCH :words) {keyset}"
            f"ORDER BY generated_at {direction}, id {direction} LIMIT :limit"
        )
        .bindparams(**params)
        .columns(column("id"))
    )
