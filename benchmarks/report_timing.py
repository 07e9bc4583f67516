"""Timing of reports (and of streamed regen batches) on a large catalogue, for RESULTS.md.

    python benchmarks/report_timing.py --db /tmp/c1m.db [--corpus DIR --frames N]
        [--runs 3] [--regen-frames N]

With ``--corpus`` the corpus is generated (if DIR does not exist) and synced
first.  Prints one line per measurement: wall seconds (best of --runs, after
one warm-up run so the page cache is warm, as DESIGN.md §8 measures) and, for
the regen stream, the peak RSS growth, which must not grow with the batch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from typing import TYPE_CHECKING

from kino_catalog import Catalog
from kino_catalog.report.render import FORMATS, render_report
from kino_catalog.testing.corpus import generate_corpus

if TYPE_CHECKING:
    from collections.abc import Callable


def _best(runs: int, work: Callable[[], object]) -> float:
    work()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--corpus")
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--regen-frames", type=int, default=0, help="also stream this many regen requests (0: skip)"
    )
    a = ap.parse_args(argv)
    print(
        f"# {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    with Catalog.open(a.db) as cat:
        if a.corpus:
            if not os.path.isdir(a.corpus):
                generate_corpus(a.corpus, a.frames, projects=20, jobs=os.cpu_count() or 1)
            start = time.perf_counter()
            cat.sync(a.corpus)
            print(f"sync: {time.perf_counter() - start:.1f} s")
        data = cat.report()
        print(f"frames: {data['summary']['frames']:,}  projects: {data['summary']['projects']}")
        whole = _best(a.runs, lambda: cat.report())
        print(f"report, whole catalogue: {whole:.2f} s")
        top_project = _largest_project(cat)
        if top_project is not None:
            seconds = _best(a.runs, lambda: cat.report(top_project))
            count = cat.count(f"project:{top_project}")
            print(f"report, project {top_project} ({count:,} frames): {seconds:.2f} s")
        for fmt in FORMATS:
            seconds = _best(a.runs, lambda fmt=fmt: render_report(data, fmt))
            print(f"render {fmt}: {seconds * 1000:.0f} ms")
        if a.regen_frames:
            before = _rss_mb()
            start = time.perf_counter()
            written = 0
            with open(os.devnull, "w") as sink:
                for request in cat.iter_regen(""):
                    sink.write(json.dumps(request, ensure_ascii=False) + "\n")
                    written += 1
                    if written >= a.regen_frames:
                        break
            seconds = time.perf_counter() - start
            print(
                f"regen stream: {written:,} requests in {seconds:.1f} s "
                f"({written / seconds:,.0f}/s), peak RSS {before:.0f} -> {_rss_mb():.0f} MB"
            )
    return 0


def _largest_project(cat: Catalog) -> int | None:
    from sqlalchemy import func, select

    from kino_catalog.schema import frames_table

    c = frames_table.c
    with cat.engine.connect() as conn:
        row = conn.execute(
            select(c.project_id)
            .where(c.project_id.is_not(None))
            .group_by(c.project_id)
            .order_by(func.count().desc())
            .limit(1)
        ).first()
    return None if row is None else int(row[0])


if __name__ == "__main__":
    sys.exit(main())
