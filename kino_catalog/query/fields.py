"""Field names a query uses that no frame has, with the known name a user probably meant.

A query may name any ``parameters`` key (``num_frames:81``), so a typo
(``lroa:add_detail``) is a valid query matching nothing.  The answer stays
the same (a script asking for a key that may appear later must not break);
these warnings only say why it is empty.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from sqlalchemy import exists, select, text

from kino_catalog.query.ast import (
    FIELD_ALIASES,
    FIELD_KINDS,
    And,
    Compare,
    Match,
    Node,
    Not,
    Or,
    Range,
)
from kino_catalog.schema import parameters_table

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Connection

__all__ = ["parameter_keys", "query_fields", "unknown_field_warnings"]

_p = parameters_table.c
#: Enough distinct keys for suggestions; a catalogue with more is not made of typos.
MAX_KEYS = 5000
# A loose index scan: one index probe per distinct key (ix_parameters_key_num),
# instead of a DISTINCT over a row per frame and key. Same SQL on both databases.
_DISTINCT_KEYS = text(
    "WITH RECURSIVE k(key) AS ("
    " SELECT min(key) FROM parameters"
    " UNION ALL"
    " SELECT (SELECT min(key) FROM parameters WHERE key > k.key) FROM k WHERE k.key IS NOT NULL"
    f") SELECT key FROM k WHERE key IS NOT NULL LIMIT {MAX_KEYS}"
)


def query_fields(node: Node) -> Iterator[str]:
    """The ``parameters`` keys a query names (fields without a column of their own)."""
    if isinstance(node, (Match, Compare, Range)):
        if node.field not in FIELD_KINDS:
            yield node.field
    elif isinstance(node, Not):
        yield from query_fields(node.node)
    elif isinstance(node, (And, Or)):
        for child in node.nodes:
            yield from query_fields(child)


def parameter_keys(conn: Connection) -> list[str]:
    """Every distinct ``parameters`` key in the catalogue (at most MAX_KEYS), sorted."""
    return [str(key) for key in conn.execute(_DISTINCT_KEYS).scalars()]


def unknown_field_warnings(conn: Connection, node: Node) -> list[str]:
    """One line per field the query names that no frame has, with the nearest known field.

    ``["no frame has 'lroa'; did you mean lora:?"]``; empty when every field
    is known (the common case costs one indexed probe per generic field).
    """
    names = list(dict.fromkeys(query_fields(node)))
    missing = [
        name for name in names if not conn.execute(select(exists().where(_p.key == name))).scalar()
    ]
    if not missing:
        return []
    known = sorted({*FIELD_KINDS, *FIELD_ALIASES, *parameter_keys(conn)})
    warnings = []
    for name in missing:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}:?" if close else ""
        warnings.append(f"no frame has {name!r}{hint}")
    return warnings
