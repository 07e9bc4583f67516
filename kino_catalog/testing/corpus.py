"""The project's deterministic generator of realistic Kino sidecar corpora (tests, benchmarks).

Stdlib only (it imports nothing from kino_catalog but its vocabulary,
``corpus_vocabulary``), so it runs anywhere:

    python -m kino_catalog.testing.corpus OUT_DIR --frames N [--projects P] [--seed S]
        [--png] [--jobs J] [--invalid-rate R] [--indent K]

Layout: OUT_DIR/project_{pid}/project_{pid}_frame_{fid}_variant_0.json, and for
``wan22_i2v`` frames ``..._variant_0_seq_000.json`` (one sidecar per PNG sequence,
beside its first image). Frame ``i`` (0-based) gets its own RNG derived from
``(seed, i)``, so the bytes written depend only on the arguments, never on
``jobs``. File modification times are the frame's generation time (local time).

The mix follows what real Kino writes (see DESIGN.md section 1):
  * ~90% ``sdxl`` (steps, cfg_scale, sampler, scheduler, ``loras`` with
    strength_model/strength_clip, num_variants) and ~10% ``wan22_i2v``
    (num_frames, total_frames, num_variants, ``high_loras``/``low_loras``
    without strength_clip, no steps/cfg_scale/sampler);
  * timestamp ~50% null, ~45% ``YYYYMMDD_HHMMSS``, ~5% ``"regenerated"`` (then a
    ``frame_id`` key and no task_id/project_id); task_id 0 in ~70%;
  * Zipf-distributed models, LoRAs and prompt words, prompt weights such as
    ``(word:1.2)``, ~4% non-ASCII prompts, ~5% carrying one of 50,000 rare words;
  * ~1% of seeds in [2**63, 2**64); ~2% of frames lack 1-3 optional keys;
  * ~4% of LoRA uses spell the name differently (``Add_Detail``,
    ``loras/add_detail.pt``, ``add_detail``, ``add-detail.safetensors``).
Non-ASCII text is written raw UTF-8 in about half the files and ``\\uXXXX``-escaped
(Python's ``json.dump`` default, as Kino does) in the other half.

``png=True`` writes a tiny valid 8x8 PNG per image; for a wan22 sequence only the
first ``min(total_frames, 3)`` images (``_seq_000`` .. ``_seq_002``) are written,
to keep the corpus small. ``invalid_rate`` replaces exactly ``round(frames * rate)``
sidecars, chosen deterministically, with broken files of the kinds in
``INVALID_KINDS``.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import functools
import json
import os
import random
import struct
import sys
import time
import zlib
from dataclasses import dataclass
from multiprocessing import Pool
from typing import Any

from kino_catalog.testing.corpus_vocabulary import (
    NEGATIVES,
    QUALITY_PREFIX,
    SAMPLERS,
    SDXL_SIZES,
    TABLES,
    UNICODE_PHRASES,
    WAN_MODELS,
    WAN_SIZES,
    pick,
    zipf_cum,
)

__all__ = [
    "INVALID_KINDS",
    "PNG_8X8",
    "CorpusSummary",
    "generate_corpus",
    "invalid_indices",
    "main",
    "make_invalid",
    "make_record",
]

EPOCH_START = dt.datetime(2024, 1, 1)
SPAN_SECONDS = 2 * 365 * 24 * 3600  # generation times spread over two years
OPTIONAL_PARAM_KEYS = (
    "negative_prompt",
    "sampler",
    "cfg_scale",
    "steps",
    "loras",
    "high_loras",
    "low_loras",
    "width",
    "height",
)
OPTIONAL_TOP_KEYS = ("plugin_version", "project_id", "output")
INVALID_KINDS = (
    "truncated",
    "steps_as_string",
    "loras_as_object",
    "top_level_array",
    "non_utf8",
    "empty",
)
WAN_PNGS_WRITTEN = 3  # images written per wan22 sequence with png=True


@functools.cache
def _project_cum(projects: int) -> list[float]:
    return zipf_cum(projects, 0.8)


def _frame_rng(seed: int, i: int, stream: str = "record") -> random.Random:
    """An RNG for frame i that depends only on (seed, i, stream)."""
    return random.Random(f"kino-corpus:{stream}:{seed}:{i}")


# ---------------------------------------------------------------- records
def _prompt(r: random.Random) -> str:
    t = TABLES
    n_words = r.randint(10, 60)
    phrases: list[str] = []
    if r.random() < 0.6:
        k = r.randint(1, 3)
        phrases.extend(r.sample(QUALITY_PREFIX, k))
        n_words -= k
    words = r.choices(t.vocab, cum_weights=t.vocab_cum, k=n_words)
    while words:
        k = r.choice((1, 1, 2, 2, 2, 3, 3, 4))
        phrase, words = " ".join(words[:k]), words[k:]
        x = r.random()
        if x < 0.08:
            phrase = f"({phrase}:{r.choice((0.8, 0.9, 1.1, 1.2, 1.3, 1.4, 1.5))})"
        elif x < 0.10:
            phrase = f"(({phrase}))"
        phrases.append(phrase)
    if r.random() < 0.05:
        phrases.insert(r.randrange(len(phrases) + 1), "by " + r.choice(t.rare))
    if r.random() < 0.04:
        phrases.insert(r.randrange(len(phrases) + 1), r.choice(UNICODE_PHRASES))
    return ", ".join(phrases)


def _seed(r: random.Random) -> int:
    x = r.random()
    if x < 0.01:
        return r.randrange(2**63, 2**64)  # ComfyUI seeds reach 2**64-1
    if x < 0.05:
        return r.randrange(2**32, 2**63)
    return r.randrange(2**32)


def _lora_name(r: random.Random) -> str:
    """A Zipf-picked LoRA file name, ~4% of the time written in another form."""
    name = pick(r, TABLES.loras, TABLES.loras_cum)
    if r.random() >= 0.04:
        return name
    stem = name.removesuffix(".safetensors")
    return r.choice(
        (
            stem,  # add_detail
            "_".join(p[:1].upper() + p[1:] for p in stem.split("_")),  # Add_Detail
            f"loras/{stem}.pt",  # loras/add_detail.pt
            stem.replace("_", "-") + ".safetensors",  # add-detail.safetensors
        )
    )


def _sdxl_params(r: random.Random) -> dict[str, Any]:
    w, h = pick(r, SDXL_SIZES, TABLES.sizes_cum)
    return {
        "prompt": _prompt(r),
        "negative_prompt": r.choice(NEGATIVES),
        "width": w, "height": h,
        "steps": r.randint(10, 60),
        "cfg_scale": round(r.uniform(1.0, 12.0) * 2) / 2,
        "sampler": pick(r, SAMPLERS, TABLES.samplers_cum),
        "scheduler": r.choice(("sgm_uniform", "sgm_uniform", "karras", "normal")),
        "seed": _seed(r),
        "model_name": pick(r, TABLES.models, TABLES.models_cum),
        "loras": [{"lora_name": _lora_name(r),
                   "strength_model": round(r.choice((1.0, 1.0, 0.8, r.uniform(0.2, 1.5))), 2),
                   "strength_clip": round(r.choice((1.0, 1.0, r.uniform(0.2, 1.5))), 2)}
                  for _ in range(r.choice((0, 0, 1, 1, 1, 2, 2, 3, 4)))],
        "num_variants": 1,
    }  # fmt: skip


def _wan_params(r: random.Random) -> dict[str, Any]:
    w, h = r.choice(WAN_SIZES)
    nf = r.choice((49, 81, 81, 81, 121))

    def lora_list(counts: tuple[int, ...]) -> list[dict[str, Any]]:
        return [
            {"lora_name": _lora_name(r), "strength_model": round(r.uniform(0.3, 1.5), 2)}
            for _ in range(r.choice(counts))
        ]

    return {
        "prompt": _prompt(r),
        "negative_prompt": r.choice(NEGATIVES),
        "width": w, "height": h,
        "num_frames": nf,
        "seed": _seed(r),
        "model_name": r.choice(WAN_MODELS),
        "num_variants": r.choice((1, 1, 1, 2, 4)),
        "total_frames": nf,
        "high_loras": lora_list((0, 1, 1, 2, 3)),
        "low_loras": lora_list((0, 1, 1, 2)),
    }  # fmt: skip


def _make(
    seed: int, i: int, n: int, projects: int, out_root: str
) -> tuple[str, dict[str, Any], float]:
    """(relative sidecar path, record, mtime as a POSIX timestamp) for frame i of n."""
    r = _frame_rng(seed, i)
    frame_id = i + 1
    task_id = 0 if r.random() < 0.7 else frame_id  # Kino passes 0; other writers fill it
    # monotonic-ish over two years, with jitter inside each frame's slot
    slot = SPAN_SECONDS / max(n, 1)
    t = EPOCH_START + dt.timedelta(seconds=int(slot * i + r.uniform(0, slot)))
    pid = 1 + bisect.bisect(_project_cum(projects), r.random() * _project_cum(projects)[-1])
    rel_dir = f"project_{pid}"
    stem = f"project_{pid}_frame_{frame_id}_variant_0"

    if r.random() < 0.10:
        params = _wan_params(r)
        stem += "_seq_000"  # one sidecar per PNG sequence, beside its first image
        plugin, version = "wan22_i2v", r.choice(("1.0.0", "1.0.0", "1.1.0"))
    else:
        params = _sdxl_params(r)
        plugin, version = "sdxl", r.choice(("1.0.0", "1.0.0", "1.1.0", "1.2.3"))
    fname = stem + ".png"

    x = r.random()
    timestamp = None if x < 0.5 else "regenerated" if x < 0.55 else t.strftime("%Y%m%d_%H%M%S")
    rec: dict[str, Any] = {
        "plugin": plugin,
        "plugin_version": version,
        "parameters": params,
        "variants": params["num_variants"],
        "output": {"filename": fname, "path": os.path.join(out_root, rel_dir, fname)},
        "timestamp": timestamp,
    }
    if timestamp == "regenerated":  # Kino's in-place regeneration drops task/project ids
        rec["frame_id"] = frame_id
    else:
        rec["task_id"] = task_id
        rec["project_id"] = pid
    if r.random() < 0.02:  # ~2% lack some optional keys
        for _ in range(r.randint(1, 3)):
            if r.random() < 0.7:
                params.pop(r.choice(OPTIONAL_PARAM_KEYS), None)
            else:
                rec.pop(r.choice(OPTIONAL_TOP_KEYS), None)
    return f"{rel_dir}/{stem}.json", rec, t.timestamp()


def make_record(
    seed: int, i: int, n: int, projects: int, out_root: str
) -> tuple[str, dict[str, Any]]:
    """Return (relative sidecar path, record) for frame i (0-based) of n, without disk I/O."""
    rel, rec, _ = _make(seed, i, n, projects, out_root)
    return rel, rec


@functools.cache
def invalid_indices(seed: int, frames: int, rate: float) -> frozenset[int]:
    """The frames replaced by broken files: exactly round(frames * rate) of them."""
    k = min(frames, round(frames * rate))
    return frozenset(random.Random(f"kino-corpus:invalid:{seed}").sample(range(frames), k))


def make_invalid(seed: int, i: int, record: dict[str, Any], data: bytes) -> tuple[str, bytes]:
    """(kind, bytes) of a broken sidecar replacing frame i (data: its valid encoding)."""
    kind = _frame_rng(seed, i, "invalid").choice(INVALID_KINDS)
    if kind == "truncated":  # any proper prefix of a JSON object is invalid
        return kind, data[: max(1, len(data) // 2)]
    if kind == "top_level_array":
        return kind, json.dumps([record], indent=2).encode()
    if kind == "non_utf8":  # a Latin-1 byte inside a string
        return kind, data.replace(b'"plugin": "', b'"plugin": "\xe9', 1)
    if kind == "empty":
        return kind, b""
    bad = json.loads(data)
    params = bad.setdefault("parameters", {})
    if kind == "steps_as_string":
        params["steps"] = str(params.get("steps", 30))
    else:
        params["loras"] = {}
    return kind, json.dumps(bad, indent=2).encode()


# ---------------------------------------------------------------- writing
def _tiny_png() -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + b"\x80\x40\x20" * 8 for _ in range(8))  # 8 rows of 8 RGB pixels
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


PNG_8X8 = _tiny_png()


@dataclass(frozen=True)
class CorpusSummary:
    """What generate_corpus wrote: sidecar files (invalid ones included), bytes of JSON."""

    frames: int
    invalid: int
    bytes: int
    images: int = 0


@dataclass(frozen=True)
class _Job:
    out: str
    frames: int
    projects: int
    seed: int
    png: bool
    indent: int | None
    invalid_rate: float


def _write(path: str, data: bytes, mtime: float) -> None:
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (mtime, mtime))


def _image_names(rec: dict[str, Any], sidecar_stem: str) -> list[str]:
    if not sidecar_stem.endswith("_seq_000"):
        return [sidecar_stem + ".png"]
    total = rec["parameters"].get("total_frames", 1)
    count = max(1, min(total if isinstance(total, int) else 1, WAN_PNGS_WRITTEN))
    return [f"{sidecar_stem[:-3]}{k:03d}.png" for k in range(count)]


def _work(job: _Job, start: int, stop: int) -> CorpusSummary:
    nbytes = ninvalid = nimages = 0
    invalid = invalid_indices(job.seed, job.frames, job.invalid_rate)
    for i in range(start, stop):
        rel, rec, mtime = _make(job.seed, i, job.frames, job.projects, job.out)
        escape = _frame_rng(job.seed, i, "writer").random() < 0.5
        data = json.dumps(rec, ensure_ascii=escape, indent=job.indent).encode("utf-8")
        if i in invalid:
            data = make_invalid(job.seed, i, rec, data)[1]
            ninvalid += 1
        path = os.path.join(job.out, rel)
        _write(path, data, mtime)
        nbytes += len(data)
        if job.png:
            folder = os.path.dirname(path)
            for name in _image_names(rec, os.path.basename(path)[:-5]):
                _write(os.path.join(folder, name), PNG_8X8, mtime)
                nimages += 1
    return CorpusSummary(stop - start, ninvalid, nbytes, nimages)


def generate_corpus(
    out_dir: str | os.PathLike[str],
    frames: int,
    *,
    projects: int = 20,
    seed: int = 0,
    png: bool = False,
    jobs: int = 1,
    invalid_rate: float = 0.0,
    indent: int | None = 2,
) -> CorpusSummary:
    """Write `frames` sidecars under out_dir/project_{pid}/; see the module docstring.

    indent=0 or None writes each sidecar on one line. The same arguments always
    produce the same bytes (and mtimes), whatever `jobs` is.
    """
    if frames < 0 or projects < 1 or jobs < 1 or not 0.0 <= invalid_rate <= 1.0:
        raise ValueError("need frames >= 0, projects >= 1, jobs >= 1, 0 <= invalid_rate <= 1")
    out = os.path.abspath(os.fspath(out_dir))
    for pid in range(1, projects + 1):
        os.makedirs(os.path.join(out, f"project_{pid}"), exist_ok=True)
    job = _Job(out, frames, projects, seed, png, indent or None, invalid_rate)
    chunk = max(1, min(2000, -(-frames // (jobs * 4))))
    ranges = [(s, min(s + chunk, frames)) for s in range(0, frames, chunk)]
    if jobs == 1 or len(ranges) <= 1:
        parts = [_work(job, a, b) for a, b in ranges]
    else:
        with Pool(jobs) as pool:
            parts = pool.starmap(_work, [(job, a, b) for a, b in ranges], chunksize=1)
    return CorpusSummary(
        sum(p.frames for p in parts),
        sum(p.invalid for p in parts),
        sum(p.bytes for p in parts),
        sum(p.images for p in parts),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m kino_catalog.testing.corpus",
        description="Write a deterministic corpus of Kino sidecars.",
    )
    ap.add_argument("out_dir")
    ap.add_argument("--frames", type=int, required=True)
    ap.add_argument("--projects", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--png", action="store_true", help="write tiny 8x8 PNGs beside sidecars")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument(
        "--invalid-rate",
        type=float,
        default=0.0,
        help="fraction of sidecars replaced by broken files (e.g. 0.01)",
    )
    ap.add_argument("--indent", type=int, default=2, help="JSON indent (0 = one line)")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        s = generate_corpus(
            a.out_dir,
            a.frames,
            projects=a.projects,
            seed=a.seed,
            png=a.png,
            jobs=a.jobs,
            invalid_rate=a.invalid_rate,
            indent=a.indent,
        )
    except ValueError as e:
        ap.error(str(e))
    print(
        f"wrote {s.frames} sidecars ({s.invalid} invalid, {s.images} images, "
        f"{s.bytes / 1e6:.1f} MB JSON) under {os.path.abspath(a.out_dir)} "
        f"in {a.projects} projects, {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
