"""Sync and rebuild: incremental, exact, atomic, and never stopped (or fooled) by bad files."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from kino_catalog import Catalog, UsageError
from kino_catalog.index import diff as differ_module
from kino_catalog.index import file_rows as rows_module
from kino_catalog.index import image_changes
from kino_catalog.index import sync as indexer_module
from kino_catalog.index.diff import Differ
from kino_catalog.index.result import SyncResult
from kino_catalog.index.store import BULK_CACHE_KIB, KEPT_INDEXES_CACHE_KIB, Store
from kino_catalog.index.sync import sync_paths
from kino_catalog.index.walk import FileStat, walk_root
from kino_catalog.schema.database import CACHE_KIB
from kino_catalog.testing.corpus import generate_corpus
from tests.catalog_state import catalog_state
from tests.factories import make_sidecar


def paths(catalog, query=""):
    return sorted(
        os.path.relpath(f.sidecar_path, catalog.roots()[0])
        for f in catalog.search(query, limit=None)
    )


# ---------------------------------------------------------------- incremental sync


def test_sync_adds_updates_removes_and_moves(catalog, library):
    a = library.frame(1, 1)
    library.frame(1, 2, parameters={"steps": 20})
    first = catalog.sync(library.root)
    assert (first.added, first.updated, first.removed) == (2, 0, 0)
    frame_id = catalog.get(a).id

    a.write_text(json.dumps(make_sidecar({"steps": 44})))
    (library.root / "frames" / "project_1_frame_2_variant_0.json").rename(
        library.root / "frames" / "renamed.json"
    )
    second = catalog.sync(library.root)
    assert (second.added, second.updated, second.removed, second.unchanged) == (1, 1, 1, 0)
    assert catalog.get(a).id == frame_id  # ids survive an update
    assert catalog.get(a).parameters["steps"] == 44
    assert paths(catalog) == ["frames/project_1_frame_1_variant_0.json", "frames/renamed.json"]

    a.unlink()
    third = catalog.sync(library.root)
    assert (third.removed, third.unchanged) == (1, 1)
    assert catalog.count() == 1


def test_a_sync_with_nothing_changed_reads_nothing(catalog, library, monkeypatch):
    for i in range(5):
        library.frame(1, i)
    catalog.sync(library.root)
    monkeypatch.setattr(rows_module, "read_frame", lambda *a, **k: pytest.fail("read"))
    result = catalog.sync(library.root)
    assert (result.unchanged, result.added, result.updated) == (5, 0, 0)


def test_images_coming_and_going_update_image_state(catalog, library):
    sidecar = library.frame(3, 1, image=False)
    catalog.sync(library.root)
    assert not catalog.get(sidecar).image_exists
    sidecar.with_suffix(".png").write_bytes(b"png")
    catalog.sync(library.root)
    assert catalog.get(sidecar).image_exists
    assert catalog.stats()["missing_images"] == 0


@pytest.mark.parametrize("scan", [False, True], ids=["look-ups", "scan"])
def test_a_deleted_png_and_swapped_names_are_noticed_by_the_bulk_comparison(
    catalog, library, monkeypatch, scan
):
    # Frames whose PNG is gone are looked up by name, or found by a scan when many.
    monkeypatch.setattr(image_changes, "SCAN_ABOVE_NAMES", 0 if scan else 10**6)
    # The comparison matches (name, size, mtime_ns) as sets: two files that
    # swap names keep their sizes and times, and must still count as changed.
    a = library.frame(1, 1, parameters={"steps": 11})
    b = library.frame(1, 2, parameters={"steps": 22, "prompt": "a longer prompt here"})
    c = library.frame(1, 3)
    catalog.sync(library.root)
    swap = a.with_name("swap.json")
    a.rename(swap)
    b.rename(a)
    swap.rename(b)
    c.with_suffix(".png").unlink()
    result = catalog.sync(library.root)
    assert (result.updated, result.unchanged) == (2, 1)
    assert catalog.get(a).parameters["steps"] == 22
    assert catalog.get(b).parameters["steps"] == 11
    assert not catalog.get(c).image_exists
    synced = catalog_state(catalog)
    catalog.rebuild(library.root)
    assert catalog_state(catalog) == synced


@pytest.mark.parametrize("image", ["named_in_output.webp", "late.jpg", "late.png"])
def test_an_image_appearing_for_a_frame_without_one_is_found(catalog, library, image):
    doc = make_sidecar(output={"filename": "named_in_output.webp", "path": "/x/y.webp"})
    sidecar = library.write("f/late.json", doc, image=False)
    for i in range(5):  # frames without images beside it, settled in bulk
        library.write(f"f/other_{i}.json", make_sidecar(), image=False)
    catalog.sync(library.root)
    assert not catalog.get(sidecar).image_exists
    assert catalog.sync(library.root).unchanged == 6
    (library.root / "f" / image).write_bytes(b"img")
    assert catalog.sync(library.root).unchanged == 6
    assert (catalog.get(sidecar).image_name, catalog.get(sidecar).image_exists) == (image, True)
    synced = catalog_state(catalog)
    catalog.rebuild(library.root)
    assert catalog_state(catalog) == synced


def test_a_same_stem_png_appearing_later_becomes_the_image_as_a_rebuild_would_say(catalog, library):
    doc = make_sidecar(output={"filename": "real_image.png", "path": "/elsewhere/x.png"})
    sidecar = library.write("f/odd_name.json", doc, image=False)
    (library.root / "f" / "real_image.png").write_bytes(b"png")
    catalog.sync(library.root)
    assert catalog.get(sidecar).image_name == "real_image.png"
    (library.root / "f" / "odd_name.png").write_bytes(b"png")  # locate_image's first choice
    assert catalog.sync(library.root).unchanged == 1
    assert catalog.get(sidecar).image_name == "odd_name.png"
    synced = catalog_state(catalog)
    catalog.rebuild(library.root)
    assert catalog_state(catalog) == synced


def test_png_sequence_counts_its_images(catalog, library):
    doc = make_sidecar(plugin="wan22_i2v")
    rel = "w/project_2_frame_9_variant_0_seq_000.json"
    library.write(rel, doc)
    for i in (1, 2, 4):  # frame 3 is missing: counting goes on past a gap
        (library.root / f"w/project_2_frame_9_variant_0_seq_{i:03d}.png").write_bytes(b"p")
    catalog.sync(library.root)
    frame = catalog.get(library.root / rel)
    assert (frame.image_name, frame.image_count) == ("project_2_frame_9_variant_0_seq_000.png", 4)
    (library.root / "w/project_2_frame_9_variant_0_seq_004.png").unlink()
    sync_paths(catalog.engine, library.root, ["w/project_2_frame_9_variant_0_seq_004.png"])
    assert catalog.get(library.root / rel).image_count == 3


def test_a_sequence_with_a_long_gap_counts_the_same_in_a_bulk_load_and_a_sync(catalog, library):
    rel = "w/project_2_frame_9_variant_0_seq_000.json"
    library.write(rel, make_sidecar(plugin="wan22_i2v"))
    for i in (1, 2, 40, 41):  # 37 missing in a row: more than probing on disk would bridge
        (library.root / f"w/project_2_frame_9_variant_0_seq_{i:03d}.png").write_bytes(b"p")
    catalog.sync(library.root)  # the first sync of a root is a bulk load
    assert catalog.get(library.root / rel).image_count == 5
    again = catalog.sync(library.root)
    assert (again.unchanged, again.updated) == (1, 0)
    assert catalog.get(library.root / rel).image_count == 5


def test_image_is_found_by_output_filename_never_by_output_path(catalog, library, tmp_path):
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"png")
    doc = make_sidecar(output={"filename": "real_image.png", "path": str(outside)})
    library.write("f/odd_name.json", doc, image=False)
    (library.root / "f" / "real_image.png").write_bytes(b"png")
    catalog.sync(library.root)
    frame = catalog.get(library.root / "f" / "odd_name.json")
    assert frame.image_path == str(library.root / "f" / "real_image.png")
    assert catalog.get(library.root / "f" / "real_image.png").id == frame.id


def _rebuilt_state(any_catalog, library):
    """The catalogue state a rebuild gives, restored afterwards to compare a sync with it."""
    any_catalog.rebuild(library.root)
    return catalog_state(any_catalog)


def test_a_lost_png_gives_way_to_output_filename_in_a_sync_as_in_a_rebuild(any_catalog, library):
    """The sidecar's own PNG is the first choice, the file output.filename names the next;
    a sync that sees the first go must find the second, as a rebuild would."""
    doc = make_sidecar(output={"filename": "render_0001.png"})
    library.write("f/shot.json", doc, image=False)
    own, named = library.root / "f" / "shot.png", library.root / "f" / "render_0001.png"
    own.write_bytes(b"png")
    named.write_bytes(b"png")
    any_catalog.sync(library.root)
    assert any_catalog.get(library.root / "f" / "shot.json").image_path == str(own)
    own.unlink()
    any_catalog.sync(library.root)
    synced = catalog_state(any_catalog)
    assert any_catalog.get(library.root / "f" / "shot.json").image_path == str(named)
    assert synced == _rebuilt_state(any_catalog, library)


def test_a_hidden_image_is_no_image_for_a_rebuild_as_for_a_sync(any_catalog, library):
    """The walk skips hidden files, so a reader must not find one either (one rule)."""
    doc = make_sidecar(output={"filename": ".draft.png"})
    library.write("f/shot.json", doc, image=False)
    (library.root / "f" / ".draft.png").write_bytes(b"png")
    any_catalog.rebuild(library.root)
    rebuilt = catalog_state(any_catalog)
    assert not any_catalog.get(library.root / "f" / "shot.json").image_exists
    assert any_catalog.sync(library.root).updated == 0
    assert catalog_state(any_catalog) == rebuilt


def test_an_image_symlinked_from_outside_the_root_is_no_image_for_a_rebuild(
    any_catalog, library, tmp_path
):
    """A symlink out of the root is never followed by the walk; nor by a reader."""
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"png")
    library.write("f/shot.json", make_sidecar(), image=False)
    (library.root / "f" / "shot.png").symlink_to(outside)
    any_catalog.rebuild(library.root)
    rebuilt = catalog_state(any_catalog)
    assert not any_catalog.get(library.root / "f" / "shot.json").image_exists
    any_catalog.sync(library.root)
    assert catalog_state(any_catalog) == rebuilt


# ---------------------------------------------------------------- bad input
# Files that are not frames.  A frame with an odd value is a warning, not one
# of these: tests/index/test_tolerant_typing.py.

NESTED = b'{"plugin": "sdxl", "parameters": {"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
BAD_SIDECARS = {
    "invalid JSON": (b'{"plugin": "sdxl", "parameters": {', "invalid JSON"),
    "empty file": (b"", "empty file"),
    "binary garbage": (bytes(range(256)) * 4, "not UTF-8"),
    "non-UTF-8": (
        '{"plugin": "sdxl", "parameters": {"prompt": "café"}}'.encode("latin-1"),
        "not UTF-8",
    ),
    "array at top level": (b"[1, 2, 3]", "top level must be an object, not a list"),
    "string at top level": (b'"hello"', "top level must be an object, not a string"),
    "parameters not an object": (
        json.dumps(make_sidecar(parameters=None) | {"parameters": "steps=30"}).encode(),
        "parameters must be an object",
    ),
    "NaN": (b'{"plugin": "sdxl", "parameters": {"cfg_scale": NaN}}', "NaN is not valid JSON"),
    "Infinity": (
        b'{"plugin": "sdxl", "parameters": {"cfg_scale": -Infinity}}',
        "Infinity is not valid JSON",
    ),
    "10 MB prompt": (
        json.dumps(make_sidecar({"prompt": "a" * 10_000_000})).encode(),
        "over the 1024 KiB sidecar limit",
    ),
    "nesting 100,000 deep": (NESTED, "nested too deeply"),
    "lone surrogate": (
        b'{"plugin": "sdxl", "parameters": {"prompt": "\\udc80"}}',
        "lone surrogate",
    ),
    "plugin not a string": (
        json.dumps(make_sidecar(plugin=3)).encode(),
        "plugin must be a non-empty string",
    ),
    "duplicate keys": (
        b'{"plugin": "sdxl", "parameters": {"seed": 1, "seed": 2}}',
        "duplicate key 'seed'",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_SIDECARS))
def test_a_bad_sidecar_is_recorded_and_everything_else_indexed(catalog, library, kind):
    data, reason = BAD_SIDECARS[kind]
    good = library.frame(1, 1)
    bad = library.write("frames/project_1_frame_2_variant_0.json", data)
    before = library.snapshot()

    result = catalog.sync(library.root)

    assert (result.added, result.errors) == (1, 1)
    [error] = catalog.errors()
    assert error["path"] == str(bad)
    assert reason in error["reason"]
    assert "\n" not in error["reason"]
    assert [f.sidecar_path for f in catalog.search("lora:add_detail")] == [str(good)]
    assert library.snapshot() == before  # nothing was modified
    # unchanged bad files are not read again, and fixing one indexes it
    assert catalog.sync(library.root).errors == 1
    bad.write_text(json.dumps(make_sidecar()))
    fixed = catalog.sync(library.root)
    assert (fixed.added, fixed.errors, catalog.errors()) == (1, 0, [])


def test_non_kino_json_is_ignored_not_an_error(catalog, library):
    library.frame(1, 1)
    library.write("frames/settings.json", {"theme": "dark"}, image=False)
    library.write("frames/broken_settings.json", b"{oops", image=False)
    result = catalog.sync(library.root)
    assert (result.added, result.errors, result.ignored) == (1, 0, 2)
    assert catalog.errors() == []
    assert catalog.stats()["ignored_files"] == 2


def test_a_missing_image_is_indexed_not_an_error(catalog, library):
    library.frame(1, 1, image=False)
    result = catalog.sync(library.root)
    assert (result.added, result.errors) == (1, 0)
    assert catalog.stats()["missing_images"] == 1


def test_symlinks_never_lead_outside_the_root(catalog, library, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text(json.dumps(make_sidecar({"prompt": "secret"})))
    (outside / "project_9_frame_1_variant_0.json").write_text(json.dumps(make_sidecar()))
    library.frame(1, 1)
    frames = library.root / "frames"
    (frames / "project_1_frame_2_variant_0.json").symlink_to(outside / "secret.json")
    (frames / "outside_dir").symlink_to(outside, target_is_directory=True)
    (frames / "loop").symlink_to(frames, target_is_directory=True)
    (frames / "a.json").symlink_to(frames / "b.json")
    (frames / "b.json").symlink_to(frames / "a.json")
    (frames / "inside.json").symlink_to(frames / "project_1_frame_1_variant_0.json")

    result = catalog.sync(library.root)

    assert result.added == 2  # the real frame and the symlink to it inside the root
    reasons = {os.path.basename(e["path"]): e["reason"] for e in catalog.errors()}
    assert reasons["project_1_frame_2_variant_0.json"].startswith("symlink points outside")
    assert reasons["a.json"] == reasons["b.json"] == "symlink loop"
    assert catalog.count("secret") == 0
    assert catalog.count("project:9") == 0


def test_a_file_deleted_or_rewritten_between_listing_and_reading(catalog, library, monkeypatch):
    doomed = library.frame(1, 1)
    changing = library.frame(1, 2)
    library.frame(1, 3)
    real_walk = differ_module.walk_root

    def walk_then_meddle(*args, **kwargs):
        for folder in real_walk(*args, **kwargs):
            if folder.sidecars:  # listed, not read yet
                doomed.unlink()
                changing.write_text(json.dumps(make_sidecar({"steps": 99, "prompt": "longer"})))
            yield folder

    monkeypatch.setattr(differ_module, "walk_root", walk_then_meddle)
    result = catalog.sync(library.root)
    monkeypatch.undo()
    assert (result.added, result.errors) == (2, 0)
    assert catalog.get(changing).parameters["steps"] == 99
    again = catalog.sync(library.root)  # what was read is what is recorded
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)


def test_a_reader_reads_whole_files_when_reads_come_back_short(catalog, library, monkeypatch):
    """os.read may return less than asked (network file systems): the reader reads on."""
    long_prompt = "castle " * 2000  # a 14 KB sidecar
    sidecar = library.frame(1, 1, parameters={"prompt": long_prompt})
    real_read = os.read
    monkeypatch.setattr(rows_module.os, "read", lambda fd, n: real_read(fd, min(n, 1000)))
    catalog.sync(library.root)
    monkeypatch.undo()
    assert catalog.get(sidecar).parameters["prompt"] == long_prompt


def test_a_sidecar_that_grew_after_its_stat_is_read_whole(library, monkeypatch):
    """The reader asks for the size fstat gave plus a byte; a file that grew is read on."""
    sidecar = library.frame(1, 1, parameters={"prompt": "castle"})
    real_fstat = os.fstat

    class StaleStat:  # the size before a rewrite that lengthened the file
        def __init__(self, st):
            self.st_size, self.st_mtime_ns = 10, st.st_mtime_ns

    monkeypatch.setattr(rows_module.os, "fstat", lambda fd: StaleStat(real_fstat(fd)))
    folder = sidecar.parent.relative_to(library.root).as_posix()
    outcome = rows_module.read_frame(str(library.root), folder, FileStat(sidecar.name, 10, 0))
    monkeypatch.undo()
    assert isinstance(outcome, rows_module.FrameRows)
    assert outcome.raw_json == sidecar.read_text()


def test_changed_sidecars_are_updated_in_place_exactly_as_a_rebuild_reads_them(
    any_catalog, library
):
    """Sync rewrites only changed columns of a changed frame; the result must equal a rebuild."""
    changes = [
        {"parameters": {"steps": 31}},
        {"parameters": {"prompt": "a lighthouse at dusk"}},
        {
            "parameters": {
                "model_name": "juggernautXL.safetensors",
                "loras": [
                    {"lora_name": "film_grain.safetensors", "strength_model": 0.4},
                    {"lora_name": "add_detail.safetensors", "strength_model": 1.0},
                ],
            }
        },
        {"project_id": 99, "tags": ["Keeper", "blue"], "rating": 4, "notes": "redo at 40"},
        {"parameters": {"prompt": "nul\u0000inside", "negative_prompt": ...}},
        {"parameters": {"cfg_scale": 7, "num_frames": 81, "seed": 2**64 - 1}},
        {"timestamp": None},
    ]
    paths = [
        library.frame(12, i, timestamp=f"20251013_1505{i:02d}") for i in range(len(changes) + 1)
    ]
    any_catalog.sync(library.root)
    ids = {p.name: any_catalog.get(p).id for p in paths}
    for path, change in zip(paths, changes, strict=False):
        doc = make_sidecar(
            change.get("parameters"), **{k: v for k, v in change.items() if k != "parameters"}
        )
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False))  # a NUL goes out escaped
        os.utime(path, ns=(path.stat().st_mtime_ns, path.stat().st_mtime_ns + 10**9))
    result = any_catalog.sync(library.root)
    assert (result.updated, result.unchanged, result.errors) == (len(changes), 1, 0)
    assert {p.name: any_catalog.get(p).id for p in paths} == ids  # in place: ids kept
    assert any_catalog.count("lighthouse") == 1
    assert any_catalog.count("cinematic") == len(paths) - 2  # two prompts were replaced
    assert any_catalog.count("lora:film_grain") == 1
    assert any_catalog.count("tag:keeper project:99") == 1
    synced = catalog_state(any_catalog)
    any_catalog.rebuild(library.root)
    assert catalog_state(any_catalog) == synced


def test_an_update_of_a_frame_another_writer_deleted_inserts_it_again(catalog, library):
    path = library.frame(12, 1)
    catalog.sync(library.root)
    frame_id = catalog.get(path).id
    stat = path.stat()
    rows = rows_module.read_frame(
        str(library.root), "frames", FileStat(path.name, stat.st_size, stat.st_mtime_ns)
    )
    assert isinstance(rows, rows_module.FrameRows)
    with catalog.engine.connect().execution_options(kino_write=True) as conn, conn.begin():
        store = Store(conn, 1)
        store.delete_frames([frame_id])  # what another writer did since the walk
        store.update_frames([(frame_id, rows)])
    assert catalog.get(path).id == frame_id
    assert catalog.count("lora:add_detail") == 1
    assert catalog.count("cinematic") == 1  # back in the full-text index


def test_text_with_copy_escapes_is_stored_exactly(any_catalog, library):
    """PostgreSQL loads rows with COPY: tabs, newlines, backslashes and \\N must survive."""
    odd = "tab\there\nnew line, back\\slash, \\N, \\.\n\\.\r\u00e9\U0001f409 '\""
    path = library.frame(12, 1, parameters={"prompt": odd, "style": odd}, notes=odd, tags=[odd])
    any_catalog.sync(library.root)
    with any_catalog.engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT f.prompt, f.notes, p.value_text, t.tag FROM frames f "
                "JOIN parameters p ON p.frame_id = f.id AND p.key = 'style' "
                "JOIN tags t ON t.frame_id = f.id"
            )
        ).one()
    assert tuple(stored) == (odd, odd, odd, odd.casefold())
    assert any_catalog.get(path).parameters["prompt"] == odd


# ---------------------------------------------------------------- rebuild


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    generate_corpus(root, 2500, projects=4, png=True, jobs=2, invalid_rate=0.02)
    return root


def test_sync_and_rebuild_and_file_by_file_agree(tmp_path, corpus, monkeypatch):
    monkeypatch.setattr(indexer_module, "PARALLEL_MIN_FILES", 500)  # use the process pool
    library = tmp_path / "library"
    shutil.copytree(corpus, library)
    later = sorted(p for p in library.iterdir() if p.is_dir())[1:]
    for folder in later:  # the first sync (a bulk load) sees one project
        folder.rename(tmp_path / folder.name)
    with (
        Catalog.open(tmp_path / "sync.db") as synced,
        Catalog.open(tmp_path / "rebuild.db") as rebuilt,
    ):
        first = synced.sync(library)
        for folder in later:
            (tmp_path / folder.name).rename(folder)
        second = synced.sync(library)  # the streaming path, in processes
        # The corpus's 50 bad files: unreadable ones are errors, odd values warnings.
        assert first.added + second.added + second.errors == 2500
        assert second.added > 500
        assert (second.errors + second.warned, second.errors > 0, second.warned > 0) == (
            50,
            True,
            True,
        )
        third = synced.sync(library)  # finds every folder settled and stores its listing
        assert (third.added, third.updated, third.removed) == (0, 0, 0)
        assert third.unchanged == 2500 - second.errors
        skipped = synced.sync(library)  # skips every folder: the same counts
        assert skipped.as_dict() | {"seconds": 0} == third.as_dict() | {"seconds": 0}
        rebuilt.sync(library)
        rebuilt.rebuild(library)
        assert catalog_state(synced) == catalog_state(rebuilt)

    files = sorted(str(p.relative_to(corpus)) for p in corpus.rglob("*.json"))[:400]
    small = tmp_path / "small"
    for rel in files:
        (small / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(corpus / rel, small / rel)
        png = (corpus / rel).with_suffix(".png")
        if png.exists():
            shutil.copy2(png, (small / rel).with_suffix(".png"))
    with Catalog.open(tmp_path / "one.db") as one, Catalog.open(tmp_path / "all.db") as whole:
        for rel in files:
            sync_paths(one.engine, small, [rel])
        whole.rebuild(small)
        assert catalog_state(one) == catalog_state(whole)


def test_readers_see_the_old_index_until_a_rebuild_commits(catalog, library, monkeypatch):
    for i in range(20):
        library.frame(1, i)
    catalog.sync(library.root)
    for i in range(20, 30):
        library.frame(1, i)
    seen_during = []
    real_copy = indexer_module.copy_staged

    def copy_and_look(*args):
        copied = real_copy(*args)
        seen_during.append(catalog.count())  # another connection, mid-rebuild
        return copied

    monkeypatch.setattr(indexer_module, "copy_staged", copy_and_look)
    catalog.rebuild(library.root)
    assert seen_during
    assert set(seen_during) == {20}
    assert catalog.count() == 30


def test_a_bulk_load_reads_each_folder_oldest_first(catalog, library, monkeypatch):
    """Staged in about the order the copy numbers them, rows are found in cache (bulk_load)."""
    paths = [library.frame(1, i) for i in range(6)]
    for age, path in enumerate(paths):  # the last name is the oldest file
        os.utime(path, ns=(10**18 - age * 10**9, 10**18 - age * 10**9))
    staged: list[str] = []
    real_stage = indexer_module.stage_chunk

    def recording(directory, root, tasks):
        staged.extend(stat.name for _, stat, *_ in tasks)
        return real_stage(directory, root, tasks)

    monkeypatch.setattr(indexer_module, "stage_chunk", recording)
    catalog.rebuild(library.root)
    assert staged == [path.name for path in reversed(paths)]
    assert catalog.count() == 6


def test_a_bulk_load_hands_out_a_big_folder_without_copies_of_its_listing(
    catalog, tmp_path, monkeypatch
):
    """A flat folder (Kino's layout) is read whole: no set or dict of every name beside the walk's.

    Such copies took a 1M-frame flat rebuild's peak memory from 0.41 to 0.75 GB; here
    they would more than double what the walk itself holds (tracemalloc, no timing).
    The folder counts as big (over the listing bound), as a 1M-frame one is.
    """
    monkeypatch.setattr(differ_module, "BULK_LISTING_BYTES", 0)
    root = tmp_path / "flat"
    root.mkdir()
    for i in range(20_000):
        (root / f"project_1_frame_{i}_variant_0.json").write_bytes(b"{}")

    class Writes:
        def settle_when_loaded(self, rel: str, digest: bytes) -> None:
            pass

    def peak(work):
        """What ``work()`` returns, and the peak of memory traced while it ran."""
        tracemalloc.start()
        try:
            return work(), tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    _, walked = peak(lambda: list(walk_root(str(root), listing_bytes=0)))
    differ = Differ(
        catalog.engine, 1, Writes(), SyncResult(str(root)), is_rebuild=True, chunk_files=500
    )
    try:  # the chunks are counted and dropped, as the readers' queue does
        handed_out, loaded = peak(lambda: sum(map(len, differ.tasks(str(root)))))
    finally:
        differ.close()
    assert handed_out == 20_000
    assert loaded < 1.5 * walked


def test_an_interrupted_rebuild_leaves_the_old_index_intact(catalog, library, monkeypatch):
    for i in range(10):
        library.frame(1, i)
    catalog.sync(library.root)
    before = catalog_state(catalog)
    library.frame(1, 99)

    real_copy = indexer_module.copy_staged

    def copy_then_explode(*args):
        real_copy(*args)  # the new rows are in, uncommitted
        raise KeyboardInterrupt

    indexes_before = index_names(catalog)
    monkeypatch.setattr(indexer_module, "copy_staged", copy_then_explode)
    with pytest.raises(KeyboardInterrupt):
        catalog.rebuild(library.root)
    monkeypatch.undo()
    assert catalog_state(catalog) == before
    assert index_names(catalog) == indexes_before  # the dropped indexes came back
    assert staging_leftovers(catalog) == []


def test_ctrl_c_while_indexes_build_rolls_back_and_says_so(catalog, library, monkeypatch):
    """Past the copy the transaction must still roll back before staging files detach."""
    for i in range(10):
        library.frame(1, i)
    catalog.sync(library.root)
    before = catalog_state(catalog)
    indexes_before = index_names(catalog)
    library.frame(1, 99)

    def build_then_explode(self, dropped):
        real_end(self, dropped)  # the indexes are back, uncommitted
        raise KeyboardInterrupt

    real_end = Store.end_bulk_load
    monkeypatch.setattr(Store, "end_bulk_load", build_then_explode)
    with pytest.raises(KeyboardInterrupt):  # not "database kino_stage0 is locked"
        catalog.rebuild(library.root)
    monkeypatch.undo()
    assert catalog_state(catalog) == before
    assert index_names(catalog) == indexes_before
    assert staging_leftovers(catalog) == []
    assert catalog.rebuild(library.root).added == 11


def test_a_killed_bulk_load_leaves_staging_files_the_next_one_removes(catalog, library):
    library.frame(1, 1)
    database = Path(catalog.engine.url.database)
    stale = database.parent / f".{database.name}.staging-killed"
    stale.mkdir()
    (stale / "stage-1234.db").write_bytes(b"left by a killed rebuild")
    other = database.parent / ".another.db.staging-busy"  # another catalogue's: not ours
    other.mkdir()
    catalog.rebuild(library.root)
    assert not stale.exists()
    assert other.exists()


def staging_leftovers(catalog):
    return [
        p.name for p in Path(catalog.engine.url.database).parent.iterdir() if "staging" in p.name
    ]


def test_a_rebuild_numbers_frames_in_generation_time_order(any_catalog, library):
    for i in range(30):  # newer frames get lower numbers, ties on the day
        library.frame(1, i, timestamp=f"2025-01-{30 - i // 2:02d}T10:00:00")

    def in_time_order():
        with any_catalog.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT generated_at, folder, name FROM frames ORDER BY id"
            ).all()
        return len(rows), [tuple(r) for r in rows] == sorted(tuple(r) for r in rows)

    any_catalog.sync(library.root)  # the first sync of a root is a bulk load too
    assert in_time_order() == (30, True)
    result = any_catalog.rebuild(library.root)
    assert result.added == 30
    assert in_time_order() == (30, True)
    for i in range(30, 40):  # a later sync numbers its new frames by time as well
        library.frame(1, i, timestamp=f"2025-02-{40 - i:02d}T10:00:00")
    assert any_catalog.sync(library.root).added == 10
    assert in_time_order() == (40, True)
    if any_catalog.engine.dialect.name == "sqlite":  # PostgreSQL stages nothing
        assert staging_leftovers(any_catalog) == []


def index_names(catalog):
    inspector = inspect(catalog.engine)
    return {
        t: sorted(i["name"] for i in inspector.get_indexes(t))
        for t in ("frames", "loras", "parameters")
    }


def test_a_rebuild_restores_every_index(catalog, library):
    library.frame(1, 1)
    catalog.sync(library.root)
    before = index_names(catalog)
    assert "ix_loras_key" in before["loras"]
    catalog.rebuild(library.root)
    assert index_names(catalog) == before


def connection_settings(catalog):
    """(temp_store, cache_size, threads) of every pooled connection, whichever wrote."""
    with contextlib.ExitStack() as stack:  # every pooled connection at once
        conns = [stack.enter_context(catalog.engine.connect()) for _ in range(5)]
        return {
            tuple(c.exec_driver_sql(f"PRAGMA {name}").scalar() for name in SETTINGS) for c in conns
        }


SETTINGS = ("temp_store", "cache_size", "threads")
EVERY_CONNECTION = (2, -CACHE_KIB, 0)  # temporary data in memory, 64 MiB cache, no sorter thread


@pytest.mark.parametrize("is_interrupted", [False, True], ids=["committed", "interrupted"])
def test_a_bulk_load_leaves_its_connection_as_every_other_again(
    catalog, library, monkeypatch, is_interrupted
):
    """It ran with temporary files, a small page cache and a sorter thread (see Writer)."""
    library.frame(1, 1)
    catalog.sync(library.root)
    seen = []

    def end_and_look(self, dropped):
        seen.append(self.conn.exec_driver_sql("PRAGMA cache_size").scalar())
        if is_interrupted:  # Ctrl-C before the indexes are back
            raise KeyboardInterrupt
        real_end(self, dropped)

    real_end = Store.end_bulk_load
    monkeypatch.setattr(Store, "end_bulk_load", end_and_look)
    with pytest.raises(KeyboardInterrupt) if is_interrupted else contextlib.nullcontext():
        catalog.rebuild(library.root)
    assert seen == [-BULK_CACHE_KIB]  # the indexes were built with small sort runs
    assert connection_settings(catalog) == {EVERY_CONNECTION}


def test_a_bulk_load_restores_the_full_text_buffer_setting(catalog, library):
    library.frame(1, 1)
    catalog.rebuild(library.root)
    with catalog.engine.connect() as conn:
        hashsize = conn.exec_driver_sql(
            "SELECT v FROM frames_fts_config WHERE k = 'hashsize'"
        ).scalar()
    assert hashsize == 1 << 20  # FTS5's default, not the bulk load's buffer
    assert catalog.count("portrait") == 1  # the frame is in the full-text index


def test_readers_are_never_locked_out_while_a_sync_writes(catalog, library):
    for i in range(3000):
        library.write(f"f{i % 7}/project_1_frame_{i}_variant_0.json", make_sidecar(), image=False)
    failures, counts, done = [], [], threading.Event()

    def read_loop():
        while not done.is_set():
            try:
                counts.append(catalog.count("lora:add_detail"))
            except Exception as exc:  # any "database is locked" fails the test
                failures.append(exc)

    reader = threading.Thread(target=read_loop)
    reader.start()
    try:
        catalog.sync(library.root)
    finally:
        done.set()
        reader.join()
    assert failures == []
    assert counts == sorted(counts)  # commits only ever add frames here
    assert catalog.count() == 3000


@pytest.mark.postgres
def test_postgresql_catalogue_matches_sqlite(tmp_path, pg_url, example_library):
    with Catalog.open(tmp_path / "c.db") as lite, Catalog.open(pg_url) as pg:
        lite.sync(example_library.root)
        pg.sync(example_library.root)
        assert catalog_state(pg) == {k: v for k, v in catalog_state(lite).items() if k != "fts"}
        for query in ("lora:add_detail", "seed:18446744073709551615", "project:12", "castle"):
            assert paths(pg, query) == paths(lite, query)


def test_nested_roots_are_refused(catalog, library):
    library.frame(1, 1, folder="a/b")
    catalog.sync(library.root / "a")
    for nested in (library.root / "a" / "b", library.root):
        with pytest.raises(UsageError, match="already indexed"):
            catalog.sync(nested)
    assert catalog.roots() == [str(library.root / "a")]


def test_any_image_of_a_sequence_finds_its_frame(catalog, library):
    library.write("w/project_2_frame_9_variant_0_seq_000.json", make_sidecar(plugin="wan22_i2v"))
    (library.root / "w/project_2_frame_9_variant_0_seq_001.png").write_bytes(b"p")
    catalog.sync(library.root)
    frame = catalog.get(library.root / "w/project_2_frame_9_variant_0_seq_001.png")
    assert frame.name == "project_2_frame_9_variant_0_seq_000.json"


def test_nul_characters_are_indexed_on_both_databases(any_catalog, library):
    path = library.frame(
        1,
        1,
        parameters={
            "prompt": "red\u0000dragon",
            "style": "a\u0000b",
            "x\u0000": 1,
            "x\ufffd": 2,  # one key once NUL is replaced: the first one is kept
            "odd\u0000_loras": [{"name": "a.safetensors"}],
            "odd\ufffd_loras": ["b"],
            # Names whose search keys are derived: PostgreSQL refused those keys.
            "model_name": "jug\u0000ger.safetensors",
            "loras": [{"lora_name": "de\u0000tail.safetensors", "strength_model": 0.5}],
        },
        tags=["t\u0000", "t\ufffd"],
    )
    result = any_catalog.sync(library.root)
    assert (result.added, result.errors) == (1, 0)
    frame = any_catalog.get(path)
    assert frame.parameters["prompt"] == "red\u0000dragon"  # the sidecar, exactly
    assert frame.raw_json == path.read_text()
    with any_catalog.engine.connect() as conn:
        kept = (
            conn.execute(text("SELECT value_num FROM parameters WHERE key = :k"), {"k": "x\ufffd"})
            .scalars()
            .all()
        )
    assert kept == [1.0]
    assert any_catalog.count("lora:a") == 1
    assert any_catalog.count("lora:de*") == 1
    assert any_catalog.count("model:jug*") == 1
    assert any_catalog.count("tag:t\ufffd") == 1


def test_rebuilding_one_root_keeps_the_others_searchable(tmp_path, library):
    other = tmp_path / "other"
    for i in range(3):
        library.frame(1, i, parameters={"prompt": "a castle"})
        library.write(
            f"../other/project_2_frame_{i}_variant_0.json", make_sidecar({"prompt": "a portrait"})
        )
    with Catalog.open(tmp_path / "a.db") as rebuilt, Catalog.open(tmp_path / "b.db") as fresh:
        for cat in (rebuilt, fresh):
            cat.sync(library.root)
            cat.sync(other)
        rebuilt.rebuild(library.root)
        assert catalog_state(rebuilt) == catalog_state(fresh)
        assert rebuilt.count("portrait") == 3
        assert rebuilt.count("castle") == 3


def test_a_small_root_beside_a_big_one_is_rebuilt_without_dropping_indexes(
    tmp_path, library, monkeypatch
):
    other = tmp_path / "other"
    library.frame(1, 1, parameters={"prompt": "a castle"})
    for i in range(4):
        library.write(
            f"../other/project_2_frame_{i}_variant_0.json", make_sidecar({"prompt": "a portrait"})
        )
    dropped, caches = [], []
    real_begin, real_end = Store.begin_bulk_load, Store.end_bulk_load

    def recording_begin(self):
        dropped.append(real_begin(self))
        return dropped[-1]

    def recording_end(self, indexes):
        caches.append(self.conn.exec_driver_sql("PRAGMA cache_size").scalar())
        real_end(self, indexes)

    with Catalog.open(tmp_path / "a.db") as rebuilt, Catalog.open(tmp_path / "b.db") as fresh:
        for cat in (rebuilt, fresh):
            cat.sync(other)
            cat.sync(library.root)
        monkeypatch.setattr(Store, "begin_bulk_load", recording_begin)
        monkeypatch.setattr(Store, "end_bulk_load", recording_end)
        rebuilt.rebuild(library.root)  # 1 frame of 5: maintaining the indexes is cheaper
        rebuilt.rebuild(other)  # 4 of 5: dropped and rebuilt after the load
        assert dropped[0] == []
        assert "ix_frames_sync" in [index.name for index in dropped[1]]
        # Kept indexes take rows at random places: their pages stay cached.
        assert caches == [-KEPT_INDEXES_CACHE_KIB, -BULK_CACHE_KIB]
        assert connection_settings(rebuilt) == {EVERY_CONNECTION}
        assert index_names(rebuilt) == index_names(fresh)
        assert catalog_state(rebuilt) == catalog_state(fresh)
        assert (rebuilt.count("portrait"), rebuilt.count("castle")) == (4, 1)


def test_a_sync_through_everything_a_sync_can_meet_agrees_with_a_rebuild(catalog, library):
    """Changed, new, deleted files and folders, images and sequence members that come and
    go, images named by other frames' sidecars, a file that breaks and one that heals."""
    from tests.factories import PNG_8X8

    root = library.root
    for i in range(40):
        library.frame(1 + i % 3, i, folder=f"p{i % 3}")
    library.frame(4, 1, folder="gone")
    seq = library.frame(5, 1, folder="p0", image=False)
    for n in range(4):
        (root / "p0" / f"{seq.stem}_seq_{n:03d}.png").write_bytes(PNG_8X8)
    for i in range(6):  # images named by other frames' sidecars
        other = library.frame(6, i, folder=f"p{i % 3}", image=False)
        doc = json.loads(other.read_text())
        doc["output"]["filename"] = f"project_{1 + i % 3}_frame_{i + 3 * (i > 2)}_variant_0.png"
        other.write_text(json.dumps(doc))
    library.write("p2/notes.json", {"not": "a sidecar"}, image=False)
    library.write("p2/project_1_frame_90_variant_0.json", b"{broken", image=False)
    catalog.sync(root)
    catalog.sync(root)  # settles every folder (stores their listings)
    library.frame(1, 0, folder="p0", parameters={"steps": 77})
    library.frame(2, 1, folder="p1", parameters={"prompt": "a new prompt"})
    library.frame(7, 1, folder="p2")
    library.frame(7, 2, folder="new")
    (root / "p0" / "project_1_frame_3_variant_0.json").unlink()
    shutil.rmtree(root / "gone")
    (root / "p0" / f"{seq.stem}_seq_004.png").write_bytes(PNG_8X8)
    (root / "p1" / "project_2_frame_4_variant_0.png").unlink()
    library.write("p2/project_3_frame_5_variant_0.json", b"[1,", image=False)
    library.frame(1, 90, folder="p2", image=False)
    result = catalog.sync(root).as_dict()
    counts = {k: result[k] for k in ("added", "updated", "removed", "errors")}
    assert counts == {"added": 3, "updated": 2, "removed": 3, "errors": 1}
    synced = catalog_state(catalog)
    catalog.rebuild(root)  # in place: the projects table keeps every id it has seen
    assert catalog_state(catalog) == synced


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def _task(path: Path) -> tuple:
    """A read_frames task for a file of the folder "frames", as the walk found it."""
    st = path.stat()
    return ("frames", FileStat(path.name, st.st_size, st.st_mtime_ns), None, None, None)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_a_chunk_read_ahead_closes_every_file_and_keeps_each_outcome(library, monkeypatch):
    """read_frames opens a chunk's files at once (read-ahead): a file gone by then, a
    folder in a sidecar's name and a reader interrupted halfway leak nothing."""
    monkeypatch.setattr(rows_module, "READ_AHEAD_FILES", 3)  # two windows of the five
    good = [library.frame(1, i) for i in range(3)]
    (library.root / "frames" / "project_1_frame_9.json").mkdir()  # opens, cannot be read
    gone = library.frame(1, 5)
    folder = library.root / "frames" / "project_1_frame_9.json"
    tasks = [_task(p) for p in (good[0], gone, folder, good[1], good[2])]
    gone.unlink()  # after the walk, before the read
    before = _open_descriptors()
    outcomes = rows_module.read_frames(str(library.root), tasks)
    assert _open_descriptors() == before
    assert [type(o).__name__ for o in outcomes] == [
        "FrameRows",
        "NoneType",
        "FailedFile",
        "FrameRows",
        "FrameRows",
    ]
    assert outcomes[2].kind == "error"
    assert "cannot read" in outcomes[2].reason

    real_read_frame = rows_module.read_frame

    def interrupted(*args):  # Ctrl-C right after the first file: two are still open
        real_read_frame(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(rows_module, "read_frame", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rows_module.read_frames(str(library.root), tasks)
    assert _open_descriptors() == before
