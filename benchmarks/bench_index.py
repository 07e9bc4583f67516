#!/usr/bin/env python3
"""Benchmark rebuild and sync against floors measured in the same run.

Usage:
    python benchmarks/bench_index.py --frames 100000 [--corpus DIR] [--keep]

Generates (or reuses) a deterministic corpus with kino_catalog.testing.corpus, warms
the page cache, then measures, each in a fresh process so that peak RSS is
the operation's own:

  floors   walk        os.walk of the tree (names only)
           walk+stat   os.walk plus one stat per sidecar (what any sync must do)
           read+json   read every sidecar and json.loads it, one process
  ours     rebuild             from scratch, into an empty catalogue
           sync, no change     right after the rebuild
           sync, 1% changed    after rewriting 1% of the sidecars
           rebuild over the catalogue   the old rows deleted in the same transaction

and prints seconds, peak RSS and ratios to the floors.  Targets (DESIGN.md
§8, 1M sidecars on 2 cores): rebuild < 30 s and < 500 MB; no-change sync
< 1.3 x walk; 1%-changed sync < 2 x no-change sync.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _op_walk(corpus: str, with_stat: bool) -> None:
    for folder, _dirs, files in os.walk(corpus):
        if with_stat:
            for name in files:
                if name.endswith(".json"):
                    os.stat(os.path.join(folder, name))


def _op_read_json(corpus: str) -> None:
    for folder, _dirs, files in os.walk(corpus):
        for name in files:
            if name.endswith(".json"):
                with open(os.path.join(folder, name), "rb") as fh:
                    data = fh.read()
                try:
                    json.loads(data)
                except ValueError:
                    pass  # the corpus holds a few broken sidecars on purpose


def _op_catalog(corpus: str, db: str, action: str) -> None:
    from kino_catalog import Catalog

    with Catalog.open(db) as cat:
        result = cat.rebuild(corpus) if action == "rebuild" else cat.sync(corpus)
        print(json.dumps(result.as_dict()), file=sys.stderr)


def run_op() -> None:
    """Child mode: run one operation, print {"seconds", "rss_mb"} as JSON."""
    op, corpus, db = sys.argv[2], sys.argv[3], sys.argv[4]
    started = time.perf_counter()
    if op == "change":
        print(json.dumps({"changed": change_one_percent(Path(corpus))}))
        return
    if op in ("walk", "walk+stat"):
        _op_walk(corpus, op == "walk+stat")
    elif op == "read+json":
        _op_read_json(corpus)
    else:
        _op_catalog(corpus, db, op)
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps({"seconds": seconds, "rss_mb": own / 1024, "children_rss_mb": children / 1024})
    )


def measure(op: str, corpus: Path, db: Path) -> dict[str, float]:
    """Run one operation in a child process; its JSON line of figures.

    This process must stay small: Linux carries a process's peak RSS over
    fork and exec into ``ru_maxrss``, so a child reports at least what this
    process held when it started it.  (Hence the 1% change runs in a child
    too: listing a million paths here once inflated every later figure.)
    """
    out = subprocess.run(
        [sys.executable, __file__, "--_op", op, str(corpus), str(db)],
        check=True,
        capture_output=True,
        text=True,
        cwd=HERE.parent,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def change_one_percent(corpus: Path) -> int:
    """Rewrite every 100th sidecar with a different step count (valid JSON, new size/mtime)."""
    changed = 0
    for index, path in enumerate(sorted(corpus.rglob("*.json"))):
        if index % 100:
            continue
        try:
            doc = json.loads(path.read_bytes())
            doc["parameters"]["steps"] = doc["parameters"].get("steps", 0) + 1000
            path.write_text(json.dumps(doc, indent=2))
        except (ValueError, KeyError, TypeError, AttributeError):
            path.write_text(path.read_text(errors="replace") + " ")
        changed += 1
    return changed


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--_op":
        run_op()
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--corpus", type=Path, help="corpus folder (generated if missing)")
    ap.add_argument("--keep", action="store_true", help="keep the catalogue file")
    a = ap.parse_args()
    corpus = a.corpus or HERE / "data" / f"corpus-{a.frames}"
    if not corpus.exists():
        sys.path.insert(0, str(HERE.parent))
        from kino_catalog.testing.corpus import generate_corpus

        print(f"generating {a.frames} sidecars in {corpus} ...", file=sys.stderr)
        generate_corpus(corpus, a.frames, png=True, jobs=os.cpu_count() or 1, invalid_rate=0.001)
    work = Path(tempfile.mkdtemp(prefix="kino-bench-"))
    db = work / "bench.db"
    measure("walk+stat", corpus, db)  # warm the page cache
    measure("read+json", corpus, db)
    rows: list[tuple[str, dict[str, float]]] = []
    for op in ("walk", "walk+stat", "read+json"):
        rows.append((op, measure(op, corpus, db)))
    rows.append(("rebuild", measure("rebuild", corpus, db)))
    rows.append(("sync, no change", measure("sync", corpus, db)))
    changed = int(measure("change", corpus, db)["changed"])
    rows.append((f"sync, 1% changed ({changed})", measure("sync", corpus, db)))
    rows.append(("sync, no change (again)", measure("sync", corpus, db)))
    rows.append(("rebuild over the catalogue", measure("rebuild", corpus, db)))

    seconds = {name: r["seconds"] for name, r in rows}
    walk, walk_stat, read = seconds["walk"], seconds["walk+stat"], seconds["read+json"]
    no_change = seconds["sync, no change"]
    print(
        f"\n{a.frames:,} sidecars, {platform.machine()} x{os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    print(
        f"{'what':<28}{'seconds':>9}{'RSS main MB':>13}{'RSS worker MB':>15}{'x walk':>8}"
        f"{'x walk+stat':>13}{'x read+json':>13}"
    )
    for name, r in rows:
        print(
            f"{name:<28}{r['seconds']:>9.2f}{r['rss_mb']:>13.0f}{r['children_rss_mb']:>15.0f}"
            f"{r['seconds'] / walk:>8.2f}{r['seconds'] / walk_stat:>13.2f}"
            f"{r['seconds'] / read:>13.2f}"
        )
    one_pct = next(s for n, s in seconds.items() if n.startswith("sync, 1%"))
    print(f"\n1%-changed sync / no-change sync: {one_pct / no_change:.2f} (target < 2)")
    print(f"no-change sync / walk: {no_change / walk:.2f} (target < 1.3)")
    if not a.keep:
        db.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
