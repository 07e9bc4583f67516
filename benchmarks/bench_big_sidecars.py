#!/usr/bin/env python3
"""What big imported sidecars cost, kept compressed (as import writes them) or verbatim.

Usage:
    python benchmarks/bench_big_sidecars.py [--frames 500] [--nodes 1500] [--work DIR]

The reading limit decision of issue 21 (keep 1 MiB and compress long raw
metadata, or raise the limit and keep the raw text verbatim) rests on these
figures, all measured in the same run, each catalogue operation in a fresh
process so that its peak RSS is its own:

  rebuild      of FRAMES imported ComfyUI sidecars of a graph of NODES extra
               nodes (~0.8 MB of prompt + workflow text), in each form; the
               reading limit is raised to 16 MiB in that process so that the
               verbatim form can be read at all
  page of 50   search + frame JSON of 50 of them (what the gallery and
               `search --format json` do per page)
  hostile      loads_exact of a file of ``[{},{},...]`` at 1 MiB and 16 MiB:
               what a limit lets a damaged or hostile file cost

and prints seconds, peak RSS, catalogue size and the ratio verbatim/compressed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kino_catalog.testing.comfy import sampler_graph, with_post_chain

HERE = Path(__file__).resolve().parent
RAISED_LIMIT = 16 * 1024 * 1024
# The catalogue only looks for the image file beside the sidecar, never decodes it.
PNG = b"\x89PNG\r\n\x1a\n"


def big_graph(nodes: int) -> dict[str, str]:
    """A ComfyUI API graph (``prompt``) and UI ``workflow``: one sampler, a long post chain."""
    graph, workflow = with_post_chain(sampler_graph(1), nodes)
    return {"prompt": json.dumps(graph), "workflow": json.dumps(workflow)}


def make_folders(work: Path, frames: int, nodes: int) -> dict[str, int]:
    """Write FRAMES sidecars in each form; returns the bytes of one sidecar per form."""
    sys.path.insert(0, str(HERE.parent))
    from kino_catalog.importers.dispatch import detect
    from kino_catalog.importers.document import build_document, encode_checked, raw_texts
    from kino_catalog.sidecar import dumps_sidecar

    texts = big_graph(nodes)
    found = detect(texts)
    if found is None:
        raise RuntimeError("the graph was not recognised as ComfyUI metadata")
    doc = build_document(
        image_path="/imports/g.png",
        image_name="g.png",
        fmt=found.format,
        parsed=found.parsed,
        timestamp="20261202_030000",
        raw=texts,
        sha256="0" * 64,
        error=found.error,
    )
    compressed = json.loads(encode_checked(doc, "/imports/g.json"))
    verbatim = json.loads(json.dumps(compressed))
    verbatim["imported"]["raw"] = raw_texts(compressed["imported"])
    del verbatim["imported"]["raw_compressed"]
    sizes = {}
    for form, one in (("compressed", compressed), ("verbatim", verbatim)):
        folder = work / form
        folder.mkdir(parents=True)
        for i in range(frames):
            name = f"comfy_{i:05d}"
            one["output"]["filename"] = name + ".png"
            one["parameters"]["seed"] = i
            data = dumps_sidecar(one)
            (folder / f"{name}.json").write_bytes(data)
            (folder / f"{name}.png").write_bytes(PNG)
        sizes[form] = len(data)
    sizes["raw text"] = sum(len(t) for t in texts.values())
    return sizes


def _op_rebuild(folder: str, db: str) -> dict[str, float]:
    import kino_catalog.index.file_rows as file_rows
    import kino_catalog.sidecar.kino as kino

    kino.MAX_SIDECAR_BYTES = file_rows.MAX_SIDECAR_BYTES = RAISED_LIMIT  # type: ignore[misc]
    from kino_catalog import Catalog

    started = time.perf_counter()
    with Catalog.open(db) as cat:
        result = cat.rebuild(folder)
        rebuild = time.perf_counter() - started
        started = time.perf_counter()
        page = [frame.to_dict() for frame in cat.search("plugin:comfyui", limit=50)]
        shown = time.perf_counter() - started
    if result.errors or len(page) != 50:
        raise RuntimeError(f"not what was written: {result.as_dict()}, page of {len(page)}")
    size = sum(os.path.getsize(db + s) for s in ("", "-wal") if os.path.exists(db + s))
    return {"rebuild_s": rebuild, "page50_s": shown, "db_mb": size / 1e6}


def _op_hostile(mib: str, _: str) -> dict[str, float]:
    import kino_catalog.sidecar.kino as kino

    limit = int(mib) * 1024 * 1024
    kino.MAX_SIDECAR_BYTES = limit  # type: ignore[misc]
    data = b"[" + b"{}," * (limit // 3 - 1) + b"{}]"
    started = time.perf_counter()
    kino.loads_exact(data, "hostile.json")
    return {"parse_s": time.perf_counter() - started}


def run_op() -> None:
    """Child mode: one operation; prints its figures and peak RSS as JSON."""
    op, a, b = sys.argv[2:5]
    figures = (_op_rebuild if op == "rebuild" else _op_hostile)(a, b)
    figures["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def measure(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--_op", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=HERE.parent,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--_op":
        run_op()
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--nodes", type=int, default=1500)
    ap.add_argument("--work", type=Path, help="scratch folder (a temporary one if not given)")
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="kino-big-"))
    shutil.rmtree(work / "compressed", ignore_errors=True)
    shutil.rmtree(work / "verbatim", ignore_errors=True)
    sizes = make_folders(work, a.frames, a.nodes)
    rows = {}
    for form in ("compressed", "verbatim"):
        db = work / f"{form}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        rows[form] = measure("rebuild", str(work / form), str(db))
    hostile = {mib: measure("hostile", mib, "-") for mib in ("1", "16")}
    print(
        f"\n{a.frames} imported ComfyUI sidecars, graph of {a.nodes} extra nodes "
        f"({sizes['raw text']:,} bytes of raw text); {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(
        f"{'form':<12}{'sidecar bytes':>14}{'rebuild s':>11}{'page of 50 s':>14}"
        f"{'catalogue MB':>14}{'peak RSS MB':>13}"
    )
    for form, r in rows.items():
        print(
            f"{form:<12}{sizes[form]:>14,}{r['rebuild_s']:>11.2f}{r['page50_s']:>14.3f}"
            f"{r['db_mb']:>14.0f}{r['rss_mb']:>13.0f}"
        )
    c, v = rows["compressed"], rows["verbatim"]
    print(
        f"verbatim / compressed: rebuild {v['rebuild_s'] / c['rebuild_s']:.2f}, page "
        f"{v['page50_s'] / c['page50_s']:.2f}, catalogue {v['db_mb'] / c['db_mb']:.2f}"
    )
    for mib, r in hostile.items():
        print(
            f"hostile file of {mib:>2} MiB ([{{}},{{}},...]): {r['parse_s']:.2f} s, "
            f"peak RSS {r['rss_mb']:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
