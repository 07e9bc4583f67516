"""Tests of the deterministic corpus generator (kino_catalog.testing.corpus)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from kino_catalog.testing.corpus import CorpusSummary, generate_corpus, make_record

if TYPE_CHECKING:
    from pathlib import Path


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Relative path -> (bytes, mtime_ns) of every file under root."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_arguments_same_bytes_whatever_jobs(tmp_path: Path) -> None:
    kw: dict[str, Any] = {"projects": 5, "seed": 7, "png": True, "invalid_rate": 0.05}
    out = tmp_path / "corpus"  # output.path embeds the folder, so reuse the same one
    trees, summaries = [], []
    for jobs in (1, 1, 2):
        summaries.append(generate_corpus(out, 300, jobs=jobs, **kw))
        trees.append(_tree(out))
        out.rename(tmp_path / f"run{len(trees)}")
    assert summaries[0] == summaries[1] == summaries[2]
    assert trees[0] == trees[1] == trees[2]
    assert sum(1 for k in trees[0] if k.endswith(".json")) == 300
    other = generate_corpus(out, 300, jobs=1, **{**kw, "seed": 8})
    assert _tree(out) != trees[0]
    assert other.frames == 300


def test_make_record_is_pure_and_matches_disk(tmp_path: Path) -> None:
    out = str(tmp_path.resolve())
    assert make_record(3, 41, 100, 4, out) == make_record(3, 41, 100, 4, out)
    generate_corpus(tmp_path, 100, projects=4, seed=3)
    for i in (0, 41, 99):
        rel, rec = make_record(3, i, 100, 4, out)
        assert json.loads((tmp_path / rel).read_bytes()) == rec


def test_mix_is_realistic() -> None:
    n = 2000
    recs = [make_record(0, i, n, 20, "/data/frames") for i in range(n)]
    plugins = Counter(r["plugin"] for _, r in recs)
    assert 0.85 * n < plugins["sdxl"] < 0.95 * n
    assert plugins["wan22_i2v"] == n - plugins["sdxl"]
    stamps = Counter(
        "null"
        if r["timestamp"] is None
        else r["timestamp"]
        if r["timestamp"] == "regenerated"
        else "fmt"
        for _, r in recs
    )
    assert 0.45 * n < stamps["null"] < 0.55 * n
    assert 0.40 * n < stamps["fmt"] < 0.50 * n
    assert 0.03 * n < stamps["regenerated"] < 0.07 * n
    seeds = [r["parameters"]["seed"] for _, r in recs if "seed" in r["parameters"]]
    assert all(0 <= s < 2**64 for s in seeds)
    assert 5 <= sum(s >= 2**63 for s in seeds) <= 45
    assert (
        sum(any(ord(ch) > 127 for ch in r["parameters"].get("prompt", "")) for _, r in recs)
        > 0.02 * n
    )
    assert sum(r.get("task_id") == 0 for _, r in recs) > 0.5 * n
    names = {
        lo["lora_name"]
        for _, r in recs
        for key in ("loras", "high_loras", "low_loras")
        for lo in r["parameters"].get(key, [])
    }
    assert any("/" in x or not x.endswith(".safetensors") for x in names)  # odd spellings

    for rel, r in recs:
        p = r["parameters"]
        if r["timestamp"] == "regenerated":
            assert "frame_id" in r
            assert "project_id" not in r
            assert "task_id" not in r
        elif len(r["timestamp"] or "") == 15:
            assert r["timestamp"][8] == "_"
            assert r["timestamp"].replace("_", "").isdigit()
        if r["plugin"] == "wan22_i2v":
            assert rel.endswith("_variant_0_seq_000.json")
            assert not {"steps", "cfg_scale", "sampler", "loras"} & p.keys()
            for lo in p.get("high_loras", []) + p.get("low_loras", []):
                assert set(lo) == {"lora_name", "strength_model"}
        else:
            assert rel.endswith("_variant_0.json")
            assert "_seq_" not in rel
    wan = [r["parameters"] for _, r in recs if r["plugin"] == "wan22_i2v"]
    assert sum(bool(p.get("high_loras")) for p in wan) > len(wan) / 2
    assert all("total_frames" in p or "num_frames" not in p for p in wan)


def _is_invalid(data: bytes) -> bool:
    try:
        doc = json.loads(data)
    except ValueError:  # bad syntax, empty, or not UTF-8
        return True
    if not isinstance(doc, dict):
        return True
    params = doc.get("parameters", {})
    return isinstance(params.get("steps"), str) or isinstance(params.get("loras"), dict)


def test_invalid_rate_writes_exactly_that_many_bad_files(tmp_path: Path) -> None:
    s = generate_corpus(tmp_path, 400, projects=3, seed=1, invalid_rate=0.05, jobs=2)
    assert s == CorpusSummary(frames=400, invalid=20, bytes=s.bytes, images=0)
    files = list(tmp_path.rglob("*.json"))
    assert len(files) == 400
    assert sum(_is_invalid(f.read_bytes()) for f in files) == 20
    assert sum(f.stat().st_size for f in files) == s.bytes
    clean = generate_corpus(tmp_path / "clean", 400, projects=3, seed=1)
    assert clean.invalid == 0
    assert not any(_is_invalid(f.read_bytes()) for f in (tmp_path / "clean").rglob("*.json"))


def test_png_beside_sidecars_and_sequences(tmp_path: Path) -> None:
    s = generate_corpus(tmp_path, 200, projects=2, seed=4, png=True)
    sidecars = list(tmp_path.rglob("*.json"))
    assert s.images == len(list(tmp_path.rglob("*.png"))) > len(sidecars)
    for sc in sidecars:
        first = sc.with_suffix(".png")
        data = first.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert data[16:24] == bytes([0, 0, 0, 8, 0, 0, 0, 8])  # IHDR width, height
        assert first.stat().st_mtime_ns == sc.stat().st_mtime_ns
        if sc.stem.endswith("_seq_000"):
            total = json.loads(sc.read_bytes())["parameters"]["total_frames"]
            seq = sorted(sc.parent.glob(sc.stem[:-3] + "*.png"))
            assert len(seq) == min(total, 3)


def test_mtime_is_generation_time(tmp_path: Path) -> None:
    generate_corpus(tmp_path, 50, projects=2, seed=2)
    for f in tmp_path.rglob("*.json"):
        ts = json.loads(f.read_bytes())["timestamp"]
        if ts and ts != "regenerated":
            when = dt.datetime.strptime(ts, "%Y%m%d_%H%M%S").timestamp()
            assert os.stat(f).st_mtime == pytest.approx(when, abs=1)


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="jobs"):
        generate_corpus(tmp_path, 10, jobs=0)
    with pytest.raises(ValueError, match="invalid_rate"):
        generate_corpus(tmp_path, 10, invalid_rate=2.0)
