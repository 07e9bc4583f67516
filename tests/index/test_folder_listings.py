"""Folder listings (issue 18): a sync skips a folder only while its stored digest is true.

A whole-root sync stores the digest of each folder it finds settled and
skips a folder whose listing has that digest.  The danger is a stale digest:
rows written since (by a partial sync, the watcher, an edit, a rebuild)
while the listing came back to what it was.  Each test here writes the rows
through one path, puts the files back exactly as they were (bytes and
mtime), and checks that the next sync still agrees with a rebuild.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from kino_catalog.index import diff as diff_module
from kino_catalog.index import walk as walk_module
from kino_catalog.index.store import Store
from kino_catalog.index.sync import sync_paths
from kino_catalog.index.walk import Folder, walk_root
from tests.catalog_state import catalog_state
from tests.factories import make_sidecar

PACKAGE = Path(__file__).resolve().parents[2] / "kino_catalog"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"


def _listings(catalog) -> dict[str, bytes]:
    with catalog.engine.connect() as conn:
        return {
            folder: bytes(digest)
            for folder, digest in conn.execute(text("SELECT folder, digest FROM folder_listings"))
        }


def _agrees_with_rebuild(catalog, library):
    synced = catalog_state(catalog)
    catalog.rebuild(library.root)
    assert catalog_state(catalog) == synced


def _settled(catalog, library, folders=("a", "b")):
    """Sync until every folder's listing is stored by a comparison (the first sync is a bulk
    load, which stores the listings it walked)."""
    catalog.sync(library.root)
    catalog.sync(library.root)
    assert set(folders) <= set(_listings(catalog))


def _put_back(path: Path, data: bytes, mtime_ns: int) -> None:
    """Make ``path`` what it was: same bytes, same size, same mtime (same listing digest)."""
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def _remember(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def _compared_folders(monkeypatch) -> list[str]:
    """The folders each later sync compares in full (the others it skips)."""
    compared: list[str] = []
    real = diff_module.Differ._diff_folder

    def counting(self, folder, only=None):
        compared.append(folder.rel)
        return real(self, folder, only)

    monkeypatch.setattr(diff_module.Differ, "_diff_folder", counting)
    return compared


@pytest.fixture
def two_folders(library):
    """Folders a and b with a few frames each, one without an image, one PNG sequence."""
    for i in range(3):
        library.frame(1, i, folder="a")
        library.frame(2, i, folder="b")
    library.frame(1, 9, folder="a", image=False)
    seq = make_sidecar(output={"filename": "clip_seq_000.png", "path": "/k/clip_seq_000.png"})
    library.write("b/clip_seq_000.json", seq, image=False)
    for i in range(3):
        (library.root / f"b/clip_seq_{i:03d}.png").write_bytes(b"p")
    return library


# ---------------------------------------------------------------- skipping


def test_a_settled_folder_is_skipped_and_counted_as_before(any_catalog, two_folders, monkeypatch):
    library = two_folders
    catalog = any_catalog
    catalog.sync(library.root)
    full = catalog.sync(library.root)  # compares everything, stores the listings
    compared = _compared_folders(monkeypatch)
    skipped = catalog.sync(library.root)
    assert compared == [""]  # every folder skipped but the root, which lists no sidecar
    assert skipped.as_dict() | {"seconds": 0} == full.as_dict() | {"seconds": 0}
    (library.root / "b" / "clip_seq_003.png").write_bytes(b"p")
    assert catalog.sync(library.root).unchanged == full.unchanged
    assert compared == ["", "", "b"]  # and then the folder whose listing changed
    _agrees_with_rebuild(catalog, library)


def _listing_rows(catalog) -> dict[str, tuple[bytes, int]]:
    with catalog.engine.connect() as conn:
        rows = conn.execute(text("SELECT folder, digest, unchanged FROM folder_listings"))
        return {folder: (bytes(digest), unchanged) for folder, digest, unchanged in rows}


def test_a_rebuild_stores_the_listings_it_walked_and_the_sync_after_skips_them(
    any_catalog, two_folders, monkeypatch
):
    catalog, library = any_catalog, two_folders
    _settled(catalog, library)
    settled = _listing_rows(catalog)
    catalog.rebuild(library.root)
    # The digests and counts a settled comparison stores, without that comparison.
    assert _listing_rows(catalog) == settled
    compared = _compared_folders(monkeypatch)
    result = catalog.sync(library.root)
    assert compared == [""]  # the root lists no sidecar
    assert result.unchanged == sum(unchanged for _, unchanged in settled.values())
    assert result.errors == 0
    _agrees_with_rebuild(catalog, library)


def test_a_file_rewritten_while_a_rebuild_reads_is_compared_by_the_next_sync(
    catalog, two_folders, monkeypatch
):
    library = two_folders
    sidecar = library.root / "a" / "project_1_frame_0_variant_0.json"
    assert sidecar.exists()
    real = diff_module.Differ._load_folder

    def rewrite_after_the_walk(self, folder):
        if folder.rel == "a":  # listed (digest taken) before this rewrite
            before = sidecar.read_bytes()
            after = before.replace(b'"steps": 30', b'"steps": 31')
            assert after != before
            sidecar.write_bytes(after)
            os.utime(sidecar, ns=(sidecar.stat().st_mtime_ns + 10**9,) * 2)
        return real(self, folder)

    monkeypatch.setattr(diff_module.Differ, "_load_folder", rewrite_after_the_walk)
    catalog.rebuild(library.root)
    monkeypatch.undo()
    compared = _compared_folders(monkeypatch)
    catalog.sync(library.root)
    assert "a" in compared  # its listing is not the one the rebuild walked
    _agrees_with_rebuild(catalog, library)


def test_a_bulk_load_keeps_no_listing_of_a_folder_too_big_to_hold(
    catalog, two_folders, monkeypatch
):
    monkeypatch.setattr(diff_module, "BULK_LISTING_BYTES", 0)
    catalog.rebuild(two_folders.root)
    assert _listings(catalog) == {}
    catalog.sync(two_folders.root)  # a full comparison stores them
    assert set(_listings(catalog)) == {"a", "b"}


def test_a_folder_with_anything_to_do_stores_no_listing(catalog, two_folders):
    library = two_folders
    _settled(catalog, library)
    library.frame(1, 5, folder="a")  # new: read, so "a" is not settled in this sync
    catalog.sync(library.root)
    assert set(_listings(catalog)) == {"b"}
    catalog.sync(library.root)
    assert set(_listings(catalog)) == {"a", "b"}


def test_a_removed_root_takes_its_listings_along(catalog, two_folders):
    _settled(catalog, two_folders)
    (name,) = [root.name for root in catalog.list_roots()]
    catalog.remove_root(name)
    assert _listings(catalog) == {}


@pytest.mark.parametrize(
    "change",
    [
        "rewrite same size",
        "touch",
        "new sidecar",
        "delete sidecar",
        "delete image",
        "image for imageless",
        "sequence grows",
        "rename image",
        "bad sidecar",
        "broken symlink",
        "folder gone",
    ],
)
def test_every_change_of_a_listing_is_seen_after_folders_were_skipped(
    any_catalog, two_folders, change
):
    library = two_folders
    catalog = any_catalog
    _settled(catalog, library)
    catalog.sync(library.root)  # skips both folders
    a = library.root / "a"
    first = a / "project_1_frame_0_variant_0.json"
    if change == "rewrite same size":
        data, mtime = _remember(first)
        _put_back(first, data.replace(b'"steps": 30', b'"steps": 31'), mtime + 1)
    elif change == "touch":
        os.utime(first, ns=(first.stat().st_mtime_ns + 1000,) * 2)
    elif change == "new sidecar":
        library.frame(1, 7, folder="a")
    elif change == "delete sidecar":
        first.unlink()
    elif change == "delete image":
        first.with_suffix(".png").unlink()
    elif change == "image for imageless":
        (a / "project_1_frame_9_variant_0.png").write_bytes(b"p")
    elif change == "sequence grows":
        (library.root / "b" / "clip_seq_003.png").write_bytes(b"p")
    elif change == "rename image":
        first.with_suffix(".png").rename(a / "other.png")
    elif change == "bad sidecar":
        (a / "broken.json").write_text("{not json")
    elif change == "broken symlink":
        os.symlink(library.root.parent / "nowhere.json", a / "dangling.json")
    elif change == "folder gone":
        for path in (library.root / "b").iterdir():
            path.unlink()
        (library.root / "b").rmdir()
    catalog.sync(library.root)
    _agrees_with_rebuild(catalog, library)


# ---------------------------------------------------------------- invalidation


def test_a_file_synced_by_path_drops_its_folders_listing(any_catalog, two_folders):
    """The watcher's and edits' path: rows written, then the file put back as it was."""
    library = two_folders
    catalog = any_catalog
    _settled(catalog, library)
    before = catalog_state(catalog)
    sidecar = library.root / "a" / "project_1_frame_1_variant_0.json"
    data, mtime = _remember(sidecar)
    sidecar.write_text(data.decode().replace('"steps": 30', '"steps": 12'))
    sync_paths(catalog.engine, library.root, [sidecar])
    assert catalog.get(sidecar).parameters["steps"] == 12
    assert set(_listings(catalog)) == {"b"}
    _put_back(sidecar, data, mtime)  # the listing is again the one "a" was stored with
    assert catalog.sync(library.root).updated == 1
    assert catalog.get(sidecar).parameters["steps"] == 30
    assert catalog_state(catalog) == before


def test_a_file_removed_by_path_and_put_back_is_indexed_again(any_catalog, two_folders):
    library = two_folders
    catalog = any_catalog
    _settled(catalog, library)
    before = catalog_state(catalog)
    sidecar = library.root / "b" / "project_2_frame_0_variant_0.json"
    data, mtime = _remember(sidecar)
    sidecar.unlink()
    sync_paths(catalog.engine, library.root, [sidecar])
    _put_back(sidecar, data, mtime)
    assert catalog.sync(library.root).added == 1
    assert catalog_state(catalog) == before


def test_an_image_update_by_path_drops_its_folders_listing(any_catalog, two_folders):
    library = two_folders
    catalog = any_catalog
    _settled(catalog, library)
    before = catalog_state(catalog)
    image = library.root / "b" / "clip_seq_002.png"
    image.unlink()
    sync_paths(catalog.engine, library.root, [image])
    assert catalog.get(library.root / "b" / "clip_seq_000.json").image_count == 2
    image.write_bytes(b"p")  # images are listed by name only
    catalog.sync(library.root)
    assert catalog_state(catalog) == before


def test_a_failure_recorded_by_path_drops_its_folders_listing(any_catalog, two_folders):
    library = two_folders
    catalog = any_catalog
    _settled(catalog, library)
    before = catalog_state(catalog)
    sidecar = library.root / "a" / "project_1_frame_2_variant_0.json"
    data, mtime = _remember(sidecar)
    sidecar.write_text("{not json")
    sync_paths(catalog.engine, library.root, [sidecar])
    assert len(catalog.errors()) == 1
    _put_back(sidecar, data, mtime)
    catalog.sync(library.root)
    assert catalog.errors() == []
    assert catalog_state(catalog) == before


def test_an_edit_drops_its_folders_listing(any_catalog, two_folders):
    """Catalog.rate rewrites the sidecar and syncs it by path."""
    library = two_folders
    catalog = any_catalog
    _settled(catalog, library)
    before = catalog_state(catalog)
    sidecar = library.root / "a" / "project_1_frame_0_variant_0.json"
    data, mtime = _remember(sidecar)
    catalog.rate(4, [sidecar])
    assert catalog.get(sidecar).document["rating"] == 4
    _put_back(sidecar, data, mtime)
    catalog.sync(library.root)
    assert "rating" not in catalog.get(sidecar).document
    assert catalog_state(catalog) == before


def test_each_store_write_drops_the_listing_of_the_folder_it_writes(catalog, two_folders):
    """The rule itself, method by method: a folder's rows written, its listing gone."""
    library = two_folders
    _settled(catalog, library)
    with catalog.engine.connect() as conn:
        ids = dict(conn.execute(text("SELECT folder, min(id) FROM frames GROUP BY folder")).all())
        root_id = conn.execute(text("SELECT id FROM roots")).scalar_one()

    def after(write) -> set[str]:
        with catalog.engine.connect() as conn, conn.begin() as transaction:
            conn.execute(
                text(
                    "INSERT INTO folder_listings (root_id, folder, digest, unchanged) "
                    "VALUES (:r, 'a', :d, 0), (:r, 'b', :d, 0) "
                    "ON CONFLICT (root_id, folder) DO NOTHING"
                ),
                {"r": root_id, "d": b"x" * 16},
            )
            write(Store(conn, root_id))
            left = set(conn.execute(text("SELECT folder FROM folder_listings")).scalars())
            transaction.rollback()
        return left

    from kino_catalog.index.file_rows import FailedFile

    failure = FailedFile("a", "x.json", 1, 1, "error", "bad")
    assert after(lambda store: store.delete_frames([ids["a"]])) == {"b"}
    assert after(lambda store: store.update_images([("x.png", False, 0, ids["b"])])) == {"a"}
    assert after(lambda store: store.record_failures([failure])) == {"b"}
    assert after(lambda store: store.forget_failures([("b", "x.json")])) == {"a"}
    assert after(lambda store: store.begin_bulk_load()) == set()
    assert after(lambda store: None) == {"a", "b"}


def test_frames_written_by_a_sync_drop_their_folders_listing(catalog, two_folders, monkeypatch):
    """insert_frames and update_frames, through the sync's writer."""
    library = two_folders
    _settled(catalog, library)
    library.frame(2, 8, folder="b")  # inserted
    catalog.sync(library.root)
    assert "b" not in _listings(catalog)
    catalog.sync(library.root)
    sidecar = library.root / "a" / "project_1_frame_1_variant_0.json"
    data, mtime = _remember(sidecar)
    _put_back(sidecar, data, mtime + 5)  # updated in place (same id)
    real = Store.update_frames
    updated: list[int] = []

    def spying(self, frames):
        updated.extend(frame_id for frame_id, _ in frames)
        return real(self, frames)

    monkeypatch.setattr(Store, "update_frames", spying)
    catalog.sync(library.root)
    assert len(updated) == 1
    assert "a" not in _listings(catalog)


def test_no_module_but_the_store_writes_the_rows_a_listing_vouches_for():
    """A new writer of frames or index_errors must drop folder listings as store.py does."""
    writes = re.compile(
        r"(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(frames|frame_documents|index_errors)\b"
        r"|_(frames|failures|errors|documents)\.(insert|update|delete)\("
        r"|\b(insert|update|delete)\((frames_table|frame_documents_table|index_errors_table)\b"
        r"|\b(frames_table|frame_documents_table|index_errors_table)\.(insert|update|delete)\(",
        re.IGNORECASE,
    )
    writers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if writes.search(path.read_text(encoding="utf-8"))
    }
    assert writers == {"index/store.py", "index/bulk_load.py"}


def test_later_migrations_that_change_rows_drop_folder_listings():
    """As 0009 did (index errors dropped so files are read again), after 0011."""
    writes = re.compile(
        r"(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(frames|frame_documents|index_errors)\b",
        re.IGNORECASE,
    )
    for path in sorted(MIGRATIONS.glob("*.py")):
        revision = re.search(r'^revision: str = "(\d+)"', path.read_text(), re.MULTILINE)
        assert revision is not None
        if int(revision[1]) > 11 and writes.search(path.read_text()):
            assert "folder_listings" in path.read_text(), path.name


# ---------------------------------------------------------------- the digest


def _folder(root: Path) -> Folder:
    (folder,) = [f for f in walk_root(str(root)) if f.rel == ""]
    return folder


def test_the_digest_is_the_same_in_another_process(tmp_path):
    for i in range(50):
        (tmp_path / f"f{i}.json").write_text("{}" * i)
        (tmp_path / f"f{i}.png").write_bytes(b"p")
    code = (
        "import sys; from kino_catalog.index.walk import walk_root; "
        "print(next(iter(walk_root(sys.argv[1]))).listing_digest().hex())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code, str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert digests == {_folder(tmp_path).listing_digest().hex()}


def test_the_digest_does_not_depend_on_how_the_names_are_cut_into_pieces(tmp_path, monkeypatch):
    for i in range(50):
        (tmp_path / f"f{i}.json").write_text("{}" * i)
        (tmp_path / f"f{i}.png").write_bytes(b"p")
    whole = _folder(tmp_path).listing_digest()
    for size in (1, 7, 100):
        monkeypatch.setattr(walk_module, "DIGEST_NAMES", size)
        assert _folder(tmp_path).listing_digest() == whole


def test_the_digest_changes_with_anything_the_comparison_reads(tmp_path):
    sidecar = tmp_path / "x.json"
    sidecar.write_text("{}")
    (tmp_path / "x.png").write_bytes(b"p")
    seen = {_folder(tmp_path).listing_digest()}

    def changed() -> bool:
        digest = _folder(tmp_path).listing_digest()
        is_new = digest not in seen
        seen.add(digest)
        return is_new

    os.utime(sidecar, ns=(1, 1))
    assert changed()
    sidecar.write_text("{} ")
    os.utime(sidecar, ns=(1, 1))
    assert changed()  # size
    (tmp_path / "x.png").rename(tmp_path / "y.png")
    assert changed()  # an image's name
    (tmp_path / "y.png").unlink()
    assert changed()
    os.symlink(tmp_path / "missing", tmp_path / "z.json")
    assert changed()  # a broken entry
    (tmp_path / "sub").mkdir()  # a folder is not a file of this listing
    assert not changed()


def test_a_far_future_mtime_still_digests(tmp_path):
    sidecar = tmp_path / "x.json"
    sidecar.write_text("{}")
    far = 2**63 + 10**12  # past 2262: beyond an int64 of nanoseconds
    folder = _folder(tmp_path)
    folder.sidecars[0] = ("x.json", 2, far)
    other = _folder(tmp_path)
    other.sidecars[0] = ("x.json", 2, far + 1)
    assert folder.listing_digest() != other.listing_digest()


def test_a_listing_without_the_walk_has_no_digest():
    with pytest.raises(ValueError, match="no listing"):
        Folder("x").listing_digest()
