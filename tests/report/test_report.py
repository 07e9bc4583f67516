"""Reports: every figure against a reference counted in Python over the sidecars on disk."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import shutil
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

import pytest

from kino_catalog import UsageError
from kino_catalog.report.aggregates import SECTIONS
from kino_catalog.report.render import render_report
from kino_catalog.sidecar.record import normalise_name, project_from_name
from kino_catalog.testing.corpus import generate_corpus

if TYPE_CHECKING:
    from pathlib import Path

    from kino_catalog import Catalog

ALL = 10_000  # a `top` larger than any list, so nothing is cut off


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 generated frames (2% broken), some images deleted, some seeds reused."""
    root = tmp_path_factory.mktemp("report") / "corpus"
    generate_corpus(root, 600, projects=5, seed=21, png=True, invalid_rate=0.02)
    sidecars = sorted(root.rglob("*.json"))
    for path in sidecars[::17]:  # images gone for some frames
        for image in path.parent.glob(path.stem.removesuffix("_seq_000") + "*.png"):
            image.unlink()
    for k, path in enumerate(sidecars[1:40:8]):  # the same seed again, as re-renders do
        try:
            doc = json.loads(path.read_bytes())
        except ValueError:
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("parameters"), dict):
            continue
        copy = path.with_name(f"project_1_frame_{90000 + k}_variant_0.json")
        doc.pop("project_id", None)
        copy.write_text(json.dumps(doc))
        shutil.copystat(path, copy)
    return root


def reference(root: Path, project_id: int | None = None) -> dict[str, Any]:
    """Direct counts over the sidecar files, independent of the catalogue."""
    frames: list[dict[str, Any]] = []
    errors = warned = 0
    for path in sorted(root.rglob("*.json")):
        file_project = project_from_name(path.name)
        try:
            doc = json.loads(path.read_bytes())
            params = dict(doc["parameters"])
        except (ValueError, KeyError, TypeError):
            if project_id is None or file_project == project_id:
                errors += 1
            continue
        # An odd value (the corpus writes these two) costs its field, not the frame.
        if not isinstance(params.get("steps", 0), int):
            params["steps"] = None
            warned += 1
        if not isinstance(params.get("loras", []), list):
            params["loras"] = []
            warned += 1
        pid = doc.get("project_id", file_project)
        if project_id is not None and pid != project_id:
            continue
        try:
            when = dt.datetime.strptime(doc.get("timestamp") or "", "%Y%m%d_%H%M%S")
        except ValueError:
            when = dt.datetime.fromtimestamp(path.stat().st_mtime)
        # the image beside the sidecar, else output.filename's base name in the same folder
        output = doc.get("output") or {}
        names = [path.with_suffix(".png").name, os.path.basename(output.get("filename") or "")]
        found = next((name for name in names if name and (path.parent / name).exists()), None)
        has_image = found is not None
        total = params.get("total_frames")
        if found and found.endswith("_seq_000.png") and type(total) is int and total > 0:
            # a PNG sequence misses images when any member below total_frames is gone
            stem = found[: -len("000.png")]
            has_image = all((path.parent / f"{stem}{k:03d}.png").exists() for k in range(total))
        frames.append(
            {
                "doc": doc,
                "params": params,
                "when": when,
                "project": pid,
                "image": has_image,
                "path": path,
            }
        )
    loras: dict[str, dict[str, Any]] = defaultdict(lambda: {"frames": set(), "s": []})
    lists: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {"frames": set(), "s": []})
    for i, frame in enumerate(frames):
        for role in ("loras", "high_loras", "low_loras"):
            for item in frame["params"].get(role) or []:
                key = normalise_name(item["lora_name"])
                for bucket in (loras[key], lists[key, role]):
                    bucket["frames"].add(i)
                    bucket["s"].append(item["strength_model"])
    seeds = Counter(f["params"]["seed"] for f in frames if "seed" in f["params"])
    p = [f["params"] for f in frames]
    return {
        "frames": len(frames),
        "projects": len({f["project"] for f in frames}),
        "first": min(f["when"] for f in frames).isoformat(),
        "last": max(f["when"] for f in frames).isoformat(),
        "per_day": Counter(f["when"].date().isoformat() for f in frames),
        "plugins": Counter((f["doc"]["plugin"], f["doc"].get("plugin_version")) for f in frames),
        "models": Counter(
            normalise_name(x["model_name"]) if "model_name" in x else None for x in p
        ),
        "loras": {
            k: (len(v["frames"]), len(v["s"]), sum(v["s"]) / len(v["s"]), min(v["s"]), max(v["s"]))
            for k, v in loras.items()
        },
        "lora_lists": {k: (len(v["frames"]), len(v["s"])) for k, v in lists.items()},
        "samplers": Counter(x.get("sampler") for x in p),
        "schedulers": Counter(x.get("scheduler") for x in p),
        "steps": Counter(x.get("steps") for x in p),
        "cfg_scale": Counter(x.get("cfg_scale") for x in p),
        "resolutions": Counter((x.get("width"), x.get("height")) for x in p),
        "seeds_reused": {s: n for s, n in seeds.items() if n > 1},
        "frames_with_seed": sum(seeds.values()),
        "missing": sorted(str(f["path"]) for f in frames if not f["image"]),
        "errors": errors,
        "warned": warned,
    }


def counts(rows: list[dict[str, Any]], *keys: str) -> Counter[Any]:
    return Counter(
        {(r[keys[0]] if len(keys) == 1 else tuple(r[k] for k in keys)): r["frames"] for r in rows}
    )


@pytest.mark.parametrize("project_id", [None, 1, 3])
def test_report_agrees_with_direct_counts(any_catalog: Catalog, corpus, project_id):
    any_catalog.sync(corpus)
    got = any_catalog.report(project_id, top=ALL, list_limit=ALL)
    want = reference(corpus, project_id)
    s = got["summary"]
    assert s["frames"] == want["frames"]
    assert s["projects"] == want["projects"]
    assert (s["first_generated_at"], s["last_generated_at"]) == (want["first"], want["last"])
    assert counts(got["per_day"], "day") == want["per_day"]
    assert s["days_active"] == len(want["per_day"])
    assert sum(w["frames"] for w in got["per_week"]) == want["frames"]
    assert counts(got["plugins"], "plugin", "plugin_version") == want["plugins"]
    assert counts(got["models"], "key") == want["models"]
    assert s["models"] == len([k for k in want["models"] if k is not None])
    assert {r["key"]: (r["frames"], r["uses"]) for r in got["loras"]} == {
        k: v[:2] for k, v in want["loras"].items()
    }
    for row in got["loras"]:
        _frames, _uses, mean, low, high = want["loras"][row["key"]]
        assert row["mean_strength"] == pytest.approx(mean)
        assert (row["min_strength"], row["max_strength"]) == (low, high)
    assert {(r["key"], r["list"]): (r["frames"], r["uses"]) for r in got["lora_lists"]} == (
        want["lora_lists"]
    )
    assert s["loras"] == len(want["loras"])
    for section in ("samplers", "schedulers", "steps", "cfg_scale"):
        assert (
            counts(
                got[section],
                section.rstrip("s") if section != "steps" and section != "cfg_scale" else section,
            )
            == want[section]
        )
    assert counts(got["resolutions"], "width", "height") == want["resolutions"]
    assert {r["seed"]: r["frames"] for r in got["seeds_reused"]} == want["seeds_reused"]
    assert s["reused_seeds"] == len(want["seeds_reused"])
    assert s["frames_with_reused_seed"] == sum(want["seeds_reused"].values())
    assert s["frames_with_seed"] == want["frames_with_seed"]
    assert s["missing_images"] == len(want["missing"])
    assert sorted(r["sidecar"] for r in got["missing_images"]) == want["missing"]
    assert s["sidecars_in_error"] == want["errors"]
    if project_id is None:
        # 2% of 600 damaged: the check above compared something
        assert (want["errors"] + want["warned"], want["errors"] > 0) == (12, True)
    assert want["seeds_reused"] or project_id is not None


def test_top_bounds_the_ranked_lists(catalog, corpus):
    catalog.sync(corpus)
    data = catalog.report(top=3, list_limit=2)
    assert len(data["models"]) == 3
    assert len(data["loras"]) == 3
    assert {r["key"] for r in data["lora_lists"]} == {r["key"] for r in data["loras"]}
    assert len(data["missing_images"]) == 2
    assert data["summary"]["missing_images"] > 2
    frames = [r["frames"] for r in data["loras"]]
    assert frames == sorted(frames, reverse=True)


def test_big_seeds_stay_exact_in_json(catalog, library):
    for frame in (1, 2):
        library.frame(4, frame, parameters={"seed": 2**64 - 1})
    catalog.sync(library.root)
    text = render_report(catalog.report(), "json")
    assert '"seed": 18446744073709551615' in text
    assert json.loads(text)["seeds_reused"] == [{"seed": 2**64 - 1, "frames": 2}]


@pytest.fixture
def example_data(catalog, example_library) -> dict[str, Any]:
    catalog.sync(example_library.root)
    return catalog.report()


def test_examples_figures(example_data):
    s = example_data["summary"]
    # missing: project_3_frame_5 has no PNG; project 12's sequence has 3 of 81
    assert (s["frames"], s["projects"], s["missing_images"], s["sidecars_in_error"]) == (
        14,
        3,
        2,
        1,
    )
    add_detail = next(r for r in example_data["loras"] if r["key"] == "add_detail")
    assert add_detail["frames"] == 6
    assert example_data["report_version"] == 1
    assert list(example_data)[3:] == list(SECTIONS)


def test_csv_one_section_is_one_plain_table(example_data):
    rows = list(csv.DictReader(io.StringIO(render_report(example_data, "csv", "loras"))))
    assert {r["key"] for r in rows} >= {"add_detail", "neon_glow"}
    assert set(rows[0]) == {
        "lora",
        "key",
        "frames",
        "uses",
        "mean_strength",
        "min_strength",
        "max_strength",
    }
    every = render_report(example_data, "csv")
    assert [line[2:] for line in every.splitlines() if line.startswith("# ")] == list(SECTIONS)


def test_html_is_one_self_contained_file(example_data):
    page = render_report(example_data, "html")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") >= 6
    for needle in ("<script", "src=", "href=", "@import", "url("):
        assert needle not in page
    # the only URL is the SVG namespace name, which browsers never fetch
    assert set(re.findall(r"https?://[^\"'\s<]+", page)) == {"http://www.w3.org/2000/svg"}
    assert "add_detail" in page


def test_text_and_markdown(example_data):
    text = render_report(example_data, "text")
    assert "Top LoRAs" in text
    assert "juggernautXL_v9Rdphoto2Lightning.safetensors" in text
    md = render_report(example_data, "md")
    assert "## Top LoRAs" in md
    assert "| lora | key | frames |" in md


def test_cli_report_formats_and_output(run_cli, example_library, tmp_path):
    run_cli("sync", str(example_library.root))
    data = run_cli("report", "--project", "7", "--format", "json").json()
    assert data["scope"]["project_id"] == 7
    assert data["summary"]["frames"] == 4
    page = tmp_path / "p7.html"
    result = run_cli("report", "--project", "7", "-o", str(page))
    assert result.code == 0, result.err
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert oct(page.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    days = run_cli("report", "--format", "text", "--section", "per_day")
    assert "2025-10-13" in days.out
    steps = run_cli("report", "--format", "csv", "--section", "steps").out.splitlines()
    assert steps[0] == "steps,frames"


def test_cli_unknown_project_is_exit_2(run_cli, example_library):
    run_cli("sync", str(example_library.root))
    result = run_cli("report", "--project", "99")
    assert result.code == 2
    assert "no project 99" in result.err


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_project_whose_frames_are_gone_is_neither_counted_nor_reported(any_catalog, library):
    """``projects`` keeps every id ever seen; stats and reports go by the frames left."""
    library.frame(1, 1)
    gone = library.frame(2, 1)
    any_catalog.sync(library.root)
    assert any_catalog.stats()["projects"] == 2
    gone.unlink()
    gone.with_suffix(".png").unlink()
    any_catalog.sync(library.root)
    assert any_catalog.stats()["projects"] == 1
    assert any_catalog.report(1)["summary"]["frames"] == 1
    with pytest.raises(UsageError, match="no project 2 in the catalogue"):
        any_catalog.report(2)
