"""`kino-catalog serve` over real HTTP: search pages, facets, thumbnails, a grid in Chromium.

    python benchmarks/bench_serve.py --db BIG.db [--images 300] [--repeat 30] [--scratch DIR]

Starts the real command (`kino-catalog serve`) in a child process and asks it
with a keep-alive HTTP client, one request at a time, as a browser tab would:

- the first page of every query shape of bench_query.py (the table in
  RESULTS.md) as the gallery asks for it (``count=0``: the page fetches the
  count apart, and counting is ``Catalog.count``, measured by bench_query),
  and a page deep in the results (cursor 20 pages in); the floor is the
  same ``Catalog.search`` in this process, so the ratio is what HTTP, JSON
  and the server add (GET /api/session gives the server's own floor);
- facets of each shape;
- thumbnails of real 1024x1024 PNGs (generated with Pillow in the scratch
  folder, a small catalogue of their own): cold (made on the first ask),
  cached, and ``kino-catalog thumbs`` on 1 and 2 processes; the floor is
  Pillow decoding the same PNG, which any thumbnail must do once;
- Chromium showing a grid of 100 cached thumbnails (a fresh browser context
  each time, so only the server's cache is warm);
- the server's peak RSS.

It only reports (no assertions); figures go in RESULTS.md with `uptime`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from kino_catalog import Catalog
from kino_catalog.testing.browser import CHROMIUM, CHROMIUM_ARGS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_query import shapes_for


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`kino-catalog serve` in a child process, and a keep-alive client to it."""

    def __init__(self, db: str, thumbs: Path) -> None:
        self.port = _free_port()
        command = [sys.executable, "-m", "kino_catalog", "--db", db, "serve"]
        command += ["--port", str(self.port), "--thumbnails", str(thumbs)]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                self.get("/api/session")
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.2)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
        self.connection.request("GET", path, headers=headers or {})
        answer = self.connection.getresponse()
        return answer.status, answer.read(), answer.headers

    def timed(self, path: str, headers: dict[str, str] | None = None) -> tuple[float, bytes, Any]:
        for attempt in (1, 2):
            start = time.perf_counter()
            try:
                status, body, found = self.get(path, headers)
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                # uvicorn closes a keep-alive connection idle for 5 s: reconnect, time again.
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        elapsed = (time.perf_counter() - start) * 1000
        if status not in (200, 304):
            raise RuntimeError(f"{path}: HTTP {status} {body[:200]!r}")
        return elapsed, body, found

    def rss_mb(self) -> tuple[float, float]:
        """(current, peak) resident memory of the server process in MB."""
        fields = {}
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def cpu_seconds(self) -> float:
        """CPU time the server process has used (user + system): steadier than wall
        time on a shared machine."""
        with open(f"/proc/{self.process.pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(") ", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.connection.close()
        self.process.terminate()
        self.process.wait(30)


def _pcts(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[
        min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))
    ]


def bench_search(server: Server, cat: Catalog, repeat: int) -> None:
    session = [server.timed("/api/session")[0] for _ in range(repeat)]
    s50, s95 = _pcts(session)
    print(f"\nHTTP floor, GET /api/session (no database): p50 {s50:.1f} ms, p95 {s95:.1f} ms")
    print(f"\n## /api/search first page (50 frames), {repeat} runs, ms")
    print(
        "| shape | library p50 | HTTP p50 | HTTP p95 | ratio | page 21 p95 "
        "| facets p50 | facets p95 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for shape in shapes_for(cat):
        if shape.mode != "first50":
            continue
        q = urllib.parse.quote(shape.query)
        floor = []
        for _ in range(repeat):
            start = time.perf_counter()
            cat.search(shape.query, limit=50)
            floor.append((time.perf_counter() - start) * 1000)
        plain = [server.timed(f"/api/search?count=0&q={q}")[0] for _ in range(repeat)]
        cursor = None
        for _ in range(20):  # walk 20 pages in, then time the 21st
            _, body, _ = server.timed(
                f"/api/search?count=0&q={q}" + (f"&cursor={cursor}" if cursor else "")
            )
            cursor = json.loads(body)["next_cursor"]
            if cursor is None:
                break
        deep = (
            [server.timed(f"/api/search?count=0&q={q}&cursor={cursor}")[0] for _ in range(repeat)]
            if cursor
            else [float("nan")]
        )
        facets = [server.timed(f"/api/facets?q={q}")[0] for _ in range(max(5, repeat // 3))]
        f50, _ = _pcts(floor)
        h50, h95 = _pcts(plain)
        _, d95 = _pcts(deep)
        a50, a95 = _pcts(facets)
        print(
            f"| {shape.name} | {f50:.1f} | {h50:.1f} | {h95:.1f} | {h50 / f50:.2f} "
            f"| {d95:.1f} | {a50:.0f} | {a95:.0f} |",
            flush=True,
        )


def make_pngs(folder: Path, count: int) -> list[Path]:
    """1024x1024 PNGs that compress like rendered images do (gradient plus noise)."""
    from PIL import Image, ImageChops

    folder.mkdir(parents=True, exist_ok=True)
    made = []
    base = Image.linear_gradient("L").resize((1024, 1024))
    for i in range(count):
        path = folder / f"project_1_frame_{i}_variant_0.png"
        made.append(path)
        if path.exists():
            continue
        noise = Image.effect_noise((1024, 1024), 12 + i % 8)
        bands = [ImageChops.add(base.rotate(90 * k), noise, scale=2.0) for k in range(3)]
        Image.merge("RGB", bands).save(path)
        doc = {
            "plugin": "sdxl",
            "plugin_version": "1.0.0",
            "timestamp": f"20250101_{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}",
            "task_id": 0,
            "parameters": {
                "prompt": f"benchmark image {i}",
                "seed": i,
                "width": 1024,
                "height": 1024,
            },
            "project_id": 1,
        }
        path.with_suffix(".json").write_text(json.dumps(doc), encoding="utf-8")
    return made


def bench_thumbnails(scratch: Path, images: int, repeat: int) -> None:
    from PIL import Image

    library = scratch / "pngs"
    pngs = make_pngs(library, images)
    db = str(scratch / "pngs.db")
    with Catalog.open(db) as cat:
        cat.sync(library)
        ids = [f.id for f in cat.search("", limit=None, sort="oldest")]
    size_mb = statistics.mean(p.stat().st_size for p in pngs) / 1e6
    decode = []
    for png in pngs[:repeat]:
        start = time.perf_counter()
        with Image.open(png) as im:
            im.load()
        decode.append((time.perf_counter() - start) * 1000)
    thumbs = scratch / "thumbs-serve"
    shutil.rmtree(thumbs, ignore_errors=True)
    server = Server(db, thumbs)
    try:
        cold = [server.timed(f"/api/frames/{i}/thumb?size=256")[0] for i in ids]
        used = server.cpu_seconds()
        cached = [server.timed(f"/api/frames/{i}/thumb?size=256")[0] for i in ids]
        cpu_ms = (server.cpu_seconds() - used) / len(ids) * 1000
        _, _, headers = server.timed(f"/api/frames/{ids[0]}/thumb?size=256")
        etag = headers["etag"]
        revalidated = [
            server.timed(f"/api/frames/{ids[0]}/thumb?size=256", {"If-None-Match": etag})[0]
            for _ in range(repeat)
        ]
        grid = grid_in_chromium(server, repeat=5)
        rss, peak = server.rss_mb()
    finally:
        server.stop()
    d50, d95 = _pcts(decode)
    c50, c95 = _pcts(cold)
    k50, k95 = _pcts(cached)
    r50, r95 = _pcts(revalidated)
    print(f"\n## Thumbnails of {images} 1024x1024 PNGs (mean {size_mb:.2f} MB), size 256, ms")
    print("| what | p50 | p95 |")
    print("| --- | ---: | ---: |")
    print(f"| floor: Pillow decodes the PNG (in process) | {d50:.1f} | {d95:.1f} |")
    print(f"| cold: first ask over HTTP (decode, resize, WebP, write) | {c50:.1f} | {c95:.1f} |")
    print(f"| cached: from the disk cache over HTTP | {k50:.2f} | {k95:.2f} |")
    print(f"| cached: server CPU per request (mean) | {cpu_ms:.2f} | |")
    print(f"| revalidated: If-None-Match -> 304 | {r50:.2f} | {r95:.2f} |")
    print(f"\nChromium, grid of 100 cached thumbnails fully shown (ms, 5 fresh contexts): {grid}")
    print(f"thumbnail server RSS: {rss:.0f} MB now, {peak:.0f} MB peak")
    for jobs in (1, 2):
        folder = scratch / f"thumbs-cli-{jobs}"
        shutil.rmtree(folder, ignore_errors=True)
        command = [sys.executable, "-m", "kino_catalog", "--db", db, "thumbs"]
        command += ["--jobs", str(jobs), "--thumbnails", str(folder)]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        elapsed = time.perf_counter() - start
        print(
            f"kino-catalog thumbs --jobs {jobs}: {images / elapsed:.1f} images/s ({elapsed:.1f} s)"
        )


def grid_in_chromium(server: Server, repeat: int) -> list[int]:
    """Milliseconds from navigation start until all 100 grid images have loaded."""
    from playwright.sync_api import sync_playwright

    found = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        for _ in range(repeat):
            context = browser.new_context(viewport={"width": 1920, "height": 4000})
            page = context.new_page()
            page.goto(server.url + "/?shown=100")
            deadline = time.monotonic() + 30
            while True:
                done = page.evaluate(
                    "(() => { const imgs = Array.from(document.querySelectorAll('#grid img'))"
                    ".slice(0, 100);"
                    " const done = imgs.every(i => i.complete && i.naturalWidth > 0);"
                    " return imgs.length >= 100 && done ? performance.now() : 0; })()"
                )
                if done or time.monotonic() > deadline:
                    break
                page.wait_for_timeout(5)
            found.append(round(done))
            context.close()
        browser.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db", required=True, help="a catalogue (e.g. of corpus-1m) for search/facets"
    )
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--scratch", default="benchmarks/.cache/serve")
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args()
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"uptime: {os.popen('uptime').read().strip()}")
    if not args.skip_search:
        with Catalog.open(args.db) as cat:
            print(f"catalogue: {cat.count():,} frames")
            server = Server(args.db, scratch / "thumbs-search")
            try:
                bench_search(server, cat, args.repeat)
                rss, peak = server.rss_mb()
                print(f"\nsearch server RSS: {rss:.0f} MB now, {peak:.0f} MB peak")
            finally:
                server.stop()
    bench_thumbnails(scratch, args.images, args.repeat)
    print(f"uptime: {os.popen('uptime').read().strip()}")


if __name__ == "__main__":
    main()
