"""Conditions on one column: globs, names, numbers and times, never NULL.

The compiler (``sql.py``) builds every leaf term from these, and the plans
and term sets (``plan.py``, ``sets.py``) apply the LoRA and date ones to
other rows than ``frames``' (``loras``, an alias of it, its copy of the
generation time), so each takes the column or rows it tests.  What they
share: a condition on a value that may be missing is false there, never
NULL (``defined``), so a negated term keeps those frames; a glob becomes an
escaped LIKE plus, on SQLite, a range on its literal prefix that an index
can seek; names compare case-insensitively in ASCII only, like SQLite's
lower(); and a time bound is written as SQLite stores times.
"""

from __future__ import annotations

import re
import string
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, func
from sqlalchemy.types import Text as TextType

from kino_catalog.schema import loras_table
from kino_catalog.sidecar.record import MODEL_EXTENSIONS, normalise_name

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy import ColumnElement

    from kino_catalog.query.ast import DateRange, LoraTerm

__all__ = [
    "ascii_lower",
    "compare",
    "date_condition",
    "defined",
    "glob_match",
    "is_written_glob",
    "like_pattern",
    "lora_condition",
    "name_match",
]

loras = loras_table


def like_pattern(glob: str) -> str:
    """Translate a ``*``/``?`` glob to a LIKE pattern with ``\\`` as escape."""
    escaped = glob.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _literal_prefix(glob: str) -> str:
    """The part of a glob before its first wildcard (lets a range use an index)."""
    return re.split(r"[*?]", glob, maxsplit=1)[0]


def glob_match(column: Any, glob: str, dialect: str) -> ColumnElement[bool]:
    """``column`` matches ``glob`` exactly (case as given), index-friendly on a prefix."""
    condition: ColumnElement[bool] = column.like(like_pattern(glob), escape="\\")
    prefix = _literal_prefix(glob)
    if prefix and dialect == "sqlite":  # byte order; a PostgreSQL collation may differ
        # LIKE is case-insensitive on SQLite and so cannot use an index; the
        # range can, and both sides are already case-folded.
        condition = and_(column >= prefix, column < prefix + "\U0010ffff", condition)
    return condition


def ascii_lower(value: str) -> str:
    """Lower-case like SQLite's lower(): ASCII letters only."""
    return value.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def defined(column: Any, condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """``condition``, false (not NULL) where ``column`` has no value."""
    return and_(column.is_not(None), condition)


def compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    ops = {
        "=": column.__eq__,
        ">": column.__gt__,
        ">=": column.__ge__,
        "<": column.__lt__,
        "<=": column.__le__,
    }
    return defined(column, ops[op](value))


def name_match(column: Any, value: str, is_glob: bool) -> ColumnElement[bool]:
    """Case-insensitive (ASCII) equality or glob on a free-text name column."""
    lowered = func.lower(column)
    wanted = ascii_lower(value)
    if is_glob:
        return defined(column, lowered.like(like_pattern(wanted), escape="\\"))
    return defined(column, lowered == wanted)


def is_written_glob(glob: str) -> bool:
    """A glob naming a folder or a weights extension (``*.ckpt``, ``loras/*``).

    Normalising it would leave ``*``, so it matches the name as written instead.
    """
    lowered = glob.lower()
    return "/" in glob or "\\" in glob or lowered.endswith(MODEL_EXTENSIONS)


def lora_condition(node: LoraTerm, dialect: str, rows: Any = loras) -> ColumnElement[bool]:
    """The condition on one ``loras`` row (or an alias of it) for a LoRA term."""
    key = normalise_name(node.name)
    if not node.is_glob:
        condition = rows.c.key == key
    elif is_written_glob(node.name):
        condition = name_match(rows.c.name, node.name, True)
    else:
        condition = glob_match(rows.c.key, key, dialect)
    conditions = [condition]
    if node.strength_min is not None:
        conditions.append(compare(rows.c.strength_model, ">=", node.strength_min))
    if node.strength_max is not None:
        conditions.append(compare(rows.c.strength_model, "<=", node.strength_max))
    return and_(*conditions)


def date_condition(node: DateRange, column: Any, dialect: str) -> ColumnElement[bool]:
    """Generation time in ``[low, high)`` on ``column`` (frames' or loras' copy)."""
    conditions = [column.is_not(None)]
    if node.low is not None:
        conditions.append(column >= _moment(node.low, dialect))
    if node.high is not None:
        conditions.append(column < _moment(node.high, dialect))
    return and_(*conditions)


def _moment(value: dt.datetime, dialect: str) -> Any:
    # SQLite keeps times as text; whole seconds may be stored without a
    # fraction ("...:30") or with one ("...:30.000000").  A bound written
    # without a fraction orders correctly against both spellings, whereas
    # SQLAlchemy's own "....000000" would miss a frame exactly at the bound.
    if dialect != "sqlite":
        return value
    return bindparam(None, value.isoformat(" "), type_=TextType)
