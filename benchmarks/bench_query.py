"""Query latency benchmark: p50/p95 per query shape against a naive scan of the sidecars.

    python benchmarks/bench_query.py --frames 100000 [--corpus DIR] [--db PATH]
        [--repeat 30] [--explain] [--no-naive] [--naive-files N] [--only TEXT]
    python benchmarks/bench_query.py --matrix --db PATH_OR_URL [query_matrix.py's options]

``--matrix`` prints issue 20's matrix instead: every kind of term and its
negation x every sort, plus count (``benchmarks/query_matrix.py``).

Builds (or reuses) a corpus made by ``kino_catalog.testing.corpus`` and a SQLite
catalogue of it, picks the names and words of each shape from the catalogue
itself (the commonest LoRA, a LoRA used ~10 times, a word in ~1% of prompts,
...), times ``Catalog.search``/``Catalog.count`` as a user calls them (warm
cache, Python objects included), and times one naive pass over the files
(walk + ``json.load`` + filter + sort) that answers every shape at once.  A
naive tool needs such a full pass per query, so each shape's ratio is the
pass time over that shape's p50 (``--naive-files N`` reads only the first N
files and scales the time to the whole corpus, for 1M-frame runs on a busy
machine).  No wall-clock assertions: it only reports.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from kino_catalog import Catalog
from kino_catalog.query.counting import count_statement
from kino_catalog.query.plan import search_statement
from kino_catalog.query.sql import to_ast
from kino_catalog.sidecar.record import (
    is_lora_list,
    normalise_name,
    parse_timestamp,
    project_from_name,
)
from kino_catalog.testing.corpus import generate_corpus

_WORD = re.compile(r"[^\W_]+")
Predicate = Callable[[dict[str, Any]], bool]


@dataclass
class Shape:
    name: str
    query: str
    mode: str  # "first50" | "all" | "count"
    naive: Predicate
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    cpu_p50_ms: float = 0.0  # process CPU time: robust when other jobs share the cores
    results: int = 0
    plan: str = ""


def _scalar(cat: Catalog, sql: str, **params: Any) -> Any:
    with cat.engine.connect() as conn:
        return conn.execute(text(sql), params).first()


def _memo(fn: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """Derive once per document: the pass then costs what one query's scan costs."""
    cache: dict[int, tuple[dict[str, Any], Any]] = {}

    def derived(doc: dict[str, Any]) -> Any:
        hit = cache.get(id(doc))
        if hit is None or hit[0] is not doc:
            cache.clear()
            hit = cache[id(doc)] = (doc, fn(doc))
        return hit[1]

    return derived


@_memo
def _lora_keys(doc: dict[str, Any]) -> set[str]:
    params = doc.get("parameters") or {}
    keys: set[str] = set()
    for role, items in params.items():
        if is_lora_list(role, items) and isinstance(items, list):
            keys.update(
                normalise_name(item.get("lora_name", ""))
                for item in items
                if isinstance(item, dict)
            )
    return keys


@_memo
def _words(doc: dict[str, Any]) -> set[str]:
    return set(_WORD.findall(str((doc.get("parameters") or {}).get("prompt") or "").casefold()))


@_memo
def _model(doc: dict[str, Any]) -> str | None:
    name = (doc.get("parameters") or {}).get("model_name")
    return normalise_name(name) if isinstance(name, str) else None


def shapes_for(cat: Catalog) -> list[Shape]:
    """The issue's query shapes, with names and words picked from the data."""
    total = _scalar(cat, "SELECT count(*) FROM frames")[0]
    seed_key, seed = _scalar(
        cat,
        "SELECT seed_key, raw_json FROM frames JOIN frame_documents "
        "ON frame_id = id WHERE seed_key IS NOT NULL"
        " ORDER BY generated_at DESC LIMIT 1",
    )
    seed = json.loads(seed)["parameters"]["seed"]
    model = _scalar(
        cat,
        "SELECT model_key FROM frames WHERE model_key IS NOT NULL GROUP BY "
        "model_key ORDER BY count(*) DESC LIMIT 1",
    )[0]
    common_lora = _scalar(cat, "SELECT key FROM loras GROUP BY key ORDER BY count(*) DESC")[0]
    rare_lora = _scalar(
        cat, "SELECT key FROM loras GROUP BY key HAVING count(*) >= 5 ORDER BY count(*) LIMIT 1"
    )[0]
    mid_lora = _scalar(
        cat,
        "SELECT key FROM loras GROUP BY key HAVING count(*) <= :n ORDER BY count(*) DESC LIMIT 1",
        n=total // 200,
    )[0]
    words = "SELECT term FROM frames_fts_vocab WHERE col = 'prompt' AND term GLOB '[a-z]*' AND "
    common_word = _scalar(cat, words + "1 ORDER BY doc DESC LIMIT 1")[0]
    mid_word = _scalar(cat, words + "doc <= :n ORDER BY doc DESC LIMIT 1", n=total // 100)[0]
    # Words in 2-15% of prompts were the slowest band before fts-recent (issue 4).
    band_words = [
        _scalar(cat, words + "doc <= :n ORDER BY doc DESC LIMIT 1", n=total // d)[0]
        for d in (33, 8)
    ]
    rare_word = _scalar(cat, words + "doc BETWEEN 3 AND 20 ORDER BY term LIMIT 1")[0]
    project = _scalar(
        cat,
        "SELECT project_id FROM frames WHERE project_id IS NOT NULL GROUP BY "
        "project_id ORDER BY count(*) DESC LIMIT 1",
    )[0]
    del seed_key

    def combined(doc: dict[str, Any]) -> bool:
        params = doc.get("parameters") or {}
        cfg = params.get("cfg_scale")
        when = _when(doc)
        return (
            _model(doc) == model
            and common_lora in _lora_keys(doc)
            and isinstance(cfg, int | float)
            and 5 <= cfg <= 8
            and when is not None
            and dt.datetime(2024, 6, 1) <= when < dt.datetime(2025, 7, 1)
        )

    return [
        Shape(
            "seed equality",
            f"seed:{seed}",
            "first50",
            lambda d: (d.get("parameters") or {}).get("seed") == seed,
        ),
        Shape(
            "model equality, newest 50", f"model:{model}", "first50", lambda d: _model(d) == model
        ),
        Shape(
            "LoRA (most common), newest 50",
            f"lora:{common_lora}",
            "first50",
            lambda d: common_lora in _lora_keys(d),
        ),
        Shape(
            "LoRA (rare), newest 50",
            f"lora:{rare_lora}",
            "first50",
            lambda d: rare_lora in _lora_keys(d),
        ),
        Shape(
            "LoRA (mid-frequency), all frames",
            f"lora:{mid_lora}",
            "all",
            lambda d: mid_lora in _lora_keys(d),
        ),
        Shape(
            "word (common), newest 50", common_word, "first50", lambda d: common_word in _words(d)
        ),
        Shape("word (~1%), newest 50", mid_word, "first50", lambda d: mid_word in _words(d)),
        Shape("word (rare), newest 50", rare_word, "first50", lambda d: rare_word in _words(d)),
        Shape(
            "word (~3%), newest 50", band_words[0], "first50", lambda d: band_words[0] in _words(d)
        ),
        Shape(
            "word (~12%), newest 50", band_words[1], "first50", lambda d: band_words[1] in _words(d)
        ),
        Shape(
            "two words (~3% and ~12%), newest 50",
            " ".join(band_words),
            "first50",
            lambda d: set(band_words) <= _words(d),
        ),
        Shape(
            "combined: model+LoRA+cfg+date, newest 50",
            f"model:{model} lora:{common_lora} cfg:5..8 date:2024-06..2025-06",
            "first50",
            combined,
        ),
        Shape(
            "negated word, newest 50",
            f"-{common_word}",
            "first50",
            lambda d: common_word not in _words(d),
        ),
        Shape(
            "count: one model in one project",
            f"project:{project} model:{model}",
            "count",
            lambda d: d.get("project_id") == project and _model(d) == model,
        ),
    ]


def _when(doc: dict[str, Any], mtime: float | None = None) -> dt.datetime | None:
    stamp = doc.get("timestamp")
    parsed = parse_timestamp(stamp) if isinstance(stamp, str) else None
    if parsed is None and mtime is not None:
        return dt.datetime.fromtimestamp(mtime)
    return parsed


def time_shapes(cat: Catalog, shapes: list[Shape], repeat: int, explain: bool) -> None:
    for shape in shapes:

        def run(shape: Shape = shape) -> int:
            if shape.mode == "count":
                return cat.count(shape.query)
            return len(cat.search(shape.query, limit=50 if shape.mode == "first50" else None))

        for _ in range(2):  # warm the cache and SQLAlchemy's statement cache
            shape.results = run()
        samples, cpu = [], []
        for _ in range(repeat):
            started, cpu_started = time.perf_counter(), time.process_time()
            run()
            samples.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
        samples.sort()
        shape.cpu_p50_ms = statistics.median(cpu)
        shape.p50_ms = statistics.median(samples)
        shape.p95_ms = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
        with cat.engine.connect() as conn:
            limit = 50 if shape.mode == "first50" else None
            node = to_ast(shape.query)
            plan = search_statement(conn, node, limit=limit)
            statement = plan.statement if shape.mode != "count" else count_statement(conn, node)
            shape.plan = plan.name if shape.mode != "count" else "count"
            if explain:
                sql = str(statement.compile(conn, compile_kwargs={"literal_binds": True}))
                print(f"-- {shape.name}: {shape.query} [{shape.plan}]", file=sys.stderr)
                for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql):
                    print("   ", row[-1], file=sys.stderr)


def naive_pass(
    corpus: str, shapes: list[Shape], max_files: int | None
) -> tuple[float, list[int], int]:
    """One walk + json.load of the sidecars answering all shapes; (seconds, counts, files)."""
    started = time.perf_counter()
    hits: list[list[tuple[dt.datetime, str]]] = [[] for _ in shapes]
    read = 0
    for folder, _dirs, files in os.walk(corpus):
        for name in files:
            if not name.endswith(".json") or (max_files is not None and read >= max_files):
                continue
            read += 1
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as fh:
                    doc = json.load(fh)
            except (OSError, ValueError):
                continue
            if not isinstance(doc, dict):
                continue
            if doc.get("project_id") is None:  # as the catalogue does: from the file name
                doc["project_id"] = project_from_name(name)
            when: dt.datetime | None = None
            for shape, found in zip(shapes, hits, strict=True):
                if shape.naive(doc):
                    if when is None:
                        when = _when(doc, os.stat(path).st_mtime)
                    found.append((when or dt.datetime.min, path))
    counts = []
    for shape, found in zip(shapes, hits, strict=True):
        if shape.mode == "first50":
            found.sort(reverse=True)
            del found[50:]
        counts.append(len(found))
    return time.perf_counter() - started, counts, read


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--matrix" in argv:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import query_matrix

        return query_matrix.main([a for a in argv if a != "--matrix"])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--corpus", help="sidecar folder (generated if missing or empty)")
    ap.add_argument("--db", help="catalogue path (indexed if it has no frames)")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--explain", action="store_true", help="print EXPLAIN QUERY PLAN per shape")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive scan")
    ap.add_argument("--naive-files", type=int, help="scan only N files and scale the time up")
    ap.add_argument("--only", help="time only the shapes whose name contains this text")
    args = ap.parse_args(argv)
    corpus = args.corpus or f"/tmp/kino-bench-{args.frames}"
    db = args.db or corpus.rstrip("/") + ".db"
    if not os.path.isdir(corpus) or not os.listdir(corpus):
        print(f"generating {args.frames} sidecars in {corpus}", file=sys.stderr)
        generate_corpus(corpus, args.frames, jobs=os.cpu_count() or 1)
    with Catalog.open(db) as cat:
        if cat.count() == 0:
            print(f"indexing {corpus} into {db}", file=sys.stderr)
            cat.sync(corpus)
        frames = cat.count()
        shapes = [s for s in shapes_for(cat) if args.only is None or args.only in s.name]
        time_shapes(cat, shapes, args.repeat, args.explain)
    naive_s: float | None = None
    counts: list[int] = []
    note = ""
    if not args.no_naive:
        naive_s, counts, read = naive_pass(corpus, shapes, args.naive_files)
        if args.naive_files is not None and read < frames:
            note = f" (measured on {read:,} files: {naive_s:.1f} s, scaled to {frames:,})"
            naive_s *= frames / read
            counts = []  # a partial scan cannot check the result counts
    print(
        f"\n{frames:,} frames, SQLite, {args.repeat} runs per shape after 2 warm-up runs; "
        + (f"naive scan (one pass answering every shape): {naive_s:.1f} s{note}" if naive_s else "")
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("\n| shape | query | plan | results | p50 ms | p95 ms | CPU p50 ms | naive / p50 |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for i, shape in enumerate(shapes):
        ratio = f"{naive_s * 1000 / shape.p50_ms:,.0f}x" if naive_s else "-"
        check = "" if not counts or counts[i] == shape.results else f" (naive: {counts[i]})"
        print(
            f"| {shape.name} | `{shape.query}` | {shape.plan} | {shape.results}{check} | "
            f"{shape.p50_ms:.2f} | {shape.p95_ms:.2f} | {shape.cpu_p50_ms:.2f} | {ratio} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
