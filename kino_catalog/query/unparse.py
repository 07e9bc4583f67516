"""Query AST -> query string: the inverse of ``parse_query`` (round trips in the tests)."""

from __future__ import annotations

import datetime as dt

from kino_catalog.query.ast import (
    FIELD_KINDS,
    All,
    And,
    Compare,
    DateRange,
    LoraTerm,
    Match,
    Node,
    Not,
    Or,
    Range,
    TextTerm,
)
from kino_catalog.query.parse import BARE_VALUE_RE, NUMERIC_VALUE_RE

__all__ = ["unparse"]

_DAY = dt.timedelta(days=1)


def unparse(node: Node) -> str:
    """Turn an AST back into a query string that parses to an equal AST.

    ``unparse(Or((And((TextTerm("a"), TextTerm("b"))), TextTerm("c"))))`` gives ``a b OR c``.
    Dates lose microseconds. Raises ``ValueError`` for a node no query can
    express (``All()`` inside another node, ``DateRange(None, None)``).
    """
    return "" if isinstance(node, All) else _unparse(node)


def _unparse(node: Node) -> str:
    match node:
        case And(nodes):
            return " ".join(f"({_unparse(n)})" if isinstance(n, Or) else _unparse(n) for n in nodes)
        case Or(nodes):
            return " OR ".join(_unparse(n) for n in nodes)
        case Not(child):
            inner = _unparse(child)
            return f"-({inner})" if isinstance(child, And | Or) else f"-{inner}"
        case TextTerm(value, field, is_phrase, is_prefix):
            body = _quote(value) if is_phrase else value
            return ("" if field == "prompt" else f"{field}:") + body + ("*" if is_prefix else "")
        case Match(field, value, _):
            is_generic = field not in FIELD_KINDS
            return f"{field}:{_unparse_value(value, is_generic=is_generic)}"
        case LoraTerm(name, _, low, high):
            strength = (
                ""
                if low is None and high is None
                else (
                    f"@{_unparse_number(low)}"
                    if low == high
                    else f"@{_unparse_number(low)}..{_unparse_number(high)}"
                )
            )
            return f"lora:{_unparse_value(name)}{strength}"
        case Compare(field, op, value):
            return f"{field}:{'' if op == '=' else op}{_unparse_number(value)}"
        case Range(field, low, high):
            return f"{field}:{_unparse_number(low)}..{_unparse_number(high)}"
        case DateRange(low, high) if low is not None or high is not None:
            if high is None:
                return f"date:>={_unparse_date(low)}"
            if low is None:
                return f"date:<{_unparse_date(high)}"
            return f"date:{_unparse_date(low)}..{_unparse_date(high, is_end=True)}"
    raise ValueError(f"no query string parses to {node!r}")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unparse_value(value: str, *, is_generic: bool = False) -> str:
    is_bare = BARE_VALUE_RE.match(value) and not (is_generic and NUMERIC_VALUE_RE.match(value))
    return value if is_bare else _quote(value)


def _unparse_number(number: float | None) -> str:
    return "" if number is None else repr(number)


def _unparse_date(moment: dt.datetime | None, *, is_end: bool = False) -> str:
    """A bound as a day or a second; an inclusive range end names the last one."""
    assert moment is not None  # the caller's match guard
    if moment.time() == dt.time():
        return (moment - _DAY if is_end else moment).date().isoformat()
    return (moment - dt.timedelta(seconds=1) if is_end else moment).isoformat(timespec="seconds")
