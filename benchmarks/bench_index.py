#!/usr/bin/env python3
"""Benchmark rebuild and sync against floors and a peer, all measured in the same run.

Usage:
    pip install -e '.[bench]'   # sqlite-utils, the peer
    python benchmarks/bench_index.py --frames 100000 [--corpus DIR] [--work DIR]
        [--repeat N] [--rebuilds N] [--keep] [--no-change-step]

Generates (or reuses) a deterministic corpus with kino_catalog.testing.corpus, warms
the page cache, then measures, each in a fresh process so that peak RSS is
the operation's own:

  floors   walk        os.scandir of the tree (names only)
           walk+stat   the same plus one stat per sidecar (what any sync must do)
           read+json   read every sidecar and json.loads it, one process
  peer     sqlite-utils  the corpus as NDJSON (seeds >= 2**63 as strings, which it
                         cannot store otherwise), `insert --nl --flatten --alter`,
                         then `enable-fts` on the prompts
  ours     rebuild             from scratch, into an empty catalogue (--rebuilds N: N times,
                               each right after a read+json run, into a new catalogue)
           sync, no change     right after the rebuild, N times, alternating with walk+stat
           sync, 1% changed    after rewriting 1% of the sidecars (this WRITES INTO the
                               corpus: skipped with --no-change-step)
           rebuild over the catalogue   the old rows deleted in the same transaction
  CLI      start-up            `kino-catalog --help`
           sync, no change     the whole `kino-catalog sync` process

Our operations are timed from the call (Catalog.open, i.e. imports and the
schema check, is reported apart as "open").  The machine may be shared: the
load average is printed beside the figures, the no-change sync and its floor
are measured N times alternately, and ratios are taken from the same run.
On a machine whose speed drifts, ``--rebuilds 3`` pairs each rebuild with a
read+json run just before it and reports the median of the pairs' ratios.
Targets (DESIGN.md §8): at 100k, rebuild <= 3 x read+json and >= 1.5 x faster
than sqlite-utils; no-change sync <= 1.3 x walk+stat; at 1M, rebuild < 30 s and
< 500 MB; 1%-changed sync < 2 x no-change sync.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# The checkout this script is in, ahead of any installed kino_catalog: an editable
# install made from another checkout would otherwise be what gets measured (the
# child operations import it too, as they run this file).
sys.path.insert(0, str(HERE.parent))
_INT64 = 2**63


def _sidecars(corpus: str) -> Any:
    """Every ``*.json`` path under ``corpus`` (os.scandir, symlinks not followed)."""
    stack = [corpus]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.name.endswith(".json"):
                    yield entry
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)


def _op_walk(corpus: str, with_stat: bool) -> None:
    stack = [corpus]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.name.endswith(".json"):
                    if with_stat:
                        entry.stat(follow_symlinks=False)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)


def _op_read_json(corpus: str) -> None:
    for entry in _sidecars(corpus):
        with open(entry.path, "rb") as fh:
            data = fh.read()
        try:
            json.loads(data)
        except ValueError:
            pass  # the corpus holds a few broken sidecars on purpose


def _strings_for_big_ints(value: Any) -> Any:
    """Integers outside SQLite's 64 bits as strings: sqlite-utils stops at the first otherwise."""
    if type(value) is int and not -_INT64 <= value < _INT64:
        return str(value)
    if type(value) is dict:
        return {k: _strings_for_big_ints(v) for k, v in value.items()}
    if type(value) is list:
        return [_strings_for_big_ints(v) for v in value]
    return value


def _op_ndjson(corpus: str, out: str) -> None:
    """The peer's input: one line per parseable sidecar (sqlite-utils reads no folders)."""
    with open(out, "w", encoding="utf-8") as fh:
        for entry in _sidecars(corpus):
            with open(entry.path, "rb") as src:
                data = src.read()
            try:
                doc = json.loads(data)
            except ValueError:
                continue
            if isinstance(doc, dict):
                fh.write(json.dumps(_strings_for_big_ints(doc), ensure_ascii=False))
                fh.write("\n")


def _op_sqlite_utils(args: list[str]) -> None:
    from sqlite_utils.cli import cli

    cli.main(args, standalone_mode=False)


def _op_catalog(corpus: str, db: str, action: str) -> tuple[float, float]:
    """Run a rebuild or sync; returns the wall and CPU seconds of opening (imports, schema)."""
    started, cpu = time.perf_counter(), time.process_time()
    from kino_catalog import Catalog

    with Catalog.open(db) as cat:
        opened, opened_cpu = time.perf_counter(), time.process_time()
        result = cat.rebuild(corpus) if action == "rebuild" else cat.sync(corpus)
        print(json.dumps(result.as_dict()), file=sys.stderr)
    return opened - started, opened_cpu - cpu


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children (readers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_op() -> None:
    """Child mode: run one operation, print {"seconds", "cpu", "rss_mb", ...} as JSON."""
    op, corpus, db = sys.argv[2], sys.argv[3], sys.argv[4]
    if op == "change":
        print(json.dumps({"changed": change_one_percent(Path(corpus))}))
        return
    ndjson = db + ".ndjson"
    peer_db = db + ".sqlite-utils.db"
    opening = opening_cpu = 0.0
    cpu_before = _cpu()
    started = time.perf_counter()
    if op in ("walk", "walk+stat"):
        _op_walk(corpus, op == "walk+stat")
    elif op == "read+json":
        _op_read_json(corpus)
    elif op == "su-ndjson":
        _op_ndjson(corpus, ndjson)
    elif op == "su-insert":
        _op_sqlite_utils(["insert", peer_db, "frames", ndjson, "--nl", "--flatten", "--alter"])
    elif op == "su-fts":
        columns = ["parameters_prompt", "parameters_negative_prompt"]
        _op_sqlite_utils(["enable-fts", peer_db, "frames", *columns])
    else:
        opening, opening_cpu = _op_catalog(corpus, db, op)
    seconds = time.perf_counter() - started - opening
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "open": opening,
                # CPU seconds of this process and its (reader) children, opening excluded.
                "cpu": _cpu() - cpu_before - opening_cpu,
                "rss_mb": own.ru_maxrss / 1024,
                "children_rss_mb": children.ru_maxrss / 1024,
            }
        )
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


def _discard(db: Path) -> None:
    """Remove a catalogue and what SQLite and the locks keep beside it."""
    for path in db.parent.glob(db.name + "*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def wall(command: list[str]) -> dict[str, float]:
    """Wall seconds of a whole command (a CLI process, start-up included)."""
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=HERE.parent)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "open": 0.0, "rss_mb": float("nan")}


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


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--_op":
        run_op()
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--corpus", type=Path, help="corpus folder (generated if missing)")
    ap.add_argument("--work", type=Path, help="folder for the catalogues (default: a temp dir)")
    ap.add_argument("--repeat", type=int, default=5, help="no-change syncs (and floors) to run")
    ap.add_argument(
        "--rebuilds", type=int, default=1, help="rebuilds, each paired with a read+json run"
    )
    ap.add_argument("--keep", action="store_true", help="keep the catalogue files")
    ap.add_argument(
        "--no-change-step",
        action="store_true",
        help="skip the 1%%-changed sync (it rewrites sidecars of the corpus)",
    )
    ap.add_argument("--no-peer", action="store_true", help="skip sqlite-utils")
    a = ap.parse_args()
    corpus = a.corpus or HERE / "data" / f"corpus-{a.frames}"
    if not corpus.exists():
        from kino_catalog.testing.corpus import generate_corpus

        print(f"generating {a.frames} sidecars in {corpus} ...", file=sys.stderr)
        generate_corpus(corpus, a.frames, png=True, jobs=os.cpu_count() or 1, invalid_rate=0.001)
    # Absolute: the child operations run in the repository (cwd), not where this was started.
    work = Path(tempfile.mkdtemp(prefix="kino-bench-", dir=a.work)).resolve()
    db = work / "bench.db"
    loads = [_load()]
    print(f"started, {loads[0]}", file=sys.stderr)
    measure("walk+stat", corpus, db)  # warm the page cache
    measure("read+json", corpus, db)
    rows: list[tuple[str, dict[str, float]]] = [("walk", measure("walk", corpus, db))]
    rows.append(("read+json", measure("read+json", corpus, db)))
    rows.append(("rebuild", measure("rebuild", corpus, db)))
    peer = 0.0
    if not a.no_peer:
        for op, name in (
            ("su-ndjson", "sqlite-utils: to NDJSON"),
            ("su-insert", "sqlite-utils: insert --nl --flatten"),
            ("su-fts", "sqlite-utils: enable-fts"),
        ):
            rows.append((name, measure(op, corpus, db)))
            peer += rows[-1][1]["seconds"]
    rows.append(("read+json (again)", measure("read+json", corpus, db)))
    pairs = [(rows[1][1], rows[2][1])]  # (read+json, rebuild) run back to back
    for i in range(1, a.rebuilds):
        floor = measure("read+json", corpus, db)
        fresh = work / f"rebuild-{i}.db"
        pairs.append((floor, measure("rebuild", corpus, fresh)))
        rows += [("read+json", floor), ("rebuild", pairs[-1][1])]
        _discard(fresh)
    print(f"rebuild and peer done, {_load()}", file=sys.stderr)
    floors, syncs = [], []
    for _ in range(a.repeat):
        floors.append(measure("walk+stat", corpus, db))
        syncs.append(measure("sync", corpus, db))
    rows += [("walk+stat", r) for r in floors] + [("sync, no change", r) for r in syncs]
    script = Path(sys.executable).with_name("kino-catalog")  # this environment's CLI
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "kino_catalog"]
    rows.append(("CLI start-up (--help)", wall([*cli, "--help"])))
    rows.append(("CLI sync, no change", wall([*cli, "--db", str(db), "sync", str(corpus)])))
    if not a.no_change_step:
        changed = int(measure("change", corpus, db)["changed"])
        rows.append((f"sync, 1% changed ({changed})", measure("sync", corpus, db)))
        rows.append(("sync, no change (again)", measure("sync", corpus, db)))
    rows.append(("rebuild over the catalogue", measure("rebuild", corpus, db)))
    loads.append(_load())

    def median(name: str, key: str = "seconds") -> float:
        return statistics.median(r[key] for n, r in rows if n == name)

    def least(name: str, key: str = "seconds") -> float:
        return min(r[key] for n, r in rows if n == name)

    read = statistics.mean([median("read+json"), median("read+json (again)")])
    walk_stat = median("walk+stat")
    print(
        f"\n{a.frames:,} sidecars in {corpus}, {platform.machine()} x{os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}\n"
        f"{loads[0]} at the start, {loads[1]} at the end"
    )
    print(
        f"{'what':<40}{'seconds':>9}{'CPU s':>8}{'open s':>8}{'RSS MB':>8}{'workers MB':>11}"
        f"{'x walk+stat':>12}{'x read+json':>12}"
    )
    for name, r in rows:
        print(
            f"{name:<40}{r['seconds']:>9.2f}{r.get('cpu', float('nan')):>8.2f}"
            f"{r['open']:>8.2f}{r['rss_mb']:>8.0f}{r.get('children_rss_mb', 0):>11.0f}"
            f"{r['seconds'] / walk_stat:>12.2f}{r['seconds'] / read:>12.2f}"
        )
    rebuild = median("rebuild")
    no_change = median("sync, no change")
    print(f"\nread+json floor (mean of the two runs): {read:.2f} s")
    print(f"rebuild / read+json: {rebuild / read:.2f} (target <= 3, goal 1.5)")
    if len(pairs) > 1:
        ratios = [b["seconds"] / f["seconds"] for f, b in pairs]
        cpu_ratios = [b["cpu"] / f["cpu"] for f, b in pairs]
        print(
            f"rebuild / read+json, median of {len(pairs)} back-to-back pairs: "
            f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}); "
            f"CPU seconds: {statistics.median(cpu_ratios):.2f}"
        )
    if peer:
        insert_fts = median("sqlite-utils: insert --nl --flatten") + median(
            "sqlite-utils: enable-fts"
        )
        print(
            f"sqlite-utils / rebuild: {peer / rebuild:.2f} with its NDJSON step, "
            f"{insert_fts / rebuild:.2f} without (target >= 1.5)"
        )
    print(
        f"no-change sync / walk+stat, median of {a.repeat} alternating runs: "
        f"{no_change / walk_stat:.2f}; best against best: "
        f"{least('sync, no change') / least('walk+stat'):.2f}; CPU seconds: "
        f"{median('sync, no change', 'cpu') / median('walk+stat', 'cpu'):.2f} "
        "(target <= 1.3)"
    )
    if not a.no_change_step:
        one_pct = next(r["seconds"] for n, r in rows if n.startswith("sync, 1%"))
        print(f"1%-changed sync / no-change sync: {one_pct / no_change:.2f} (target < 2)")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
