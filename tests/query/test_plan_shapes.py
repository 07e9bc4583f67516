"""Every kind of term, negated or not, in every sort and in a count has a plan whose cost
does not multiply two large numbers (issue 20).

The database's own plan is read (SQLite ``EXPLAIN QUERY PLAN``; PostgreSQL ``EXPLAIN``
with sequential scans discouraged, so a tiny table does not hide a missing index): a
subquery run once per frame must be a look-up on the frame's id (and, for an exact
term, on the key too), never a scan of ``loras``, ``parameters`` or ``tags``, nor a
look-up on the LoRA key alone (which walks every use of that LoRA, once per frame).
A walk of the sort's index must not sort.  Both plans of walk.py are checked for each
combination, as a large catalogue may choose either.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest
from sqlalchemy import event

from kino_catalog import Catalog
from kino_catalog.query import walk
from kino_catalog.query.counting import count_statement
from kino_catalog.query.parse import parse_query
from kino_catalog.query.plan import search_statement
from kino_catalog.query.sql import SORTS
from tests.factories import Library
from tests.query.plans import forced_plan

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Connection

# One of each kind of term (README "Searching"); each is also checked negated.
TERMS = {
    "word": "castle",
    "two words": "castle dragon",
    "phrase": '"red dragon"',
    "prefix": "cast*",
    "CJK substring": "東京",
    "negative prompt": "neg:blurry",
    "LoRA": "lora:add_detail",
    "LoRA with strength": "lora:add_detail@0.5..1",
    "LoRA glob": "lora:*detail*",
    "LoRA prefix glob": "lora:add*",
    "model": "model:sd_xl_base_1.0",
    "model glob": "model:juggernaut*",
    "sampler glob": "sampler:euler*",
    "plugin glob": "plugin:wan*",
    "seed": "seed:77",
    "seed range": "seed:>100",
    "steps range": "steps:20..30",
    "cfg": "cfg:>=6.5",
    "date": "date:2025-10",
    "project": "project:2",
    "parameter key": "num_frames:81",
    "parameter range": "num_frames:>50",
    "tag": "tag:keep",
    "rating": "rating:>=4",
    "OR": "lora:add_detail OR cfg:>9",
    "parentheses": "(model:sd_xl_base_1.0 OR castle) steps:20..30",
    "LoRA and word": "lora:detail_tweaker castle",
}
QUERIES = [*TERMS.values(), *(f"-({query})" for query in TERMS.values())]
MODES = [*SORTS, "count"]
_PER_FRAME_TABLES = ("loras", "parameters", "tags", "earlier_use")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    library = Library(tmp_path_factory.mktemp("shapes"))
    for i in range(1, 41):
        loras = [{"lora_name": "add_detail.safetensors", "strength_model": 0.8}] if i % 3 else []
        if i % 4 == 0:
            loras.append({"lora_name": "detail_tweaker", "strength_model": 1.2})
        parameters: dict[str, Any] = {
            "prompt": ["castle on a hill", "red dragon", "東京の夜", "a cat"][i % 4],
            "negative_prompt": "blurry" if i % 2 else "lowres",
            "model_name": ["sd_xl_base_1.0.safetensors", "juggernautXL_v9.safetensors"][i % 2],
            "sampler": ["euler", "dpmpp_2m"][i % 2],
            "seed": i * 7,
            "steps": 20 + i % 15,
            "cfg_scale": 5.0 + i % 6,
            "loras": loras,
            "num_frames": [49, 81][i % 2],
        }
        library.frame(
            1 + i % 3,
            i,
            image=False,
            timestamp=f"2025{9 + i % 3:02d}{1 + i % 27:02d}_120000",
            parameters=parameters,
            tags=["keep"] if i % 5 == 0 else [],
            rating=i % 6,
        )
    return library


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog(request: pytest.FixtureRequest, library: Library, tmp_path: Any) -> Iterator[Catalog]:
    target = (
        str(tmp_path / "shapes.db")
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    with Catalog.open(target) as cat:
        cat.sync(library.root)
        if request.param == "postgresql":  # statistics, as autovacuum keeps them
            with cat.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        yield cat


@pytest.fixture(params=["chosen", "walk", "set", "setwalk"])
def plan_choice(request: pytest.FixtureRequest, catalog: Catalog) -> Iterator[str]:
    """walk.py's choice as the sizes make it, or forced to one plan."""
    with forced_plan(None if request.param == "chosen" else request.param):
        yield request.param


def _statements(conn: Connection, query: str, mode: str) -> tuple[str, list[tuple[str, Any]]]:
    """The plan's name, and every statement it runs: while planning (capped counts,
    a bounded walk of the sort's index) and then the plan's own, with their values."""
    node = parse_query(query)
    ran: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, _context: Any, _many: Any) -> None:
        ran.append((sql, params))

    event.listen(conn, "before_cursor_execute", record)
    try:
        if mode == "count":
            name, statement = "count", count_statement(conn, node, query)
        else:
            plan = search_statement(conn, node, sort=mode, limit=50, query=query)
            name, statement = plan.name, plan.statement
    finally:
        event.remove(conn, "before_cursor_execute", record)
    compiled = statement.compile(conn, compile_kwargs={"render_postcompile": True})
    values = compiled.params
    if compiled.positiontup:  # SQLite's "?" placeholders take a tuple
        values = tuple(compiled.params[name] for name in compiled.positiontup)
    return name, [*ran, (str(compiled), values)]


_WALKS = re.compile(
    r"SCAN frames USING (COVERING )?INDEX (ix_frames_sort_\w+|ix_frames_generated_at)\b"
)


def _sqlite_problems(conn: Connection, sql: str, params: Any) -> list[str]:
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
    parents = {row[0]: row[1] for row in rows}
    details = {row[0]: str(row[3]) for row in rows}

    def is_per_frame(node: int) -> bool:
        while node:
            if details.get(node, "").startswith("CORRELATED"):
                return True
            node = parents.get(node, 0)
        return False

    problems = []
    for node, detail in details.items():
        table = re.match(r"(?:SEARCH|SCAN) (\w+)", detail)
        if not table or table.group(1) not in _PER_FRAME_TABLES or not is_per_frame(node):
            continue
        if not re.search(r"INDEX \w+ \(frame_id=\?", detail):
            problems.append(f"per frame, not a look-up on the frame: {detail}")
        elif "ix_loras_key" in detail:
            problems.append(f"per frame, walks a LoRA's uses: {detail}")
    for node, detail in details.items():  # a walk and a sort in the same SELECT
        if "TEMP B-TREE FOR ORDER BY" not in detail:
            continue
        siblings = [d for n, d in details.items() if parents[n] == parents[node]]
        if any(_WALKS.search(d) for d in siblings):
            problems.append(f"a walk of the sort's index sorts: {sql}")
    return problems


def _pg_problems(conn: Connection, sql: str, params: Any) -> list[str]:
    conn.exec_driver_sql("SET enable_seqscan = off")
    try:
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, params).scalar_one()
    finally:
        conn.exec_driver_sql("RESET enable_seqscan")
    plan = plan if isinstance(plan, list) else json.loads(plan)
    text = json.dumps(plan)
    hashed = set(re.findall(r"hashed (SubPlan \d+)", text))  # read once into a hash: a set
    problems: list[str] = []

    def visit(node: dict[str, Any], per_frame: bool, under_nested_inner: bool) -> None:
        relation = node.get("Relation Name")
        kind = node.get("Node Type", "")
        if relation in _PER_FRAME_TABLES and (per_frame or under_nested_inner):
            condition = str(node.get("Index Cond", ""))
            if "Seq Scan" in kind or "frame_id" not in condition:
                problems.append(f"per frame: {kind} on {relation} {condition}")
        children = node.get("Plans", [])
        for i, child in enumerate(children):
            sub = child.get("Subplan Name")
            is_sub = child.get("Parent Relationship") == "SubPlan" and sub not in hashed
            is_inner = kind == "Nested Loop" and i == 1
            visit(child, per_frame or is_sub, under_nested_inner or is_inner)

    visit(plan[0]["Plan"], False, False)
    return problems


def test_no_plan_multiplies_frames_by_uses(catalog: Catalog, plan_choice: str) -> None:
    problems = []
    with catalog.engine.connect() as conn:
        for mode, query in ((mode, query) for mode in MODES for query in QUERIES):
            if mode == "relevance" and not any(c.isalpha() for c in query):
                continue
            name, statements = _statements(conn, query, mode)
            check = _sqlite_problems if conn.dialect.name == "sqlite" else _pg_problems
            for sql, params in statements:
                problems += [f"{query!r} {mode} [{name}]: {p}" for p in check(conn, sql, params)]
    assert not problems, "\n".join(problems)


def test_forcing_reaches_both_plans(catalog: Catalog, plan_choice: str) -> None:
    """The forced fixtures really change walk.py's choice (else the test above proves less)."""
    if plan_choice == "chosen":
        pytest.skip("nothing forced")
    with catalog.engine.connect() as conn:
        name = _statements(conn, "lora:add_detail", "seed")[0]
        is_sqlite = conn.dialect.name == "sqlite"
    # PostgreSQL plans a walk itself (no bounded walk while planning, so no setwalk)
    assert name == (plan_choice if is_sqlite or plan_choice != "setwalk" else "walk")


def test_the_check_finds_the_plan_of_issue_20(tmp_path: Any, library: Library) -> None:
    """Without ix_loras_frame_key, a LoRA checked per frame walks the LoRA's uses: caught."""
    with Catalog.open(tmp_path / "old.db") as cat:
        cat.sync(library.root)
        with cat.engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_loras_frame_key")
        with cat.engine.connect() as conn, mock.patch.object(walk, "_SET_ROW_US", 1e12):
            name, statements = _statements(conn, "lora:add_detail", "seed")
            problems = [
                p for sql, params in statements for p in _sqlite_problems(conn, sql, params)
            ]
    assert name == "walk"
    assert any("SEARCH loras USING COVERING INDEX ix_loras_key (key=?)" in p for p in problems)


@pytest.mark.parametrize(("query", "index"), [("東京", "prompt"), ("neg:東京", "negative_prompt")])
def test_an_unspaced_term_reads_only_the_prompts_with_such_text(
    catalog: Catalog, query: str, index: str
) -> None:
    """The query repeats the partial index's condition exactly, so the database uses it."""
    with catalog.engine.connect() as conn:
        statement = count_statement(conn, parse_query(query), query)
        if conn.dialect.name == "sqlite":
            sql = str(statement.compile(conn, compile_kwargs={"literal_binds": True}))
            plan = " ".join(
                str(row[3]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)
            )
        else:
            compiled = statement.compile(conn, compile_kwargs={"render_postcompile": True})
            conn.exec_driver_sql("SET enable_seqscan = off")
            rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
            plan = " ".join(row[0] for row in rows)
    assert f"ix_frames_unspaced_{index}" in plan
    assert catalog.count(query) == (10 if index == "prompt" else 0)
