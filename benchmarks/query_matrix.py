"""The issue-20 matrix: every kind of term (and its negation) x every sort, plus count.

    python benchmarks/query_matrix.py --db CATALOGUE [--terms-from SQLITE_CATALOGUE]
        [--repeat 5] [--budget-s 10] [--only TEXT]

Each cell is the first 50 results (``Catalog.search(limit=50)``) in that sort; the
last column is ``Catalog.count``.  One warm-up run, then ``--repeat`` timed runs:
the cell shows the p95 in ms and the plan walk.py/plan.py chose.  A run longer
than ``--budget-s`` is stopped (SQLite progress handler, PostgreSQL
statement_timeout) and shown as "> N s".  Names and words are picked from the
data (``--terms-from`` a SQLite catalogue of the same corpus, for PostgreSQL,
whose full-text index has no vocabulary table).  No assertions: it only reports.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, OperationalError

from kino_catalog import Catalog
from kino_catalog.query.plan import search_statement
from kino_catalog.query.sql import SORTS, to_ast

MODES = [*SORTS, "count"]
_DEADLINE = [float("inf")]


def _one(conn: Any, sql: str, **params: Any) -> Any:
    return conn.execute(text(sql), params).first()


def matrix_terms(cat: Catalog) -> list[tuple[str, str]]:
    """(kind, query) for each kind of term, with names picked from the catalogue."""
    with cat.engine.connect() as conn:
        total = _one(conn, "SELECT count(*) FROM frames")[0]
        words = "SELECT term FROM frames_fts_vocab WHERE col = :col AND term GLOB '[a-z]*' AND "
        common = _one(conn, words + "1 ORDER BY doc DESC LIMIT 1", col="prompt")[0]
        mid = _one(
            conn, words + "doc <= :n ORDER BY doc DESC LIMIT 1", col="prompt", n=total // 100
        )[0]
        rare = _one(conn, words + "doc BETWEEN 3 AND 20 ORDER BY term LIMIT 1", col="prompt")[0]
        neg = _one(conn, words + "1 ORDER BY doc DESC LIMIT 1", col="negative_prompt")[0]
        lora = "SELECT key FROM loras GROUP BY key "
        common_lora = _one(conn, lora + "ORDER BY count(*) DESC LIMIT 1")[0]
        rare_lora = _one(conn, lora + "HAVING count(*) >= 5 ORDER BY count(*) LIMIT 1")[0]
        model = _one(
            conn,
            "SELECT model_key FROM frames WHERE model_key IS NOT NULL GROUP BY model_key "
            "ORDER BY count(*) DESC LIMIT 1",
        )[0]
        seed = _one(
            conn,
            "SELECT json_extract(raw_json, '$.parameters.seed') FROM frames "
            "JOIN frame_documents ON frame_id = id WHERE seed_key IS NOT NULL "
            "ORDER BY generated_at DESC LIMIT 1",
        )[0]
        month = _one(conn, "SELECT substr(max(generated_at), 1, 7) FROM frames")[0]
        prompt = _one(conn, "SELECT prompt FROM frames WHERE prompt IS NOT NULL ORDER BY id DESC")[
            0
        ]
        cjk_prompt = _one(conn, "SELECT prompt FROM frames WHERE prompt GLOB '*[一-龥]*' LIMIT 1")
    pair = next(
        (p.strip() for p in prompt.split(",") if re.fullmatch(r"[a-z]+ [a-z]+", p.strip())),
        f"{common} {mid}",
    )
    cjk = re.search(r"[一-龥]{2}", cjk_prompt[0]).group(0) if cjk_prompt else "東京"
    either = f"lora:{common_lora} OR cfg:>9"
    kinds = [
        ("word (common)", common),
        ("word (~1%)", mid),
        ("word (rare)", rare),
        ("two words", f"{common} {mid}"),
        ("phrase", f'"{pair}"'),
        ("prefix", f"{mid[:4]}*"),
        ("CJK substring", cjk),
        ("neg:", f"neg:{neg}"),
        ("LoRA (common)", f"lora:{common_lora}"),
        ("LoRA (rare)", f"lora:{rare_lora}"),
        ("LoRA with strength", f"lora:{common_lora}@0.5..0.9"),
        ("LoRA glob", "lora:*detail*"),
        ("model", f"model:{model}"),
        ("model glob", f"model:{model[:5]}*"),
        ("sampler glob", "sampler:euler*"),
        ("plugin glob", "plugin:wan*"),
        ("seed", f"seed:{seed}"),
        ("steps range", "steps:20..30"),
        ("cfg range", "cfg:>9"),
        ("date", f"date:{month}"),
        ("parameter key", "num_variants:1"),
        ("parameter key (rare)", "num_frames:81"),
        ("tag", "tag:favourite"),
        ("rating", "rating:>=4"),
        ("OR", either),
        ("parentheses", f"(model:{model} OR {mid}) steps:20..30"),
        ("word and LoRA", f"{common} lora:{common_lora}"),
        ("word, not word", f"{common} -{mid}"),
    ]
    negated = [
        ("-word (common)", f"-{common}"),
        ("-word (rare)", f"-{rare}"),
        ("-phrase", f'-"{pair}"'),
        ("-CJK substring", f"-{cjk}"),
        ("-LoRA (common)", f"-lora:{common_lora}"),
        ("-LoRA (rare)", f"-lora:{rare_lora}"),
        ("-model", f"-model:{model}"),
        ("-sampler glob", "-sampler:euler*"),
        ("-seed", f"-seed:{seed}"),
        ("-steps range", "-steps:20..30"),
        ("-date", f"-date:{month}"),
        ("-parameter key", "-num_variants:1"),
        ("-tag", "-tag:favourite"),
        ("-rating", "-rating:>=4"),
        ("-(OR)", f"-({either})"),
    ]
    return kinds + negated


def _install_deadline(cat: Catalog, budget_s: float) -> None:
    if cat.engine.dialect.name == "sqlite":

        @event.listens_for(cat.engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.set_progress_handler(lambda: time.monotonic() > _DEADLINE[0], 10_000)

    else:

        @event.listens_for(cat.engine, "connect")
        def _on_pg_connect(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET statement_timeout = {int(budget_s * 1000)}")
            dbapi_connection.commit()

    cat.engine.dispose()  # connections made from now on get the deadline


def _run(cat: Catalog, query: str, mode: str) -> int:
    if mode == "count":
        return cat.count(query)
    return len(cat.search(query, limit=50, sort=mode))


def time_cell(cat: Catalog, query: str, mode: str, repeat: int, budget_s: float) -> str:
    """ "p95 plan" for one cell, or "> N s" when a run overran the budget."""
    samples = []
    for i in range(repeat + 1):
        _DEADLINE[0] = time.monotonic() + budget_s
        started = time.perf_counter()
        try:
            _run(cat, query, mode)
        except (OperationalError, DBAPIError):
            return f"> {budget_s:g} s"
        finally:
            _DEADLINE[0] = float("inf")
        if i:
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return f"{p95:.1f} {_plan(cat, query, mode)}"


def _plan(cat: Catalog, query: str, mode: str) -> str:
    if mode == "count":
        return ""
    with cat.engine.connect() as conn:
        return search_statement(conn, to_ast(query), sort=mode, limit=50).name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="catalogue to time (SQLite path or URL)")
    ap.add_argument("--terms-from", help="SQLite catalogue of the same corpus to pick terms in")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--budget-s", type=float, default=10.0)
    ap.add_argument("--only", help="only the kinds whose name contains this text")
    args = ap.parse_args(argv)
    with Catalog.open(args.terms_from or args.db) as source:
        kinds = matrix_terms(source)
    kinds = [k for k in kinds if args.only is None or args.only in k[0]]
    with Catalog.open(args.db) as cat:
        frames = cat.count()
        dialect = cat.engine.dialect.name
        _install_deadline(cat, args.budget_s)
        started = time.monotonic()
        loads = [os.getloadavg()[0]]
        print(
            f"{frames:,} frames, {dialect}; first 50 p95 ms [plan] per sort and count ms; "
            f"{args.repeat} runs after 1 warm-up; load average at start {loads[0]:.1f} "
            f"on {os.cpu_count()} cores"
        )
        print("\n| kind | query | " + " | ".join(MODES) + " |")
        print("| --- | --- | " + " | ".join("---:" for _ in MODES) + " |")
        for kind, query in kinds:
            cells = [time_cell(cat, query, mode, args.repeat, args.budget_s) for mode in MODES]
            print(f"| {kind} | `{query}` | " + " | ".join(cells) + " |", flush=True)
            loads.append(os.getloadavg()[0])
        print(
            f"\nload average (1 min) from {min(loads):.1f} to {max(loads):.1f}, "
            f"{time.monotonic() - started:.0f} s in all"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
