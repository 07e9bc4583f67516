"""Query strings -> AST: every form, every error, and round trips through unparse."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kino_catalog.errors import QueryError
from kino_catalog.query.ast import (
    FIELD_ALIASES,
    FIELD_KINDS,
    All,
    And,
    Compare,
    DateRange,
    Match,
    Node,
    Not,
    Or,
    Range,
)
from kino_catalog.query.ast import (
    LoraTerm as Lora,
)
from kino_catalog.query.ast import (
    TextTerm as Text,
)
from kino_catalog.query.parse import parse_query
from kino_catalog.query.unparse import unparse

NOW = dt.datetime(2025, 10, 15, 14, 30, 0)
A, B, C = Text("a"), Text("b"), Text("c")


def day(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second)


def ago(**delta: float) -> dt.datetime:
    return NOW - dt.timedelta(**delta)


PARSES = [
    # empty
    ("", All()),
    ("  \t ", All()),
    # full text
    ("castle", Text("castle")),
    ("Castle", Text("Castle")),
    ('"red dragon"', Text("red dragon", is_phrase=True)),
    ("cast*", Text("cast", is_prefix=True)),
    ('"red dr"*', Text("red dr", is_phrase=True, is_prefix=True)),
    ('"cast*"', Text("cast*", is_phrase=True)),
    (r'"say \"hi\" \\o/"', Text('say "hi" \\o/', is_phrase=True)),
    ('"steps:30"', Text("steps:30", is_phrase=True)),
    ("prompt:castle", Text("castle")),
    ("neg:blurry", Text("blurry", "neg")),
    ("NEG:blur*", Text("blur", "neg", is_prefix=True)),
    ('neg:"bad hands"', Text("bad hands", "neg", is_phrase=True)),
    ("negative_prompt:lowres", Text("lowres", "neg")),
    ("notes:redo", Text("redo", "notes")),
    ("or", Text("or")),
    ('"OR"', Text("OR", is_phrase=True)),
    ("foo(bar)", Text("foo(bar)")),
    # no valid field name before the first colon: a plain word
    ("http://example.org/x", Text("http://example.org/x")),
    ("1:2", Text("1:2")),
    ("a,(b:1.2)", Text("a,(b:1.2)")),
    # names: equality and globs
    ("model:sd_xl_base", Match("model", "sd_xl_base")),
    ("model:sd_xl*", Match("model", "sd_xl*", is_glob=True)),
    ("sampler:euler_?", Match("sampler", "euler_?", is_glob=True)),
    ("model:=juggernaut", Match("model", "juggernaut")),
    ('model:"my model.safetensors"', Match("model", "my model.safetensors")),
    ("Model_Name:Juggernaut", Match("model", "Juggernaut")),
    ("plugin:sdxl", Match("plugin", "sdxl")),
    ("plugin_version:1.0.0", Match("version", "1.0.0")),
    ("scheduler:karras", Match("scheduler", "karras")),
    ("tag:keeper", Match("tag", "keeper")),
    ("gpu:*4090*", Match("gpu", "*4090*", is_glob=True)),
    ("path:frames/*", Match("path", "frames/*", is_glob=True)),
    # LoRAs
    ("lora:add_detail", Lora("add_detail")),
    ("lora:detail*", Lora("detail*", is_glob=True)),
    ("lora:add_detail@0.5..1.0", Lora("add_detail", False, 0.5, 1.0)),
    ("lora:x@>=0.8", Lora("x", False, 0.8, None)),
    ("lora:x@<=1", Lora("x", False, None, 1.0)),
    ("lora:x@0.8", Lora("x", False, 0.8, 0.8)),
    ("lora:x@..1", Lora("x", False, None, 1.0)),
    ("lora:slider@-1..0", Lora("slider", False, -1.0, 0.0)),
    ('lora:"my lora@v2"', Lora("my lora@v2")),
    ("high_loras:lightning", Lora("lightning")),
    ("LOW_LORAS:Lightning", Lora("Lightning")),
    # numbers
    ("steps:30", Compare("steps", "=", 30)),
    ("Steps:=30", Compare("steps", "=", 30)),
    ("cfg:>=6.5", Compare("cfg", ">=", 6.5)),
    ("cfg_scale:7", Compare("cfg", "=", 7.0)),
    ("width:<1024", Compare("width", "<", 1024)),
    ("height:>512", Compare("height", ">", 512)),
    ("steps:<=40", Compare("steps", "<=", 40)),
    ("seed:18446744073709551615", Compare("seed", "=", 2**64 - 1)),
    ("seed:123456789012345678901234567890", Compare("seed", "=", 123456789012345678901234567890)),
    ("project_id:12", Compare("project", "=", 12)),
    ("task:0", Compare("task", "=", 0)),
    ("rating:>=4", Compare("rating", ">=", 4)),
    ("steps:20..30", Range("steps", 20, 30)),
    ("steps:20..", Range("steps", 20, None)),
    ("steps:..30", Range("steps", None, 30)),
    ("steps:30..30", Range("steps", 30, 30)),
    ("cfg:5..7.5", Range("cfg", 5.0, 7.5)),
    # any other parameter key
    ("num_frames:81", Compare("num_frames", "=", 81)),
    ("total_frames:>40", Compare("total_frames", ">", 40)),
    ("denoise:0.5..0.8", Range("denoise", 0.5, 0.8)),
    ("my_key:foo", Match("my_key", "foo")),
    ("My_Key:Foo*", Match("my_key", "Foo*", is_glob=True)),
    ("my_key:=foo", Match("my_key", "foo")),
    ("upscaler:1.2.3", Match("upscaler", "1.2.3")),
    ('num_frames:"81"', Match("num_frames", "81")),
    ("system.gpu_name:rtx*", Match("system.gpu_name", "rtx*", is_glob=True)),
    ("(weight:1.2)", Compare("weight", "=", 1.2)),
    # dates, absolute
    ("date:2025-10-13", DateRange(day(2025, 10, 13), day(2025, 10, 14))),
    ("date:2025-10", DateRange(day(2025, 10, 1), day(2025, 11, 1))),
    ("date:2025-12", DateRange(day(2025, 12, 1), day(2026, 1, 1))),
    ("date:2025", DateRange(day(2025, 1, 1), day(2026, 1, 1))),
    ("date:2025-10-13T15:05", DateRange(day(2025, 10, 13, 15, 5), day(2025, 10, 13, 15, 6))),
    (
        "date:2025-10-13t15:05:30",
        DateRange(day(2025, 10, 13, 15, 5, 30), day(2025, 10, 13, 15, 5, 31)),
    ),
    ("date:2025-10-01..2025-10-15", DateRange(day(2025, 10, 1), day(2025, 10, 16))),
    ("date:2025-10..", DateRange(day(2025, 10, 1), None)),
    ("date:..2025-10", DateRange(None, day(2025, 11, 1))),
    ("date:>2025-10", DateRange(day(2025, 11, 1), None)),
    ("date:>=2025-10", DateRange(day(2025, 10, 1), None)),
    ("date:<2025-10", DateRange(None, day(2025, 10, 1))),
    ("date:<=2025-10", DateRange(None, day(2025, 11, 1))),
    ("date:=2025-10", DateRange(day(2025, 10, 1), day(2025, 11, 1))),
    # dates, relative to NOW
    ("date:today", DateRange(day(2025, 10, 15), day(2025, 10, 16))),
    ("DATE:Yesterday", DateRange(day(2025, 10, 14), day(2025, 10, 15))),
    ("date:today..", DateRange(day(2025, 10, 15), None)),
    ("date:-7d..", DateRange(ago(days=7), None)),
    ("date:-2w..-1w", DateRange(ago(weeks=2), ago(weeks=1))),
    ("date:-1m..", DateRange(ago(days=30), None)),
    ("date:-1y..", DateRange(ago(days=365), None)),
    ("date:-6h..", DateRange(ago(hours=6), None)),
    ("date:>=-7D", DateRange(ago(days=7), None)),
    ("date:-3d", DateRange(day(2025, 10, 12), day(2025, 10, 13))),
    ("date:-1h", DateRange(day(2025, 10, 15, 13), day(2025, 10, 15, 14))),
    # AND, OR, NOT, groups
    ("a b", And((A, B))),
    ("a OR b", Or((A, B))),
    ("a b OR c", Or((And((A, B)), C))),
    ("a OR b c", Or((A, And((B, C))))),
    ("a OR b OR c", Or((A, B, C))),
    ("(a OR b) OR c", Or((A, B, C))),
    ("(a b) c", And((A, B, C))),
    ("(a OR b) c", And((Or((A, B)), C))),
    ("(a)(b)", And((A, B))),
    ("((a))", A),
    ("-a", Not(A)),
    ("-(a OR b)", Not(Or((A, B)))),
    ("--a", A),
    ("-(-a)", A),
    ("-5", Not(Text("5"))),
    ('-"red dragon"', Not(Text("red dragon", is_phrase=True))),
    (
        "lora:add_detail steps:20..30 -neg:blurry",
        And((Lora("add_detail"), Range("steps", 20, 30), Not(Text("blurry", "neg")))),
    ),
]


@pytest.mark.parametrize(("query", "expected"), PARSES)
def test_parse_query(query: str, expected: Node) -> None:
    assert parse_query(query, now=NOW) == expected


@pytest.mark.parametrize(("query", "expected"), PARSES)
def test_unparse_of_every_form_parses_back(query: str, expected: Node) -> None:
    assert parse_query(unparse(expected), now=NOW) == expected


ERRORS = [
    ("steps:abc", "expected an integer for steps", 0),
    ("castle -steps:abc", "expected an integer for steps", 8),
    ("width:1.5", "expected an integer for width", 0),
    ("cfg:>", "expected a number for cfg after '>'", 0),
    ("cfg:1e999", "out of range", 0),
    ("seed:" + "9" * 5000, "too long", 0),
    ("steps:!5", "unknown operator '!'", 0),
    ("cfg:>>5", "unknown operator '>>'", 0),
    ("steps:=<5", "unknown operator '=<'", 0),
    ("steps:>=1..5", "cannot be combined with a range", 0),
    ("steps:", "expected a value after 'steps:'", 0),
    ('neg:""', "expected a value after 'neg:'", 0),
    ("steps:30..20", "empty range", 0),
    ("steps:..", "at least one end", 0),
    ("my_key:>foo", "expected a number for my_key", 0),
    ("model:>x", "comparisons need a number or a date", 0),
    ("lora:x@abc", "expected a number for the LoRA strength", 0),
    ("lora:x@>0.5", "inclusive", 0),
    ("lora:x@1..0", "empty range", 0),
    ("lora:@0.8", "expected a LoRA name", 0),
    ("date:2025-13-45", "invalid date", 0),
    ("date:2025-02-30", "invalid date", 0),
    ("date:abc", "expected a date like", 0),
    ("date:-99999999999y", "invalid date", 0),
    ("date:2025-10-15..2025-10-01", "empty date range", 0),
    ("date:..", "at least one end", 0),
    ('"unclosed', "unclosed quote", 0),
    ('castle model:"my model', "unclosed quote", 7),
    ('""', "empty phrase", 0),
    ("(a OR b", "unclosed '('", 0),
    ("x (a", "unclosed '('", 2),
    ("a)", "unexpected ')'", 1),
    (") a", "unexpected ')'", 0),
    ("OR a", "OR needs a term before it", 0),
    ("(OR a)", "OR needs a term before it", 1),
    ("a OR", "OR needs a term after it", 2),
    ("(a OR)", "OR needs a term after it", 3),
    ("a OR OR b", "OR cannot follow OR", 5),
    ("()", "empty parentheses", 0),
    ("a ( )", "empty parentheses", 2),
    ("-", "lone '-'", 0),
    ("a - b", "lone '-'", 2),
    ("-OR a", "'-' must be followed by a term or a group", 0),
    ("(" * 65 + "a" + ")" * 65, "nested parentheses", 64),
]


@pytest.mark.parametrize(("query", "message", "position"), ERRORS)
def test_parse_query_error(query: str, message: str, position: int) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query, now=NOW)
    error = caught.value
    assert message in str(error)
    assert error.position == position
    assert error.term is not None
    assert query[position:].startswith(error.term)  # the term named is the one at position


def test_error_message_names_query_term_and_expectation() -> None:
    with pytest.raises(QueryError) as caught:
        parse_query("castle steps:abc")
    assert str(caught.value) == (
        "bad query 'castle steps:abc' in term 'steps:abc' at position 8:"
        " expected an integer for steps, got 'abc'"
    )


def test_aware_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="naive"):
        parse_query("date:today", now=dt.datetime.now(dt.UTC))


def test_registry_aliases_point_at_canonical_fields() -> None:
    assert set(FIELD_ALIASES.values()) <= set(FIELD_KINDS)
    assert not set(FIELD_ALIASES) & set(FIELD_KINDS)


@pytest.mark.parametrize(
    ("node", "query"),
    [
        (Or((And((A, B)), C)), "a b OR c"),
        (And((Or((A, B)), Not(Or((B, C))))), "(a OR b) -(b OR c)"),
        (Text('say "hi"', "neg", is_phrase=True), r'neg:"say \"hi\""'),
        (Match("num_frames", "81"), 'num_frames:"81"'),
        (Lora("x", False, 0.5, 1.0), "lora:x@0.5..1.0"),
        (DateRange(day(2025, 10, 1), day(2025, 10, 16)), "date:2025-10-01..2025-10-15"),
        (DateRange(None, day(2025, 10, 13, 15, 5)), "date:<2025-10-13T15:05:00"),
    ],
)
def test_unparse_is_readable(node: Node, query: str) -> None:
    assert unparse(node) == query


def test_and_of_flattens_and_collapses() -> None:
    assert And.of(A, And((B, C))) == And((A, B, C))
    assert Or.of(A) == A


# --- Hypothesis: random ASTs round-trip; random strings fail only with QueryError ---
# The ASTs are normalised like the parser's output: And/Or built with .of (flat),
# no Not(Not(...)), is_glob derived from the value, bare words that lex as one word.

FIELDS_OF = {
    kind: sorted(f for f, k in FIELD_KINDS.items() if k == kind) for kind in ("text", "name", "int")
}
words = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.,']{0,12}", fullmatch=True).filter(
    lambda word: word != "OR"
)
any_text = st.text(min_size=1, max_size=20)
generic_keys = st.from_regex(r"[a-z_][a-z0-9_.]{0,10}", fullmatch=True).filter(
    lambda key: key not in FIELD_KINDS and key not in FIELD_ALIASES
)
floats = st.floats(allow_nan=False, allow_infinity=False)
ints = st.integers(min_value=-(2**80), max_value=2**80)
moments = st.datetimes(min_value=day(1971, 1, 1), max_value=day(2100, 1, 1)).map(
    lambda moment: moment.replace(microsecond=0)
)
ops = st.sampled_from(["=", ">", ">=", "<", "<="])
open_ends = st.sampled_from([None, "low", "high"])


def bounds(
    values: st.SearchStrategy[float],
) -> st.SearchStrategy[tuple[float | None, float | None]]:
    """Ordered (low, high) pairs, where one end (never both) may be open."""

    def build(pair: list[float], open_end: str | None) -> tuple[float | None, float | None]:
        low, high = sorted(pair)
        return None if open_end == "low" else low, None if open_end == "high" else high

    return st.builds(build, st.lists(values, min_size=2, max_size=2), open_ends)


def texts() -> st.SearchStrategy[Node]:
    field = st.sampled_from(FIELDS_OF["text"])
    bare = st.builds(Text, words, field, st.just(False), st.booleans())
    phrase = st.builds(Text, any_text, field, st.just(True), st.booleans())
    return bare | phrase


def matches() -> st.SearchStrategy[Node]:
    field = st.sampled_from(FIELDS_OF["name"]) | generic_keys
    return st.builds(lambda f, v: Match(f, v, "*" in v or "?" in v), field, any_text)


def loras() -> st.SearchStrategy[Node]:
    strengths = st.just((None, None)) | bounds(floats)
    return st.builds(
        lambda name, s: Lora(name, "*" in name or "?" in name, *s), any_text, strengths
    )


def numbers() -> st.SearchStrategy[Node]:
    typed = st.tuples(st.sampled_from(FIELDS_OF["int"]), ints) | st.tuples(st.just("cfg"), floats)
    generic = st.tuples(generic_keys, ints | floats)
    compares = st.builds(lambda fv, op: Compare(fv[0], op, fv[1]), typed | generic, ops)
    ranges = (
        st.builds(lambda f, p: Range(f, *p), st.sampled_from(FIELDS_OF["int"]), bounds(ints))
        | st.builds(lambda p: Range("cfg", *p), bounds(floats))
        | st.builds(lambda f, p: Range(f, *p), generic_keys, bounds(ints | floats))
    )
    return compares | ranges


def date_ranges() -> st.SearchStrategy[Node]:
    def build(pair: list[dt.datetime], open_end: str | None) -> DateRange:
        low, high = sorted(pair)
        return DateRange(None if open_end == "low" else low, None if open_end == "high" else high)

    return st.builds(build, st.lists(moments, min_size=2, max_size=2, unique=True), open_ends)


def negate(node: Node) -> Node:
    return node.node if isinstance(node, Not) else Not(node)


leaves = texts() | matches() | loras() | numbers() | date_ranges()
queries = st.recursive(
    leaves,
    lambda children: (
        children.map(negate)
        | st.lists(children, min_size=2, max_size=4).map(lambda nodes: And.of(*nodes))
        | st.lists(children, min_size=2, max_size=4).map(lambda nodes: Or.of(*nodes))
    ),
    max_leaves=12,
)


@given(queries)
def test_unparse_round_trips(node: Node) -> None:
    assert parse_query(unparse(node), now=NOW) == node


query_chars = st.sampled_from(list('()"\\-:*?.@<>=! ORdwmyhT0123456789')) | st.characters()


@given(
    st.text(query_chars, max_size=40)
    | st.lists(
        st.sampled_from(
            [
                "steps:",
                "date:",
                "lora:",
                "x:",
                "..",
                "OR",
                "(",
                ")",
                "-",
                '"',
                "1",
                "2025-10",
                "-7d",
                "@",
                ">=",
                "neg:",
                " ",
            ]
        )
    ).map("".join)
)
def test_any_string_parses_or_raises_query_error(query: str) -> None:
    error = parse_error(query)
    assert error is None or (
        error.position is not None
        and error.term is not None
        and query[error.position :].startswith(error.term)
    )


def parse_error(query: str) -> QueryError | None:
    try:
        parse_query(query, now=NOW)
    except QueryError as error:
        return error
    return None
