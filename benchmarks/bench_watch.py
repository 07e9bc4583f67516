"""Benchmark of the live watcher (issue 5): write-to-search latency; bursts with nothing lost.

The watcher runs as users run it, ``kino-catalog watch`` in its own process.
This process writes sidecars (as Kino would) and, in a thread, searches the
catalogue every few milliseconds, noting when each new frame first appears.

- latency: ``--writes`` sidecars at ``--rate`` per second into a library that
  already holds ``--existing`` frames; p50/p95/p99/max of write -> searchable
  (CLOCK_MONOTONIC is shared by all processes; the search poll adds up to
  ``POLL_SECONDS``).
- bursts: N sidecars written as fast as Python can; time until the catalogue
  holds them all, and how many sidecars on disk are missing from the index
  after the watcher settles (must be 0).

    python benchmarks/bench_watch.py --bursts 10000 100000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from kino_catalog import Catalog
from kino_catalog.testing.corpus import generate_corpus, make_record

POLL_SECONDS = 0.005
TEMPLATES = 64


class WatchProcess:
    """``kino-catalog watch`` in a subprocess; its log lines are collected."""

    def __init__(self, db: Path, root: Path, debounce_ms: int) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kino_catalog",
                "--db",
                str(db),
                "watch",
                "--debounce-ms",
                str(debounce_ms),
                str(root),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())

    def wait_for_line(self, text: str, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"watcher never logged {text!r}:\n" + "\n".join(self.lines))
            time.sleep(0.05)

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(60)


def templates(root: Path) -> list[dict[str, Any]]:
    """Realistic sidecars from the corpus generator, reused with fresh seeds (it is slow)."""
    return [make_record(5, i, TEMPLATES, 4, str(root))[1] for i in range(TEMPLATES)]


def write_sidecar(path: Path, doc: dict[str, Any], seed: int, project: int) -> None:
    doc = {**doc, "project_id": project, "parameters": {**doc["parameters"], "seed": seed}}
    with open(path, "wb") as out:
        out.write(json.dumps(doc, indent=2).encode())


def measure_latency(
    cat: Catalog, root: Path, docs: list[dict[str, Any]], writes: int, rate: float
) -> dict[str, float]:
    folder = root / "live"
    folder.mkdir()
    written: dict[int, float] = {}
    seen: dict[int, float] = {}
    done = threading.Event()

    def search_loop() -> None:
        while not done.is_set() or len(seen) < len(written):
            for frame in cat.search("project:4242", limit=None):
                seed = frame.to_dict()["seed"]
                seen.setdefault(seed, time.monotonic())
            time.sleep(POLL_SECONDS)
            if done.is_set() and time.monotonic() > deadline:
                return

    deadline = float("inf")
    searcher = threading.Thread(target=search_loop)
    searcher.start()
    start = time.monotonic()
    for i in range(writes):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        write_sidecar(
            folder / f"project_4242_frame_{i}_variant_0.json",
            docs[i % len(docs)],
            10_000_000 + i,
            4242,
        )
        written[10_000_000 + i] = time.monotonic()
    deadline = time.monotonic() + 30
    done.set()
    searcher.join()
    latencies = sorted(seen[s] - t for s, t in written.items() if s in seen)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "writes": writes,
        "rate_per_s": rate,
        "lost": writes - len(latencies),
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "p99_ms": q[98] * 1000,
        "max_ms": latencies[-1] * 1000,
    }


def measure_burst(
    cat: Catalog, root: Path, docs: list[dict[str, Any]], count: int, settle_timeout: float
) -> dict[str, float]:
    folder = root / f"burst_{count}"
    folder.mkdir()
    before = cat.count()
    start = time.monotonic()
    for i in range(count):
        write_sidecar(
            folder / f"project_4343_frame_{i}_variant_0.json",
            docs[i % len(docs)],
            20_000_000 + i,
            4343,
        )
    written_s = time.monotonic() - start
    deadline = start + settle_timeout
    while cat.count() < before + count and time.monotonic() < deadline:
        time.sleep(0.1)
    absorbed_s = time.monotonic() - start
    on_disk = {str(p) for p in folder.iterdir() if p.suffix == ".json"}
    indexed = {f.sidecar_path for f in cat.iter_search("project:4343")}
    lost = len(on_disk - indexed)
    return {
        "sidecars": count,
        "write_s": written_s,
        "absorbed_s": absorbed_s,
        "lost": lost,
        "absorbed_per_s": count / absorbed_s,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--existing", type=int, default=20_000, help="frames already in the library")
    ap.add_argument("--writes", type=int, default=300)
    ap.add_argument("--rate", type=float, default=10.0, help="latency writes per second")
    ap.add_argument("--bursts", type=int, nargs="*", default=[10_000])
    ap.add_argument("--debounce-ms", type=int, default=200)
    ap.add_argument("--settle-timeout", type=float, default=1800.0)
    ap.add_argument("--workdir", help="where to build the library (default: a temp folder)")
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-watch-"))
    root, db = work / "library", work / "catalog.db"
    root.mkdir(parents=True)
    t = time.monotonic()
    generate_corpus(root, args.existing, projects=20, jobs=2)
    docs = templates(root)
    with Catalog.open(db) as cat:
        cat.sync(root)
    print(f"library of {args.existing} frames ready in {time.monotonic() - t:.1f} s", flush=True)
    report: dict[str, object] = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu, "
        f"Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(sys.argv),
    }
    watcher = WatchProcess(db, root, args.debounce_ms)
    try:
        watcher.wait_for_line("reconciled")
        with Catalog.open(db) as cat:
            report["latency"] = measure_latency(cat, root, docs, args.writes, args.rate)
            print(json.dumps(report["latency"]), flush=True)
            bursts = []
            for count in args.bursts:
                bursts.append(measure_burst(cat, root, docs, count, args.settle_timeout))
                print(json.dumps(bursts[-1]), flush=True)
            report["bursts"] = bursts
    finally:
        code = watcher.stop()
    report["watcher_exit_code"] = code
    report["watcher_warnings"] = [line for line in watcher.lines if "WARNING" in line]
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
