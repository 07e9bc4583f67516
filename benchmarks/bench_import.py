#!/usr/bin/env python3
"""Benchmark `kino-catalog import` against floors measured in the same run.

Usage:
    python benchmarks/bench_import.py [--images 2000] [--image-kb 1200] [--runs 3] [--keep DIR]

Writes a folder of PNGs that carry real-sized metadata (half A1111 infotext,
half a ComfyUI prompt + workflow pair) and a pixel payload of about
``--image-kb`` (real SDXL PNGs are 1-2 MB), warms the page cache, then
measures, best of ``--runs``:

  floors   read       read every image whole, one process
           read+hash  the same plus sha256 (an import records the image's hash)
  ours     import, 2 processes, sidecars written (the library call, no index)
           import + index (Catalog.import_images into a new SQLite catalogue)

and prints images/s and ratios to the floors.  Target (DESIGN.md §8): >= 500
images/s on 2 cores.  Figures go in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kino_catalog import Catalog  # noqa: E402
from kino_catalog.importers import import_paths  # noqa: E402
from kino_catalog.testing.comfy import sampler_graph  # noqa: E402


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _infotext(rng: random.Random) -> dict[str, str]:
    lora = rng.choice(["add_detail", "film_grain", "detail_tweaker", "epi_noise"])
    text = (
        f"masterpiece, best quality, portrait of a knight {rng.randint(0, 10**6)}, "
        f"<lora:{lora}:{rng.random():.2f}>\nNegative prompt: blurry, lowres\n"
        f"Steps: {rng.randint(20, 40)}, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6, "
        f"Seed: {rng.randint(0, 2**32)}, Size: 1024x1024, Model hash: 45a21ea00a, "
        f'Model: sdxl_base, Lora hashes: "{lora}: 1234abcd", Version: v1.10.1'
    )
    return {"parameters": text}


def _comfy(rng: random.Random) -> dict[str, str]:
    graph = sampler_graph(rng.randint(0, 2**64 - 1), lora="add_detail.safetensors")
    # A UI workflow of the usual size (10-20 KB) rides along in real files.
    workflow = {
        "nodes": [{"id": i, "type": "Node", "widgets_values": ["x" * 400]} for i in range(30)]
    }
    return {"prompt": json.dumps(graph), "workflow": json.dumps(workflow)}


def make_corpus(folder: Path, images: int, image_kb: int) -> None:
    rng = random.Random(17)
    folder.mkdir(parents=True, exist_ok=True)
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", 1024, 1024, 8, 2, 0, 0, 0))
    # Incompressible bytes in 8 KB IDAT chunks, as libpng writes them: the
    # chunk walker must seek past ~150 of them per image.
    payload = rng.randbytes(image_kb * 1024)
    idat = b"".join(_chunk(b"IDAT", payload[i : i + 8192]) for i in range(0, len(payload), 8192))
    for index in range(images):
        texts = _infotext(rng) if index % 2 == 0 else _comfy(rng)
        chunks = b"".join(
            _chunk(b"tEXt", key.encode() + b"\0" + value.encode()) for key, value in texts.items()
        )
        data = b"\x89PNG\r\n\x1a\n" + ihdr + chunks + idat + _chunk(b"IEND", b"")
        (folder / f"img_{index:06d}.png").write_bytes(data)


def _images(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png"))


def floor_read(folder: Path, *, with_hash: bool) -> None:
    for path in _images(folder):
        data = path.read_bytes()
        if with_hash:
            hashlib.sha256(data).digest()


def _remove_sidecars(folder: Path) -> None:
    for path in folder.glob("*.json"):
        path.unlink()


def best(runs: int, setup, action) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        setup()
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--image-kb", type=int, default=1200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the corpus here and keep it")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    folder = args.keep or work / "images"
    try:
        if not _images(folder):
            make_corpus(folder, args.images, args.image_kb)
        count = len(_images(folder))
        _remove_sidecars(folder)
        floor_read(folder, with_hash=False)  # warm the page cache
        noop = lambda: None  # noqa: E731
        results = {
            "read (floor)": best(args.runs, noop, lambda: floor_read(folder, with_hash=False)),
            "read+hash (floor)": best(args.runs, noop, lambda: floor_read(folder, with_hash=True)),
        }

        def run_import() -> None:
            report = import_paths([folder])
            assert sum(report.written.values()) == count, report.as_dict()

        results["import, 2 processes"] = best(
            args.runs, lambda: _remove_sidecars(folder), run_import
        )
        db = work / "catalog.db"

        def fresh() -> None:
            _remove_sidecars(folder)
            for path in work.glob("catalog.db*"):
                path.unlink()

        def run_catalog() -> None:
            with Catalog.open(db) as cat:
                result = cat.import_images([folder])
                assert result.indexed[0].added == count

        results["import + index"] = best(args.runs, fresh, run_catalog)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()
    print(
        f"{count} PNGs of ~{args.image_kb} KB, best of {args.runs}; Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f}"
    )
    read, read_hash = results["read (floor)"], results["read+hash (floor)"]
    print(f"{'what':28} {'seconds':>8} {'images/s':>9} {'x read':>7} {'x read+hash':>11}")
    for name, seconds in results.items():
        print(
            f"{name:28} {seconds:8.2f} {count / seconds:9.0f} "
            f"{seconds / read:7.2f} {seconds / read_hash:11.2f}"
        )


if __name__ == "__main__":
    main()
