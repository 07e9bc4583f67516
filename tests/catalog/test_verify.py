"""hash, verify and duplicates: each kind of damage is caught; hashes survive a rebuild."""

from __future__ import annotations

import hashlib
import json

from kino_catalog.catalog import verify
from tests.catalog_state import catalog_state
from tests.factories import PNG_8X8, make_sidecar

OTHER_PNG = PNG_8X8 + b"\x00"  # a different file (trailing byte) with the same look


def _kinds(problems):
    return sorted((p["kind"], p["path"].rsplit("/", 1)[-1]) for p in problems)


def _sequence(library, frames=3, present=3):
    name = "project_7_frame_3_variant_0_seq_000"
    doc = make_sidecar(
        parameters={"total_frames": frames, "num_frames": frames},
        plugin="wan22_i2v",
        output={"filename": name + ".png"},
    )
    path = library.write(f"frames/{name}.json", doc)
    for i in range(1, present):
        (path.parent / f"project_7_frame_3_variant_0_seq_{i:03d}.png").write_bytes(PNG_8X8)
    return path


def test_hash_then_verify_a_healthy_library(any_catalog, library):
    path = library.frame(12, 7)
    _sequence(library)
    any_catalog.sync(library.root)
    result = verify.hash_images(any_catalog)
    assert (result.changed, result.failed) == (2, [])
    assert json.loads(path.read_bytes())["image_hash"] == {
        "algorithm": "sha256",
        "value": hashlib.sha256(PNG_8X8).hexdigest(),
    }
    assert list(verify.verify_frames(any_catalog)) == []
    assert verify.hash_images(any_catalog).changed == 0  # only sidecars lacking a hash

    before = catalog_state(any_catalog)
    any_catalog.rebuild(library.root)
    assert catalog_state(any_catalog) == before


def test_verify_catches_each_kind_of_damage(catalog, library):
    missing = library.frame(12, 1)
    changed = library.frame(12, 2)
    renamed = library.frame(12, 3)
    doc = json.loads(renamed.read_bytes())
    doc["output"]["filename"] = "project_12_frame_99_variant_0.png"
    renamed.write_text(json.dumps(doc))
    _sequence(library, frames=4, present=2)  # _seq_002 and _seq_003 are gone
    (library.root / "frames" / "stray.png").write_bytes(PNG_8X8)
    catalog.sync(library.root)
    catalog.hash_images()
    missing.with_suffix(".png").unlink()
    changed.with_suffix(".png").write_bytes(OTHER_PNG)

    problems = list(catalog.verify())
    assert _kinds(problems) == [
        ("changed_image", "project_12_frame_2_variant_0.png"),
        ("filename_mismatch", "project_12_frame_3_variant_0.json"),
        ("missing_image", "project_12_frame_1_variant_0.png"),
        ("missing_image", "project_7_frame_3_variant_0_seq_000.png"),
        ("orphan_image", "stray.png"),
    ]
    seq = next(p for p in problems if "seq" in p["path"])
    assert seq["detail"].startswith("2 of 4 missing: project_7_frame_3_variant_0_seq_002.png")
    # A query checks only its frames; orphans belong to none.
    assert _kinds(verify.verify_frames(catalog, "plugin:wan22_i2v")) == [
        ("missing_image", "project_7_frame_3_variant_0_seq_000.png")
    ]


def test_duplicates_group_frames_with_equal_images(catalog, library):
    a = library.frame(12, 1)
    b = library.frame(12, 2)
    c = library.frame(12, 3)
    c.with_suffix(".png").write_bytes(OTHER_PNG)
    catalog.sync(library.root)
    assert verify.duplicates(catalog) == []  # nothing hashed yet
    catalog.hash_images()
    [group] = verify.duplicates(catalog)
    assert group["hash"] == "sha256:" + hashlib.sha256(PNG_8X8).hexdigest()
    assert sorted(f["sidecar"] for f in group["frames"]) == sorted([str(a), str(b)])


def test_cli_hash_verify_duplicates(run_cli, library):
    library.frame(12, 1)
    gone = library.frame(12, 2)
    assert run_cli("sync", str(library.root)).code == 0
    result = run_cli("hash", "--format", "json")
    assert result.json() == {"changed": 2, "unchanged": 0, "failed": [], "skipped": []}
    assert run_cli("verify").code == 0
    groups = run_cli("duplicates", "--format", "json").json()
    assert [len(g["frames"]) for g in groups] == [2]
    gone.with_suffix(".png").unlink()
    result = run_cli("verify", "--format", "json")
    assert result.code == 1
    assert [p["kind"] for p in result.json()] == ["missing_image"]
    assert "1 problem found" in result.err
    assert run_cli("verify", "steps:abc").code == 2


def test_hash_never_replaces_a_hash_recorded_since_the_last_sync(catalog, library):
    path = library.frame(12, 1)
    catalog.sync(library.root)
    doc = json.loads(path.read_bytes())
    doc["image_hash"] = {"algorithm": "sha256", "value": "0" * 64}
    path.write_text(json.dumps(doc))  # the index does not know this hash yet
    result = verify.hash_images(catalog)
    assert (result.changed, result.unchanged) == (0, 1)
    assert json.loads(path.read_bytes())["image_hash"]["value"] == "0" * 64


def test_verify_reads_the_sidecar_as_it_is_now(catalog, library):
    path = library.frame(12, 1)
    catalog.sync(library.root)
    catalog.hash_images()
    # Kino regenerates in place (new image, new hash) and the catalogue is not synced yet.
    path.with_suffix(".png").write_bytes(OTHER_PNG)
    doc = json.loads(path.read_bytes())
    doc["image_hash"]["value"] = hashlib.sha256(OTHER_PNG).hexdigest()
    path.write_text(json.dumps(doc))
    assert list(catalog.verify()) == []
    path.unlink()  # gone since the last sync: for sync to drop, not a damaged image
    assert _kinds(catalog.verify()) == [("orphan_image", "project_12_frame_1_variant_0.png")]


def test_an_image_named_by_output_filename_is_not_an_orphan(catalog, library):
    doc = make_sidecar(output={"filename": "render.png"})
    library.write("frames/custom.json", doc, image=False)
    (library.root / "frames" / "render.png").write_bytes(PNG_8X8)
    catalog.sync(library.root)
    assert _kinds(catalog.verify()) == [("filename_mismatch", "custom.json")]


def test_hash_skips_a_missing_image_without_failing(run_cli, library):
    library.frame(12, 1)
    library.frame(12, 2, image=False)
    run_cli("sync", str(library.root))
    result = run_cli("hash")
    assert result.code == 0, result.err
    assert "hashed 1 frame" in result.out
    assert "skipped" in result.err
    assert "image is missing" in result.err
