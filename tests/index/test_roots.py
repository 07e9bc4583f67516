"""Roots: one identity per library folder, mapped per host, recognised wherever it is mounted."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess

import pytest

from kino_catalog import Catalog, RootNotMappedError, UsageError
from kino_catalog.index import markers
from kino_catalog.index import roots as registry
from tests.catalog_state import catalog_state

MARKER = ".kino-catalog-root"


@pytest.fixture
def two_hosts(any_target):
    with Catalog.open(any_target, host="ws-a") as a, Catalog.open(any_target, host="ws-b") as b:
        yield a, b


@contextlib.contextmanager
def bind_mount(source, target):
    """``source`` also at ``target`` (a second mount of one folder), or skip the test."""
    target.mkdir(parents=True)
    done = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.decode().strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def frame_paths(catalog):
    return sorted((f.root_name, f.relpath, f.sidecar_path) for f in catalog.search(limit=None))


def test_a_first_sync_makes_a_root_named_after_its_folder_and_marks_the_folder(catalog, library):
    library.frame(1, 1)
    result = catalog.sync(library.root)
    [info] = catalog.list_roots()
    assert (info.name, info.path, info.frames) == ("library", str(library.root), 1)
    assert info.synced_by == catalog.host
    assert info.synced_at is not None
    marker = json.loads((library.root / MARKER).read_text())
    assert marker["kino_catalog_root"] == info.uuid
    assert marker["name"] == "library"
    assert result.warnings == []
    assert catalog.search()[0].relpath == "frames/project_1_frame_1_variant_0.json"


def test_another_host_recognises_the_folder_by_its_marker_and_adds_nothing(two_hosts, library):
    a, b = two_hosts
    for i in range(5):
        library.frame(1, i)
    a.sync(library.root)
    state = catalog_state(a)
    result = b.sync(library.root)
    assert (result.added, result.unchanged) == (0, 5)
    assert any("recognised by its marker" in w for w in result.warnings)
    [info] = b.list_roots()
    assert info.mounts == {"ws-a": str(library.root), "ws-b": str(library.root)}
    assert catalog_state(b) == state


@pytest.mark.parametrize("same_host", [False, True])
def test_a_second_mount_of_the_folder_is_the_same_root(two_hosts, library, tmp_path, same_host):
    """A bind mount: another path to the same folder, on another host or on this one."""
    a, b = two_hosts
    other = a if same_host else b
    for i in range(4):
        library.frame(2, i)
    a.sync(library.root)
    with bind_mount(library.root, tmp_path / "mnt" / "studio") as mounted:
        result = other.sync(mounted)
        assert (result.added, result.removed, result.unchanged) == (0, 0, 4)
        library.frame(2, 9)
        assert other.sync(mounted).added == 1
        assert a.count() == 5
        assert len(a.list_roots()) == 1
        paths = {f.sidecar_path for f in other.search(limit=None)}
        # Each host sees its own paths; the same host keeps its first mapping.
        expected_root = library.root if same_host else mounted
        assert paths == {str(p) for p in (expected_root / "frames").glob("*.json")}


def test_a_copy_with_the_marker_is_refused_while_the_original_is_mapped_here(catalog, library):
    library.frame(1, 1)
    catalog.sync(library.root)
    copy = library.root.parent / "copy"
    shutil.copytree(library.root, copy)
    with pytest.raises(UsageError, match="a copy"):
        catalog.sync(copy)
    (copy / MARKER).unlink()
    assert catalog.sync(copy).added == 1  # now a root of its own
    assert sorted(r.name for r in catalog.list_roots()) == ["copy", "library"]


def test_a_moved_mount_follows_the_marker(catalog, library, tmp_path):
    library.frame(1, 1)
    catalog.sync(library.root)
    moved = tmp_path / "moved"
    library.root.rename(moved)
    result = catalog.sync(moved)
    assert (result.added, result.unchanged) == (0, 1)
    assert "moved from" in " ".join(result.warnings)
    assert catalog.roots() == [str(moved)]


def test_an_unmarked_lookalike_of_an_unmapped_root_is_refused_until_mapped(two_hosts, library):
    """A read-only share keeps no marker: its sidecars still say which root it is."""
    a, b = two_hosts
    for i in range(6):
        library.frame(3, i)
    a.sync(library.root)
    (library.root / MARKER).unlink()  # as if it could never be written
    with pytest.raises(UsageError, match=r"looks like root 'library'.*roots map library"):
        b.sync(library.root)
    b.map_root("library", library.root)
    assert b.sync(library.root).added == 0
    assert b.count() == 6


def test_an_unwritable_marker_is_a_warning_and_the_folder_is_indexed(catalog, library, monkeypatch):
    monkeypatch.setattr(registry, "write_marker", lambda folder, marker: "Read-only file system")
    library.frame(1, 1)
    result = catalog.sync(library.root)
    assert result.added == 1
    assert any("roots map library PATH" in w for w in result.warnings)
    assert not (library.root / MARKER).exists()


def test_a_damaged_marker_is_rewritten(catalog, library):
    library.frame(1, 1)
    (library.root / MARKER).write_text("{not json")
    catalog.sync(library.root)
    assert markers.read_marker(str(library.root)).uuid == catalog.list_roots()[0].uuid


def test_nested_roots_are_refused_per_host(catalog, library):
    library.frame(1, 1, folder="a/b")
    catalog.sync(library.root / "a")
    with pytest.raises(UsageError, match="inside"):
        catalog.sync(library.root / "a" / "b")
    with pytest.raises(UsageError, match="contains"):
        catalog.sync(library.root)


def test_root_names_are_checked_and_unique(catalog, library, tmp_path):
    for bad in ("", "a/b", "x:y", "123", "tab\there"):
        with pytest.raises(UsageError):
            catalog.add_root(library.root, bad)
    catalog.add_root(library.root, "studio")
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(UsageError, match="already is a root named"):
        catalog.add_root(other, "Studio")
    catalog.add_root(other)
    with pytest.raises(UsageError, match="already is a root named"):
        catalog.rename_root("other", "studio")
    catalog.rename_root("other", "archive")
    assert [r.name for r in catalog.list_roots()] == ["archive", "studio"]


def test_removing_a_root_drops_its_frames_and_their_search_entries(any_catalog, library, tmp_path):
    library.frame(1, 1, parameters={"prompt": "a red dragon"})
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "k.json").write_bytes(
        (library.root / "frames/project_1_frame_1_variant_0.json").read_bytes()
    )
    any_catalog.sync(library.root)
    any_catalog.sync(keep)
    assert any_catalog.count("dragon") == 2
    assert any_catalog.remove_root("library") == 1
    assert any_catalog.count("dragon") == 1
    assert [r.name for r in any_catalog.list_roots()] == ["keep"]
    assert (library.root / "frames/project_1_frame_1_variant_0.json").exists()


# ---------------------------------------------------------------- a root not mapped here


def test_a_root_not_mapped_here_is_reported_as_such_never_as_missing(two_hosts, library):
    a, b = two_hosts
    library.frame(1, 1)
    a.sync(library.root)
    frame = b.get(a.search()[0].id)
    assert not frame.is_mapped
    assert frame.location == "library:frames/project_1_frame_1_variant_0.json"
    data = frame.to_dict()
    assert (data["sidecar"], data["image"], data["image_exists"]) == (None, None, True)
    assert data["root"] == "library"
    with pytest.raises(RootNotMappedError, match="roots map library PATH"):
        frame.sidecar_path  # noqa: B018
    assert b.image_file(frame) is None
    assert b.regen(frame)["data"]["parameters"]["steps"] == 30
    problems = list(b.verify())
    assert [p["kind"] for p in problems] == ["root_not_mapped"]
    stats = b.stats()
    assert stats["frames_not_mapped_here"] == 1
    assert stats["missing_images"] == 0
    assert stats["roots"][0]["path"] is None
    assert stats["roots"][0]["synced_by"] == "ws-a"
    with pytest.raises(RootNotMappedError):
        b.tag(["keeper"], [frame.id])


def test_cli_roots_and_an_unmapped_root(run_cli, library, tmp_path, monkeypatch):
    library.frame(1, 1)
    library.frame(1, 2)
    monkeypatch.setenv("KINO_CATALOG_HOST", "ws-a")
    assert run_cli("roots", "add", "studio", str(library.root)).code == 0
    assert run_cli("sync", "studio").code == 0  # a root by its name
    listed = run_cli("roots", "--format", "json").json()
    assert listed["host"] == "ws-a"
    assert [(r["name"], r["frames"], r["path"]) for r in listed["roots"]] == [
        ("studio", 2, str(library.root))
    ]
    monkeypatch.setenv("KINO_CATALOG_HOST", "ws-b")
    paths = run_cli("search", "--format", "paths")
    assert paths.code == 0
    assert paths.out == ""
    assert "2 frames of root 'studio' not listed: not mapped on this host" in paths.err
    shown = run_cli("show", "1")
    assert "not mapped on this host" in shown.out
    verified = run_cli("verify", "--format", "json")
    assert verified.code == 0
    assert [p["kind"] for p in verified.json()] == ["root_not_mapped"]
    skipped = run_cli("sync")
    assert skipped.code == 2
    assert "skipped root 'studio'" in skipped.err
    assert run_cli("sync", "studio").code == 2  # not mapped here: says so
    text = run_cli("roots")
    assert "(not mapped on ws-b)" in text.out
    assert f"ws-a: {library.root}" in text.out
    assert run_cli("roots", "map", "studio", str(library.root)).code == 0
    assert run_cli("search", "--format", "paths").out.count(".png") == 2
    assert run_cli("roots", "rename", "studio", "frames").code == 0
    stats = run_cli("stats", "--format", "json").json()
    assert stats["roots"][0]["name"] == "frames"
    assert stats["roots"][0]["synced_by"] == "ws-a"
    assert run_cli("roots", "unmap", "frames").code == 0
    assert run_cli("roots", "remove", "frames").code == 0
    assert run_cli("stats", "--format", "json").json()["frames"] == 0


def test_the_host_name_comes_from_the_environment(monkeypatch, db_path):
    monkeypatch.setenv("KINO_CATALOG_HOST", "render-07")
    with Catalog.open(db_path) as cat:
        assert cat.host == "render-07"
    monkeypatch.delenv("KINO_CATALOG_HOST")
    with Catalog.open(db_path) as cat:
        assert cat.host == os.uname().nodename
