"""Prompt text as words: how both dialects split, match and rank it the same way.

SQLite answers words from the FTS5 table ``frames_fts`` (unicode61 tokenizer);
PostgreSQL from GIN indexes on a ``tsvector`` expression (migration 0002).
Their tokenizers differ, so this module makes them agree: ``text_tokens`` is
unicode61's idea of a word, and PostgreSQL's text first loses its ASCII
punctuation.  The expressions here must stay the same text as the indexes'
(``pg_vector``, ``unspaced``), or the database will not use them.  Scripts
written without spaces (CJK, Thai) and terms with no word at all match as
substrings instead (``needs_substring``).  ``sql.py`` builds the conditions
from these pieces; the plans and the term sets read FTS5 through ``fts``.
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import TYPE_CHECKING, Any

from sqlalchemy import Double, bindparam, cast, column, func, literal_column, table
from sqlalchemy.types import LargeBinary

from kino_catalog.schema import frames_table
from kino_catalog.schema.models import UNSPACED_PATTERN, UNSPACED_RANGES

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

    from kino_catalog.query.ast import TextTerm

__all__ = [
    "FTS_COLUMNS",
    "fts",
    "fts_phrase",
    "is_unspaced",
    "needs_substring",
    "pg_relevance",
    "pg_tsquery",
    "pg_vector",
    "text_tokens",
    "unspaced",
]

f = frames_table.c
# The FTS5 table exists only in the migrations (it is SQLite-only).
fts = table("frames_fts", column("rowid"), column("rank"))
FTS_COLUMNS = {"prompt": "prompt", "neg": "negative_prompt"}

# PostgreSQL's text-search parser knows e-mails, URLs, hyphenated words and
# version numbers; turning ASCII punctuation into spaces first makes it split
# words where SQLite's unicode61 tokenizer does, so both dialects agree.
_PUNCTUATION = string.punctuation
_PG_SPACES = " " * len(_PUNCTUATION)
# Scripts written without spaces between words: a word index cannot find
# "東京" inside "東京の夜", so such terms match as substrings (see needs_substring).
_UNSPACED = re.compile("[" + UNSPACED_RANGES + "]")


def text_tokens(value: str) -> list[str]:
    """The words of ``value`` as the full-text index sees them (like FTS5 unicode61).

    Letters, digits and private-use characters make words; everything else
    (``(``, ``:``, ``,``, ``_``, ``-``, spaces, emoji) separates them.  Words
    are case-folded and lose their diacritics: ``(Café_noir:1.2)`` gives
    ``cafe noir 1 2``.
    """
    words, current = [], []
    for char in value:
        category = unicodedata.category(char)
        if category[0] in "LN" or category == "Co":
            current.append(char)
        elif category == "Mn" and current:
            continue  # a combining accent stays inside its word
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return [_fold(word) for word in words]


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def is_unspaced(value: str) -> bool:
    """Whether ``value`` holds a character of a script written without spaces."""
    return bool(_UNSPACED.search(value))


def needs_substring(value: str) -> bool:
    """Whether a text term matches as a substring rather than as words.

    True for CJK/Thai (no spaces between words) and for terms with no word at
    all (``🌸``, ``(``): the word index cannot answer those.
    """
    return is_unspaced(value) or not text_tokens(value)


def fts_phrase(node: TextTerm) -> str:
    """The FTS5 MATCH string (a bound value) for a text term on its column."""
    phrase = '"' + node.value.replace('"', '""') + '"'
    return f"{{{FTS_COLUMNS[node.field]}}} : {phrase}{' *' if node.is_prefix else ''}"


def unspaced(column: Any, dialect: str) -> ColumnElement[bool]:
    """The condition of the partial index ``ix_frames_unspaced_<column>`` over ``column``.

    The same expression as the index's (schema.models.UNSPACED_*), with
    literals, not bound values: the database proves that the index covers
    the query only from an identical condition.  On SQLite it is true of
    every text with a non-ASCII character, so it only narrows the rows that
    the substring test then checks.
    """
    condition: ColumnElement[bool]
    if dialect == "sqlite":  # length(CAST(col AS BLOB)) <> length(col)
        condition = func.length(cast(column, LargeBinary)) != func.length(column)
    else:  # col ~ '[ranges]'
        condition = column.op("~", is_comparison=True)(literal_column(UNSPACED_PATTERN))
    return condition


def pg_tsquery(node: TextTerm) -> Any:
    """The tsquery of a word/phrase term, tokenised like the indexed text."""
    if not node.is_prefix:
        return func.phraseto_tsquery(
            "simple", func.translate(node.value, _const(_PUNCTUATION), _const(_PG_SPACES))
        )
    words = text_tokens(node.value)
    lexemes = " <-> ".join("'" + word.replace("'", "''") + "'" for word in words)
    return func.to_tsquery("simple", lexemes + ":*")


def pg_vector(column: Any) -> Any:
    """The tsvector expression the PostgreSQL full-text indexes are built on (0002)."""
    return func.to_tsvector(
        _const("simple"),
        func.translate(func.coalesce(column, _const("")), _const(_PUNCTUATION), _const(_PG_SPACES)),
    )


def pg_relevance(words: list[TextTerm]) -> Any:
    """PostgreSQL's relevance (higher is better): the sum of ts_rank over the words."""
    ranks = [
        func.ts_rank(pg_vector(getattr(f, FTS_COLUMNS[w.field])), pg_tsquery(w)) for w in words
    ]
    total: Any = ranks[0]
    for rank in ranks[1:]:
        total = total + rank
    # As double precision: a real travels as shortest decimal text, which reads
    # back as a different double, so a page cursor's rank would not equal itself.
    return cast(total, Double)


def _const(value: str) -> Any:
    # Inlined, not bound: PostgreSQL uses an expression index only when the
    # query's expression is the same constant text as the index's.
    return bindparam(None, value, literal_execute=True)
