"""Keyset pagination: opaque cursors and the "after this frame" condition for every sort.

A page is "the first ``limit`` frames after the last one shown", where *after*
follows the search's own ORDER BY (``query.order_by``: the sort column, frames
without it last, ties by id).  The cursor carries the last frame's sort values
exactly as stored, so the next page starts right after it however many frames
were added or removed meanwhile: a frame can never appear twice, and a frame
that was there all along is never skipped.  OFFSET would do neither, and it
reads every skipped row (slow deep in a million frames).

The cursor is opaque to clients (base64url of a JSON list) but not secret:
decoding checks its shape and types, and its values reach SQL only as bound
parameters.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, and_, bindparam, false, or_, true, type_coerce

from kino_catalog.errors import QueryError
from kino_catalog.schema import frames_table

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

__all__ = [
    "CURSOR_VERSION",
    "SORT_KEYS",
    "KeyTerm",
    "after_condition",
    "decode_cursor",
    "encode_cursor",
    "key_columns",
]

CURSOR_VERSION = 1
f = frames_table.c


@dataclass(frozen=True)
class KeyTerm:
    """One ORDER BY term of a sort: its expression, direction, and whether it may be NULL.

    ``kind`` says how its value travels in a cursor: ``time`` (SQLite's stored
    text, or an ISO datetime on PostgreSQL), ``text``, ``int`` or ``float``.
    NULLs sort last (``query.order_by`` puts ``column IS NULL`` first).
    """

    expression: Any
    is_descending: bool
    kind: str
    is_nullable: bool = False


#: The key terms of each sort, matching ``query.order_by`` term for term.
SORT_KEYS: dict[str, tuple[KeyTerm, ...]] = {
    "newest": (KeyTerm(f.generated_at, True, "time"), KeyTerm(f.id, True, "int")),
    "oldest": (KeyTerm(f.generated_at, False, "time"), KeyTerm(f.id, False, "int")),
    "seed": (KeyTerm(f.seed_key, False, "text", True), KeyTerm(f.id, False, "int")),
    "steps": (KeyTerm(f.steps, False, "int", True), KeyTerm(f.id, False, "int")),
    "cfg": (KeyTerm(f.cfg_scale, False, "float", True), KeyTerm(f.id, False, "int")),
    "model": (
        KeyTerm(f.model_key, False, "text", True),
        KeyTerm(f.generated_at, True, "time"),
        KeyTerm(f.id, True, "int"),
    ),
}


def encode_cursor(sort: str, values: list[Any]) -> str:
    """The opaque cursor for the frame whose sort values are ``values`` (id last)."""
    plain = [
        value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value for value in values
    ]
    data = json.dumps([CURSOR_VERSION, sort, *plain], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list[Any]:
    """The sort values a cursor carries (checked against the sort's terms when used).

    Raises:
        QueryError: not a cursor of this sort (damaged, or made for another sort).
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise _bad(cursor) from exc
    if not isinstance(data, list) or len(data) < 3 or data[0] != CURSOR_VERSION:
        raise _bad(cursor)
    if data[1] != sort:
        raise _bad(cursor, f"made for sort {data[1]!r}, not {sort!r}")
    return data[2:]


def _bad(cursor: Any, why: str = "not a cursor this server made") -> QueryError:
    return QueryError(str(cursor), f"bad cursor: {why}", term="cursor")


_KIND_TYPES: dict[str, tuple[type, ...]] = {
    "time": (str,),
    "text": (str,),
    "int": (int,),
    "float": (int, float),
}


def _check(terms: tuple[KeyTerm, ...], values: list[Any]) -> None:
    if len(values) != len(terms):
        raise _bad(values)
    for term, value in zip(terms, values, strict=True):
        if value is None and term.is_nullable:
            continue
        if not isinstance(value, _KIND_TYPES[term.kind]) or isinstance(value, bool):
            raise _bad(values)


def key_columns(terms: tuple[KeyTerm, ...], dialect: str) -> list[Any]:
    """The terms as extra SELECT columns, so a page's last row yields its cursor values.

    On SQLite a time comes back as the stored text: bound back unchanged it
    compares equal to itself, whichever spelling (with or without a fraction
    of a second) the row was written with.
    """
    return [
        (
            type_coerce(term.expression, String)
            if term.kind == "time" and dialect == "sqlite"
            else term.expression
        ).label(f"_key{i}")
        for i, term in enumerate(terms)
    ]


def _bound(term: KeyTerm, value: Any, dialect: str) -> Any:
    """``value`` bound for a comparison with ``term`` exactly as the database stores it."""
    if term.kind == "time":
        if dialect == "sqlite":  # the stored text, so equal times compare equal
            return bindparam(None, value, type_=String)
        try:
            return bindparam(
                None, dt.datetime.fromisoformat(value), type_=frames_table.c.generated_at.type
            )
        except ValueError as exc:
            raise _bad(value, "not a time") from exc
    return bindparam(None, value, type_=term.expression.type)


def after_condition(
    terms: tuple[KeyTerm, ...], values: list[Any], dialect: str
) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order of ``terms`` (NULLs last).

    Lexicographic: after on the first term, or equal on it and after on the
    next, and so on; the last term (an id) is unique, so no row is "equal".
    A leading non-NULL term also gets a plain range bound, which lets the
    database seek its index instead of filtering from the start.

    Raises:
        QueryError: ``values`` do not fit ``terms`` (a cursor of another query).
    """
    _check(terms, values)
    alternatives: list[ColumnElement[bool]] = []
    equal: list[ColumnElement[bool]] = []
    for term, value in zip(terms, values, strict=True):
        column = term.expression
        if value is None:  # in the NULL group: nothing sorts after within this term
            equal.append(column.is_(None))
            continue
        bound = _bound(term, value, dialect)
        later = column < bound if term.is_descending else column > bound
        if term.is_nullable:
            later = or_(later, column.is_(None))
        alternatives.append(and_(true(), *equal, later))
        equal.append(column == bound)
    condition = or_(false(), *alternatives)
    first, value = terms[0], values[0]
    if value is not None and not first.is_nullable:
        bound = _bound(first, value, dialect)
        seek = first.expression <= bound if first.is_descending else first.expression >= bound
        condition = and_(seek, condition)
    return condition
