"""The full-text plans of a newest/oldest-first search on SQLite: fts-recent and fts-set.

A word's matches come from FTS5 in frame-id order, not in time order, so
``plan.py`` has three ways to the first ``limit`` of them by time: walk the
time index probing FTS5 per frame (``time``), fetch every match and sort it
on a covering index (``fts-set``), or take the matches with the newest ids
and check the few frames that can beat them (``fts-recent``).  This module
holds what the last two need beyond a condition: the cost model that picks
between the set and the walk (measured probe and row costs), and the id
lists themselves, written as text for the index hints SQLAlchemy cannot
express on SQLite (``INDEXED BY``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sqlalchemy import column, text

from kino_catalog.query.sets import all_words, capped_count, words_set
from kino_catalog.query.walk import last_id

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.engine import Connection

    from kino_catalog.query.ast import TextTerm

__all__ = ["is_set_cheaper", "newest_matching", "recent_ids"]

_PROBE_US = 50.0  # see is_set_cheaper
_SET_US_PER_ROW = 1.2
# fts-recent (see recent_ids), per result asked for: candidates taken from the end
# of FTS5's id order, and time-index entries walked at most.
_RECENT_CANDIDATES = 4
_RECENT_WALK = 400
_INTERSECT_US = 0.25  # one FTS5 match read into an IN set (see _stray_cost)


def _fts_matches(conn: Connection, words: list[TextTerm], cap: int) -> int:
    """How many frames match all ``words``, counting no further than ``cap``.

    Counting stops early, so a word in 70% of a million prompts costs a few
    ms to rule out, where FTS5's vocabulary table would walk its whole list.
    """
    return capped_count(conn, words_set(words), cap)


def is_set_cheaper(conn: Connection, words: list[TextTerm], limit: int) -> bool:
    """Whether fetching every match beats walking the time index and probing each frame.

    Measured on this design (SQLite 3.40, warm cache): one FTS5 probe costs
    about 50 us, one candidate fetched and sorted through
    ``ix_frames_id_generated_at`` about 1.2 us.  The walk visits about
    ``limit * frames / matches`` frames before it has ``limit`` matches, so
    the set wins below ``sqrt(limit * frames * 50 / 1.2)`` matches (~46,000
    for 50 of a million frames); matches are counted only up to that.
    """
    frames_total = last_id(conn)
    break_even = math.isqrt(int(limit * frames_total * _PROBE_US / _SET_US_PER_ROW)) + 1
    matches = _fts_matches(conn, words, break_even)
    set_us, time_us = _set_and_time_us(matches, frames_total, limit)
    return matches < break_even and set_us <= time_us


def _set_and_time_us(matches: float, frames: int, limit: int) -> tuple[float, float]:
    """Estimated cost (us) of fts-set (fetch and sort every match) and of time (probe
    frames newest first until ``limit`` match, about ``limit * frames / matches``)."""
    return matches * _SET_US_PER_ROW, limit * frames / max(matches, 1) * _PROBE_US


def recent_ids(conn: Connection, words: list[TextTerm], limit: int, sort: str) -> list[int] | None:
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
    is_probed, cost = _stray_cost(ids, stray_count, last_id(conn), limit, newest=newest)
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
    us each) and what fts-set and time would cost (see is_set_cheaper).
    """
    share = len(ids) / (max(ids) - min(ids) + 1)
    beyond = share * (min(ids) - 1 if newest else last_id - max(ids))
    probe_us, intersect_us = strays * _PROBE_US, beyond * _INTERSECT_US
    other_us = min(_set_and_time_us(share * last_id, last_id, limit))
    cost = min(probe_us, intersect_us)
    return probe_us <= intersect_us, (cost if cost < other_us else None)


def newest_matching(
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
