"""regen --submit --in-place against the Kino double: which frame, refusals, the catalogue after."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from kino_catalog import SubmitError
from kino_catalog.regen.inplace import InPlaceError, kino_frame_id
from kino_catalog.regen.submit import submit_requests

if TYPE_CHECKING:
    from pathlib import Path

    from tests.factories import Library
    from tests.kino_double import KinoDouble

SEED = 5000


@pytest.fixture
def pair(library: Library, kino: KinoDouble, run_cli: Any) -> dict[str, Path]:
    """Frame 7 of project 12 in two variants: Kino gave variant 1 its own id, 8."""
    kino.add_project(12)
    found = {}
    for variant, kino_id in ((0, 7), (1, 8)):
        sidecar = library.frame(12, 7, variant, parameters={"seed": SEED + variant})
        kino.add_frame(12, sidecar.with_suffix(".png"), frame_id=kino_id)
        found[f"v{variant}"] = sidecar
    assert run_cli("sync", str(library.root)).code == 0
    return found


def test_variant_0_overwrites_frame_n_in_place(run_cli, pair, kino, catalog):
    before = catalog.get(pair["v0"])
    frames_before = catalog.count("")
    result = run_cli(
        "regen", str(pair["v0"]), "--set", "seed=+1", "--submit", kino.url, "--in-place", "--wait"
    )
    assert result.code == 0, result.err
    [body] = kino.created_bodies()
    assert body["data"]["frame_id"] == 7
    assert body["data"]["project_id"] == 12
    assert body["data"]["parameters"]["project_id"] == 12
    assert body["name"] == "Regenerate frame 7 for project 12"
    # Kino wrote over the frame the user picked ...
    on_disk = json.loads(pair["v0"].read_text())
    assert on_disk["timestamp"] == "regenerated"
    assert on_disk["frame_id"] == 7
    assert on_disk["parameters"]["seed"] == SEED + 1
    assert pair["v0"].with_suffix(".png").read_bytes().endswith(b"task 1")
    assert list(kino.frames_dir.glob("*")) == []  # and made no new frame
    # ... and the catalogue re-read it at once: same catalogue id, new sidecar
    after = catalog.get(pair["v0"])
    assert after.id == before.id
    assert after.timestamp == "regenerated"
    assert after.document["parameters"]["seed"] == SEED + 1
    assert after.project_id == 12  # from the file name: Kino's rewrite drops it
    assert catalog.count("") == frames_before
    shown = json.loads(run_cli("show", str(before.id), "--format", "json").out)
    assert shown["seed"] == SEED + 1


def test_another_variant_is_found_by_path(run_cli, pair, kino):
    result = run_cli("regen", str(pair["v1"]), "--submit", kino.url, "--in-place", "--wait")
    assert result.code == 0, result.err
    [body] = kino.created_bodies()
    assert body["data"]["frame_id"] == 8  # not the 7 in its file name
    assert body["name"] == "Regenerate frame 8 for project 12"
    assert json.loads(pair["v1"].read_text())["frame_id"] == 8
    assert json.loads(pair["v0"].read_text()).get("timestamp") != "regenerated"
    assert ("GET", "/api/v1/frames?project_id=12") in kino.calls


def test_refused_when_kino_does_not_have_the_frame(run_cli, pair, kino):
    del kino.frames[8]
    result = run_cli("regen", "--query", "project:12", "--submit", kino.url, "--in-place", "--wait")
    assert result.code == 1
    assert result.err.splitlines() == [
        f"kino-catalog: {pair['v1']}: cannot regenerate in place: Kino has no frame holding "
        "project_12_frame_7_variant_1.png in project 12 (GET /api/v1/frames?project_id=12)",
        f"kino-catalog: nothing was submitted to {kino.url}",
    ]
    assert [c for c in kino.calls if c[0] == "POST"] == []


def test_a_stale_variant_0_id_is_refused_not_trusted(run_cli, pair, kino):
    # Kino's frame 7 now holds another file (ids are reused after a delete).
    kino.frames[7]["path"] = "/home/kino/backend/data/frames/project_12_frame_40_variant_0.png"
    result = run_cli("regen", str(pair["v0"]), "--submit", kino.url, "--in-place")
    assert result.code == 1
    assert "Kino has no frame holding project_12_frame_7_variant_0.png" in result.err
    assert kino.tasks == {}


def test_requests_from_files_regenerate_in_place_too(run_cli, pair, kino, tmp_path):
    saved = tmp_path / "p12.jsonl"
    assert run_cli("regen", "--query", "project:12", "-o", str(saved)).code == 0
    result = run_cli("regen", "--from", str(saved), "--submit", kino.url, "--in-place", "--wait")
    assert result.code == 0, result.err
    assert [b["data"]["frame_id"] for b in kino.created_bodies()] == [7, 8]


def test_frame_id_without_in_place_is_refused(run_cli, pair, kino, tmp_path):
    request = json.loads(run_cli("regen", "1").out)
    request["data"]["frame_id"] = 7
    saved = tmp_path / "inplace.json"
    saved.write_text(json.dumps(request))
    result = run_cli("regen", "--from", str(saved), "--submit", kino.url)
    assert result.code == 1
    assert "data.frame_id would overwrite Kino frame 7" in result.err
    assert kino.tasks == {}


def test_then_sync_updates_the_same_catalogue_frame(pair, kino, catalog):
    before = catalog.get(pair["v1"])
    requests = [catalog.regen(before, {"seed": "+1"})]
    submission = submit_requests(requests, kino.url, in_place=True, wait=True, poll_seconds=0.05)
    assert submission.is_ok
    assert json.loads(pair["v1"].read_text())["parameters"]["seed"] == SEED + 2
    assert catalog.get(before.id).document["parameters"]["seed"] == SEED + 1  # not re-read yet
    result = catalog.sync(pair["v1"].parent.parent)
    assert result.updated == 1
    after = catalog.get(pair["v1"])
    assert after.id == before.id
    assert after.document["parameters"]["seed"] == SEED + 2
    assert after.document["frame_id"] == 8


def test_a_running_watch_updates_the_same_catalogue_frame(pair, kino, catalog):
    before = catalog.get(pair["v0"])
    root = pair["v0"].parent.parent
    with catalog.watch(root, debounce_seconds=0.05) as watcher:
        assert watcher.wait_idle(60)
        requests = [catalog.regen(before, {"seed": "+1"})]
        submission = submit_requests(requests, kino.url, in_place=True, wait=True)
        assert submission.is_ok
        deadline = time.monotonic() + 60
        while catalog.get(before.id).timestamp != "regenerated":
            assert time.monotonic() < deadline, "the watcher never indexed the new sidecar"
            time.sleep(0.05)
        assert watcher.wait_idle(60)
    after = catalog.get(pair["v0"])
    assert after.id == before.id
    assert after.document["parameters"]["seed"] == SEED + 1
    assert catalog.count("") == 2


# ---------------------------------------------------------------- which Kino frame
def _request(image: str | None, *, hint: int | None = None) -> dict[str, Any]:
    return {
        "type": "sdxl",
        "data": {"parameters": {}, "project_id": 3},
        "source": {"image": image, "sidecar": None, "frame_id": hint},
    }


KINO_FRAMES = [
    {"id": 41, "path": "/srv/kino/data/frames/project_3_frame_41_variant_0.png"},
    {"id": 42, "path": "/srv/kino/data/frames/project_3_frame_41_variant_1.png"},
    {"id": 50, "path": "C:\\kino\\frames\\project_3_frame_50_variant_0.png"},
    {"id": 60, "path": "/a/project_3_frame_60_variant_0.png"},
    {"id": 61, "path": "/b/project_3_frame_60_variant_0.png"},
]


@pytest.mark.parametrize(
    ("image", "hint", "expected"),
    [
        ("/here/project_3_frame_41_variant_0.png", 41, 41),  # Kino's paths are Kino's machine's
        ("/here/project_3_frame_41_variant_1.png", 41, 42),  # variant 1 has its own id
        ("/here/project_3_frame_50_variant_0.png", 50, 50),  # Kino on Windows
        ("/a/project_3_frame_60_variant_0.png", None, 60),  # the same path beats the same name
        ("/c/project_3_frame_60_variant_0.png", 61, 61),  # the name's id breaks a tie
    ],
)
def test_kino_frame_id_by_path(image, hint, expected):
    assert kino_frame_id(_request(image, hint=hint), 3, KINO_FRAMES) == expected


@pytest.mark.parametrize(
    ("image", "hint", "message"),
    [
        ("/c/project_3_frame_60_variant_0.png", None, "several Kino frames of project 3 hold"),
        ("/here/project_3_frame_70_variant_0.png", 70, "Kino has no frame holding"),
        (None, 99, "names neither its file nor a frame_id Kino has"),
    ],
)
def test_kino_frame_id_refusals(image, hint, message):
    with pytest.raises(InPlaceError, match=message):
        kino_frame_id(_request(image, hint=hint), 3, KINO_FRAMES)


def test_in_place_check_needs_no_task(pair, kino, catalog):
    """The whole check runs before anything is created, for every request at once."""
    kino.frames.clear()
    with pytest.raises(SubmitError) as info:
        submit_requests(catalog.iter_regen("project:12"), kino.url, in_place=True)
    assert len(info.value.problems) == 2
    assert kino.tasks == {}
