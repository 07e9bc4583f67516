"""Query strings to query AST: the lexer and the grammar.

Pure code: no database and no SQLAlchemy; ``ast.py`` holds the nodes, ``sql.py``
turns them into SQL and ``unparse.py`` turns them back into query strings.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Final, Literal

from kino_catalog.errors import QueryError
from kino_catalog.query.ast import (
    FIELD_ALIASES,
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

__all__ = ["BARE_VALUE_RE", "NUMERIC_VALUE_RE", "parse_query"]

_MAX_DEPTH: Final = 64  # nesting limit for parentheses, so a hostile query cannot recurse deep


class _InvalidTermError(Exception):
    """A problem inside one term; the parser adds the query, term and position."""


@dataclass(frozen=True)
class _Token:
    kind: Literal["term", "OR", "(", ")", "-", "end"]
    raw: str  # the source text, for error messages
    position: int
    text: str = ""  # with quotes removed and escapes resolved
    quoted: tuple[bool, ...] = ()  # per character of text: whether it was inside quotes
    is_quoted: bool = False


_NUM = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(_NUM)
# Generic keys: values that start like an operator or read as numbers/ranges are numeric.
NUMERIC_VALUE_RE = re.compile(rf"[<>!]|=[<>=!]|=?(?:{_NUM})?(?:\.\.(?:{_NUM})?)?\Z")
_FIELD_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*):")
_OPERATORS = ("", "=", ">", ">=", "<", "<=")
BARE_VALUE_RE = re.compile(r'(?!//)[^\s"()<>!=@][^\s"()@]*\Z')
_RELATIVE_RE = re.compile(r"([+-]?)([0-9]+)([hdwmy])")
_UNIT_HOURS = {"h": 1, "d": 24, "w": 24 * 7, "m": 24 * 30, "y": 24 * 365}
_ABSOLUTE_RE = re.compile(
    r"([0-9]{4})(?:-([0-9]{1,2})(?:-([0-9]{1,2})(?:t([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?)?)?)?"
)
_DAY = dt.timedelta(days=1)


def parse_query(query: str, *, now: dt.datetime | None = None) -> Node:
    """Parse a query string into an AST; ``now`` (naive local) anchors relative dates.

    Terms are separated by whitespace and AND-ed; AND binds tighter than OR::

        castle "red dragon" cast*      TextTerm in the prompt: word, phrase, prefix
        neg:blurry notes:"to redo"     TextTerm in another text field
        model:sd_xl* sampler:=euler_a  Match: equality, or glob with * and ?
        lora:add_detail@0.5..1.0       LoraTerm; strength @0.8, @>=0.8, @..1, @0.5..1
        seed:1234 cfg:>=6.5 width:<1024 steps:20..30 steps:..30   Compare / Range
        date:2025-10 date:2025-10-01..2025-10-15 date:>2025-10 date:-7d.. date:today
        num_frames:81 my_key:foo       any other parameter key
        -blurry -(a OR b) a b OR c     Not; grouping; the last is Or(And(a, b), c)

    Decisions:
    - Field names and keywords (``today``) ignore case; values keep it. ``OR``
      is an operator only in upper case and unquoted: ``or`` is a word.
    - A term is a field only if it starts with ``[A-Za-z_][A-Za-z0-9_.]*:``
      followed by something other than ``//``; so ``1:2``, ``http://x`` and
      ``a,(b:1.2)`` are words. ``(b:1.2)`` alone is a group with key ``b``;
      quote it to search the text.
    - ``(`` opens a group only at the start of a term; inside a word, ``(`` and
      a matching ``)`` are part of it (``foo(bar)``).
    - ``-`` negates only at the start of a term (``-5`` is ``Not(TextTerm("5"))``);
      ``--x`` and ``-(-x)`` are ``x``. Write ``a OR (b c)``: ``OR(b`` is a word.
    - A ``*`` at the end of a word or phrase (``"red dr"*``) makes a prefix.
    - ``cfg`` values are always floats (``cfg:7`` gives ``7.0``); generic keys
      give an int or a float as written. Seeds are exact ints of any size.
    - An unknown key is numeric when its value starts with an operator or reads
      as a number or range; quote the value (``key:"81"``) to match the string.
    - Text, name and LoRA values may start with ``=`` (stripped); ``<``, ``>``,
      ``!`` there are errors, unless quoted.
    - LoRA strength bounds are inclusive, so ``@>`` and ``@<`` are errors.
    - A relative date (``-7d``, units h d w m=30d y=365d) is an instant in a
      range or comparison; alone it is the calendar day (for ``h``, the hour)
      containing it. ``date:..`` and empty ranges are errors.

    Raises:
        QueryError: naming the offending term and its 0-based position.
    """
    if now is None:
        now = dt.datetime.now()
    elif now.tzinfo is not None:
        raise ValueError("now must be a naive local datetime")
    tokens = _lex(query)
    return _Parser(query, tokens, now).parse() if tokens else All()


def _lex(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Token("(" if char == "(" else ")", char, i))
            i += 1
        elif char == "-":
            if i + 1 == n or query[i + 1].isspace() or query[i + 1] == ")":
                raise QueryError(
                    query, "a lone '-' negates nothing; write -term or -(...)", term="-", position=i
                )
            tokens.append(_Token("-", "-", i))
            i += 1
        else:
            token, i = _lex_term(query, i)
            tokens.append(token)
    return tokens


def _lex_term(query: str, start: int) -> tuple[_Token, int]:
    chars: list[str] = []
    quoted: list[bool] = []
    is_quoted, depth, i, n = False, 0, start, len(query)
    while i < n and not query[i].isspace() and not (query[i] == ")" and depth == 0):
        char = query[i]
        if char == '"':
            is_quoted, i = True, i + 1
            while i < n and query[i] != '"':
                if query[i] == "\\" and i + 1 < n and query[i + 1] in '"\\':
                    i += 1
                chars.append(query[i])
                quoted.append(True)
                i += 1
            if i == n:
                raise QueryError(
                    query, "unclosed quote: add a closing '\"'", term=query[start:], position=start
                )
        else:
            depth += {"(": 1, ")": -1}.get(char, 0)
            chars.append(char)
            quoted.append(False)
        i += 1
    text = "".join(chars)
    kind: Literal["term", "OR"] = "OR" if text == "OR" and not is_quoted else "term"
    return _Token(kind, query[start:i], start, text, tuple(quoted), is_quoted), i


class _Parser:
    """Recursive descent over the tokens, one method per grammar rule."""

    def __init__(self, query: str, tokens: list[_Token], now: dt.datetime) -> None:
        self.query, self.now, self.index, self.depth = query, now, 0, 0
        self.tokens = [*tokens, _Token("end", "", len(query))]

    def parse(self) -> Node:
        node = self._or()
        if (token := self._peek()).kind == ")":
            raise self._error(token, "unexpected ')' without a matching '('")
        return node

    def _peek(self) -> _Token:
        return self.tokens[self.index]

    def _take(self) -> _Token:
        self.index += 1
        return self.tokens[self.index - 1]

    def _error(self, token: _Token, explanation: str, term: str | None = None) -> QueryError:
        return QueryError(self.query, explanation, term=term or token.raw, position=token.position)

    def _or(self) -> Node:
        parts = [self._and()]
        while (token := self._peek()).kind == "OR":
            self.index += 1
            if (following := self._peek()).kind == "OR":
                raise self._error(following, "OR cannot follow OR")
            if following.kind in (")", "end"):
                raise self._error(token, "OR needs a term after it")
            parts.append(self._and())
        return Or.of(*parts)

    def _and(self) -> Node:
        parts: list[Node] = []
        while (token := self._peek()).kind not in ("OR", ")", "end"):
            parts.append(self._unary())
        if not parts:  # callers rule out "end" here
            raise self._error(
                token,
                "OR needs a term before it"
                if token.kind == "OR"
                else "unexpected ')' without a matching '('",
            )
        return And.of(*parts)

    def _unary(self) -> Node:
        negations = 0
        while (token := self._take()).kind == "-":
            negations += 1
        if token.kind in ("OR", ")", "end"):  # _and saw a "-" before this token
            raise self._error(
                self.tokens[self.index - 2], "'-' must be followed by a term or a group"
            )
        node = self._group(token) if token.kind == "(" else self._term(token)
        for _ in range(negations):  # -(-x) and --x are x: the AST never holds Not(Not(...))
            node = node.node if isinstance(node, Not) else Not(node)
        return node

    def _term(self, token: _Token) -> Node:
        try:
            return _term_node(token, self.now)
        except _InvalidTermError as exc:
            raise self._error(token, str(exc)) from exc

    def _group(self, opening: _Token) -> Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self._error(opening, f"more than {_MAX_DEPTH} nested parentheses")
        if (following := self._peek()).kind == ")":
            end = following.position + 1
            raise self._error(opening, "empty parentheses", self.query[opening.position : end])
        unclosed = self._error(opening, "unclosed '(': add a ')'")
        if following.kind == "end":
            raise unclosed
        node = self._or()
        if self._take().kind == "end":
            raise unclosed
        self.depth -= 1
        return node


def _term_node(token: _Token, now: dt.datetime) -> Node:
    text, quoted = token.text, token.quoted
    match = _FIELD_RE.match(text)
    if match and not any(quoted[: match.end()]):
        end = match.end()
        is_url = text[end : end + 2] == "//" and not quoted[end]
        if not is_url:
            name = match[1].lower()
            if end == len(text):
                raise _InvalidTermError(f"expected a value after '{match[1]}:'")
            return _field_node(
                FIELD_ALIASES.get(name, name), text[end:], quoted[end:], token.is_quoted, now
            )
    if not text:
        raise _InvalidTermError("empty phrase")
    return _text_node("prompt", text, quoted, token.is_quoted)


def _field_node(
    field: str, value: str, quoted: tuple[bool, ...], is_quoted: bool, now: dt.datetime
) -> Node:
    kind = FIELD_KINDS.get(field)
    if kind == "int" or kind == "float":
        return _number_node(field, kind, value)
    if kind == "date":
        return _date_node(value, now)
    if kind is None and not is_quoted and NUMERIC_VALUE_RE.match(value):
        return _number_node(field, None, value)
    if not quoted[0] and value[0] in "<>!":
        raise _InvalidTermError(f"comparisons need a number or a date; {field} takes a word")
    if not quoted[0] and value[0] == "=":
        value, quoted = value[1:], quoted[1:]
        if not value:
            raise _InvalidTermError(f"expected a value after '=' for {field}")
    if kind == "text":
        return _text_node(field, value, quoted, is_quoted)
    if kind == "lora":
        return _lora_node(value, quoted)
    return Match(field, value, _is_glob(value))


def _text_node(field: str, value: str, quoted: tuple[bool, ...], is_quoted: bool) -> TextTerm:
    stem = len(value)
    while stem and value[stem - 1] == "*" and not quoted[stem - 1]:
        stem -= 1
    if 0 < stem < len(value):
        return TextTerm(value[:stem], field, is_quoted, True)
    return TextTerm(value, field, is_quoted, False)


def _lora_node(value: str, quoted: tuple[bool, ...]) -> LoraTerm:
    at = max((i for i, char in enumerate(value) if char == "@" and not quoted[i]), default=-1)
    name = value if at < 0 else value[:at]
    if not name:
        raise _InvalidTermError("expected a LoRA name before '@'")
    if at < 0:
        return LoraTerm(name, _is_glob(name))
    strength = _number_node("the LoRA strength", "float", value[at + 1 :])
    if isinstance(strength, Range):
        return LoraTerm(name, _is_glob(name), strength.low, strength.high)
    if strength.op in (">", "<"):
        raise _InvalidTermError("LoRA strength bounds are inclusive: use >= or <=")
    low = None if strength.op == "<=" else strength.value
    high = None if strength.op == ">=" else strength.value
    return LoraTerm(name, _is_glob(name), low, high)


def _is_glob(value: str) -> bool:
    return "*" in value or "?" in value


def _split_bounds(field: str, value: str, expected: str) -> tuple[str, str, str | None]:
    """Split ``>=5`` into (">=", "5", None) and ``20..30`` into ("", "20", "30")."""
    op = value[: len(value) - len(value.lstrip("<>=!"))]
    rest = value[len(op) :]
    if op not in _OPERATORS:
        raise _InvalidTermError(
            f"unknown operator {op!r} for {field}: use =, >, >=, <, <=,"
            " a range like 20..30, or -term to negate"
        )
    if ".." not in rest:
        if not rest:
            raise _InvalidTermError(
                f"expected {expected} for {field}" + (f" after {op!r}" if op else "")
            )
        return op, rest, None
    if op:
        raise _InvalidTermError(f"an operator cannot be combined with a range for {field}")
    low, _, high = rest.partition("..")
    if not low and not high:
        raise _InvalidTermError("a range needs at least one end, e.g. 20..30, 20.. or ..30")
    return op, low, high


def _number_node(field: str, kind: Literal["int", "float"] | None, value: str) -> Compare | Range:
    op, first, second = _split_bounds(field, value, "a number")
    if second is None:
        return Compare(field, op or "=", _number(field, kind, first))
    low = _number(field, kind, first) if first else None
    high = _number(field, kind, second) if second else None
    if low is not None and high is not None and low > high:
        raise _InvalidTermError(f"empty range: {low} is greater than {high}")
    return Range(field, low, high)


def _number(field: str, kind: Literal["int", "float"] | None, text: str) -> int | float:
    if kind != "float" and _INT_RE.fullmatch(text):
        try:
            return int(text)
        except ValueError as exc:  # more digits than int() accepts by default
            raise _InvalidTermError(f"the number for {field} is too long") from exc
    if kind != "int" and _FLOAT_RE.fullmatch(text):
        number = float(text)
        if math.isfinite(number):
            return number
        raise _InvalidTermError(f"the number for {field} is out of range")
    expected = "an integer" if kind == "int" else "a number"
    raise _InvalidTermError(f"expected {expected} for {field}, got {text!r}")


def _date_node(value: str, now: dt.datetime) -> DateRange:
    op, first, second = _split_bounds("date", value, "a date")
    low: dt.datetime | None
    high: dt.datetime | None
    if second is None:
        start, end = _period(first, now, is_alone=op in ("", "="))
        low, high = {
            ">": (end, None),
            ">=": (start, None),
            "<": (None, start),
            "<=": (None, end),
        }.get(op, (start, end))
    else:
        low = _period(first, now, is_alone=False)[0] if first else None
        high = _period(second, now, is_alone=False)[1] if second else None
    if low is not None and high is not None and low >= high:
        raise _InvalidTermError("empty date range: it ends before it starts")
    return DateRange(low, high)


def _period(text: str, now: dt.datetime, *, is_alone: bool) -> tuple[dt.datetime, dt.datetime]:
    """The span a date names: ``2025-10`` is the month, ``-3d`` an instant or its day."""
    word = text.lower()
    try:
        if word in ("today", "yesterday"):
            start = dt.datetime.combine(now.date(), dt.time())
            start -= _DAY if word == "yesterday" else dt.timedelta()
            return start, start + _DAY
        if relative := _RELATIVE_RE.fullmatch(word):
            sign = -1 if relative[1] == "-" else 1
            point = now + sign * dt.timedelta(hours=int(relative[2]) * _UNIT_HOURS[relative[3]])
            if not is_alone:
                return point, point
            if relative[3] == "h":
                start = point.replace(minute=0, second=0, microsecond=0)
                return start, start + dt.timedelta(hours=1)
            start = dt.datetime.combine(point.date(), dt.time())
            return start, start + _DAY
        if absolute := _ABSOLUTE_RE.fullmatch(word):
            return _absolute_period(absolute)
    except (ValueError, OverflowError) as exc:
        raise _InvalidTermError(f"invalid date {text!r}: {exc}") from exc
    raise _InvalidTermError(
        f"expected a date like 2025-10-13, 2025-10, 2025-10-13T15:05, today or -7d, got {text!r}"
    )


def _absolute_period(match: re.Match[str]) -> tuple[dt.datetime, dt.datetime]:
    year = int(match[1])
    month, day, hour, minute, second = (None if g is None else int(g) for g in match.groups()[1:])
    start = dt.datetime(
        year,
        1 if month is None else month,
        1 if day is None else day,
        hour or 0,
        minute or 0,
        second or 0,
    )
    if month is None:
        return start, start.replace(year=year + 1)
    if day is None:
        return start, start.replace(year=year + month // 12, month=month % 12 + 1)
    if hour is None:
        return start, start + _DAY
    if second is None:
        return start, start + dt.timedelta(minutes=1)
    return start, start + dt.timedelta(seconds=1)
