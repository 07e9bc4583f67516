"""The live watcher on a real filesystem with real watchdog: the index always converges to rebuild.

No wall-clock asserts: every test changes files, then polls (with a generous
deadline) until the watcher's catalogue equals a fresh catalogue built by
``rebuild`` from the same folder.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from kino_catalog import Catalog
from kino_catalog.index import sync as indexer
from kino_catalog.sidecar import save_generation_params_sync
from kino_catalog.watch import watcher as watcher_module
from tests.factories import PNG_8X8, make_sidecar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from kino_catalog.watch.watcher import Watcher
    from tests.factories import Library

DEADLINE_SECONDS = float(os.environ.get("KINO_TEST_DEADLINE", "60"))
FAST = {
    "debounce_seconds": 0.05,
    "reconcile_interval_seconds": 3600.0,
    "supervise_interval_seconds": 0.1,
}


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """After each test, no observer, emitter, inotify reader or worker thread is left."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leaked, f"threads left running: {leaked}"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def snapshot(cat: Catalog) -> dict[str, Any]:
    """Everything a user can see: each frame's JSON (without its id) and the error list."""
    frames = {}
    for frame in cat.iter_search(""):
        data = frame.to_dict()
        del data["id"]
        frames[data["sidecar"]] = data
    errors = sorted((e["path"], e["reason"]) for e in cat.errors())
    return {"frames": frames, "errors": errors}


_expected_ids = itertools.count()


def rebuilt(root: Path, tmp_path: Path) -> dict[str, Any]:
    """What a fresh catalogue rebuilt from ``root`` shows."""
    with Catalog.open(tmp_path / f"expected-{next(_expected_ids)}.db") as fresh:
        fresh.rebuild(root)
        return snapshot(fresh)


def assert_mirrors(cat: Catalog, root: Path, tmp_path: Path) -> dict[str, Any]:
    expected = rebuilt(root, tmp_path)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while (seen := snapshot(cat)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen == expected
    return expected


@pytest.fixture
def watched(catalog: Catalog, library: Library) -> Iterator[Watcher]:
    library.frame(1, 1)
    library.frame(1, 2, folder="frames/sub")
    with catalog.watch(library.root, **FAST) as watcher:
        assert watcher.wait_idle(DEADLINE_SECONDS)
        assert catalog.count() == 2
        yield watcher


# ---------------------------------------------------------------- file changes


def test_new_sidecar(watched: Watcher, catalog: Catalog, library: Library, tmp_path: Path) -> None:
    library.frame(2, 1, parameters={"prompt": "a castle at dusk"})
    assert_mirrors(catalog, library.root, tmp_path)
    assert catalog.count("castle") == 1


def test_modified_sidecar(
    watched: Watcher, catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    library.frame(1, 1, parameters={"prompt": "a dragon over the sea", "steps": 44})
    assert_mirrors(catalog, library.root, tmp_path)
    assert catalog.count("dragon steps:44") == 1


def test_deleted_sidecar_and_image(
    watched: Watcher, catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    (library.root / "frames/project_1_frame_1_variant_0.json").unlink()
    (library.root / "frames/sub/project_1_frame_2_variant_0.png").unlink()
    assert_mirrors(catalog, library.root, tmp_path)
    assert [f.image_exists for f in catalog.search("")] == [False]


def test_renamed_sidecar(
    watched: Watcher, catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    frames = library.root / "frames"
    for suffix in (".json", ".png"):
        os.rename(
            frames / f"project_1_frame_1_variant_0{suffix}",
            frames / f"project_1_frame_9_variant_0{suffix}",
        )
    assert_mirrors(catalog, library.root, tmp_path)


def test_sidecar_moved_out_and_in(
    watched: Watcher, catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.move(library.root / "frames/project_1_frame_1_variant_0.json", outside / "a.json")
    assert_mirrors(catalog, library.root, tmp_path)
    assert catalog.count() == 1
    shutil.move(outside / "a.json", library.root / "frames/sub/project_1_frame_1_variant_0.json")
    assert_mirrors(catalog, library.root, tmp_path)
    assert catalog.count() == 2


def test_folder_renamed(
    watched: Watcher, catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    os.rename(library.root / "frames", library.root / "renamed")
    expected = assert_mirrors(catalog, library.root, tmp_path)
    assert all("/renamed/" in path for path in expected["frames"])


def test_folder_deleted(
    watched: Watcher, catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    shutil.rmtree(library.root / "frames/sub")
    assert_mirrors(catalog, library.root, tmp_path)
    assert catalog.count() == 1


@pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")  # watchdog re-adds a watch
def test_folder_moved_out_and_in(
    watched: Watcher, catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    os.rename(library.root / "frames", tmp_path / "away")
    assert_mirrors(catalog, library.root, tmp_path)
    assert catalog.count() == 0
    os.rename(tmp_path / "away", library.root / "back")
    assert_mirrors(catalog, library.root, tmp_path)
    assert catalog.count() == 2


def test_png_sequence_images_update_the_frame(
    watched: Watcher, catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    seq = library.write(
        "wan/project_3_frame_1_variant_0_seq_000.json", make_sidecar(plugin="wan22_i2v")
    )
    for i in range(1, 4):
        (seq.parent / f"project_3_frame_1_variant_0_seq_{i:03d}.png").write_bytes(PNG_8X8)
    assert_mirrors(catalog, library.root, tmp_path)
    assert catalog.get(str(seq)).image_count == 4


def test_temp_and_hidden_files_are_ignored(
    watched: Watcher, catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    (library.root / "frames/.kino-123.tmp").write_text("{")
    (library.root / "frames/.hidden.json").write_text(json.dumps(make_sidecar()))
    library.frame(5, 5)  # something to wait for
    assert_mirrors(catalog, library.root, tmp_path)
    assert catalog.count() == 3


# ---------------------------------------------------------------- how Kino writes


@pytest.mark.parametrize("is_reopened", [False, True], ids=["held-open", "reopened"])
def test_sidecar_written_in_three_chunks_with_pauses(
    watched: Watcher, catalog: Catalog, library: Library, tmp_path: Path, is_reopened: bool
) -> None:
    """Pauses outlast the debounce; a reopened file is even read half-written, then retried."""
    path = library.root / "frames/project_7_frame_1_variant_0.json"
    data = json.dumps(make_sidecar(parameters={"prompt": "written in pieces"}), indent=2).encode()
    third = len(data) // 3
    pieces = [data[:third], data[third : 2 * third], data[2 * third :]]

    def error_size() -> int | None:
        return next((e["size"] for e in catalog.errors() if e["path"] == str(path)), None)

    if is_reopened:
        for n, piece in enumerate(pieces, 1):
            with open(path, "ab") as out:
                out.write(piece)
            if n < len(pieces):
                size = sum(map(len, pieces[:n]))
                wait_for(
                    lambda size=size: error_size() == size,  # type: ignore[misc]
                    "the half-written file to be seen",
                )
    else:
        with open(path, "wb") as out:
            for piece in pieces:
                out.write(piece)
                out.flush()
                time.sleep(0.2)
    assert_mirrors(catalog, library.root, tmp_path)
    assert catalog.count("pieces") == 1
    assert catalog.errors() == []


def test_atomic_replace(
    watched: Watcher, catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    image = library.root / "frames/project_1_frame_1_variant_0.png"
    save_generation_params_sync(
        image, "sdxl", "1.0.1", 0, None, {"prompt": "regenerated in place", "steps": 12}, 1
    )
    assert_mirrors(catalog, library.root, tmp_path)
    assert catalog.count("regenerated steps:12") == 1
    assert not any(p.name.startswith(".kino-") for p in image.parent.iterdir())


def test_invalid_sidecar_later_fixed(
    watched: Watcher, catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    path = library.write("frames/project_8_frame_1_variant_0.json", '{"plugin": "sdxl", ')
    expected = assert_mirrors(catalog, library.root, tmp_path)
    assert [p for p, _ in expected["errors"]] == [str(path)]
    library.write("frames/project_8_frame_1_variant_0.json", make_sidecar())
    assert_mirrors(catalog, library.root, tmp_path)
    assert catalog.errors() == []


# ---------------------------------------------------------------- failures


def test_an_indexing_exception_does_not_stop_the_watcher(
    watched: Watcher,
    catalog: Catalog,
    library: Library,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = indexer.sync_paths
    is_broken = True

    def flaky(engine: Any, root: Any, paths: Any, **options: Any) -> Any:
        paths = list(paths)
        if is_broken and any("poison" in os.fspath(p) for p in paths):
            raise RuntimeError("simulated indexer bug")
        return real(engine, root, paths, **options)

    monkeypatch.setattr(indexer, "sync_paths", flaky)
    library.write("frames/poison.json", make_sidecar())
    for i in range(5):
        library.frame(9, i)
    wait_for(
        lambda: catalog.count("project:9") == 5 and watched.stats.failures >= 1,
        "the healthy files beside the failing one",
    )
    assert "poison" not in json.dumps([f.sidecar_path for f in catalog.search("")])
    is_broken = False  # the retry (with backoff) now succeeds
    assert_mirrors(catalog, library.root, tmp_path)
    library.frame(10, 1)  # and the watcher still follows events
    assert_mirrors(catalog, library.root, tmp_path)


def test_an_exception_in_the_event_handler_does_not_kill_watching(
    watched: Watcher,
    catalog: Catalog,
    library: Library,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(*_args: Any, **_kw: Any) -> bool:
        raise OSError("simulated handler failure")

    monkeypatch.setattr(watcher_module, "is_watched", explode)
    library.frame(11, 1)
    wait_for(lambda: watched.stats.reconciles >= 2, "a reconcile after the handler failed")
    monkeypatch.undo()
    assert_mirrors(catalog, library.root, tmp_path)
    library.frame(11, 2)
    assert_mirrors(catalog, library.root, tmp_path)


def test_a_dead_observer_is_restarted(
    watched: Watcher, catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    observer = watched._roots[0].observer
    assert observer is not None
    observer.stop()  # as if its thread had died
    observer.join()
    library.frame(12, 1)
    wait_for(lambda: watched.stats.observer_restarts >= 1, "the observer to be restarted")
    assert_mirrors(catalog, library.root, tmp_path)
    library.frame(12, 2)
    assert_mirrors(catalog, library.root, tmp_path)


def test_too_many_pending_changes_trigger_a_reconcile(
    catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    with catalog.watch(library.root, max_pending_paths=10, **FAST) as watcher:
        assert watcher.wait_idle(DEADLINE_SECONDS)
        for i in range(300):
            library.frame(13, i)
        assert_mirrors(catalog, library.root, tmp_path)
        assert watcher.stats.overflows >= 1


def deaf_observer() -> Any:
    """Alive, but polls once an hour: the watcher gets no events at all."""
    from watchdog.observers.polling import PollingObserver

    return PollingObserver(timeout=3600)


def test_periodic_reconcile_repairs_what_events_missed(
    catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    options = {**FAST, "reconcile_interval_seconds": 0.3}
    with catalog.watch(library.root, observer_factory=deaf_observer, **options) as watcher:
        assert watcher.wait_idle(DEADLINE_SECONDS)
        library.frame(14, 1)
        assert_mirrors(catalog, library.root, tmp_path)


def test_a_kernel_queue_overflow_triggers_a_reconcile(
    catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    import logging

    with catalog.watch(library.root, observer_factory=deaf_observer, **FAST) as watcher:
        assert watcher.wait_idle(DEADLINE_SECONDS)
        library.frame(18, 1)  # unseen: the observer is deaf
        # what watchdog's inotify reader logs when the kernel dropped events
        logging.getLogger("watchdog.observers.inotify_c").warning(
            "Inotify queue overflowed; filesystem events were lost"
        )
        assert_mirrors(catalog, library.root, tmp_path)
        assert watcher.stats.overflows == 1


def test_two_roots_in_one_watcher(catalog: Catalog, library: Library, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    with catalog.watch(library.root, other, **FAST) as watcher:
        assert watcher.wait_idle(DEADLINE_SECONDS)
        library.frame(21, 1)
        (other / "project_21_frame_2_variant_0.json").write_text(
            json.dumps(make_sidecar(project_id=21))
        )
        wait_for(lambda: catalog.count("project:21") == 2, "a frame in each root")
        (library.root / "frames/project_21_frame_1_variant_0.json").unlink()
        wait_for(
            lambda: (
                [f.sidecar_path for f in catalog.search("project:21")]
                == [str(other / "project_21_frame_2_variant_0.json")]
            ),
            "the deletion in the first root",
        )


@pytest.mark.postgres
def test_watching_into_postgresql(pg_url: str, library: Library, tmp_path: Path) -> None:
    with Catalog.open(pg_url) as cat, cat.watch(library.root, **FAST) as watcher:
        assert watcher.wait_idle(DEADLINE_SECONDS)
        library.frame(19, 1)
        library.frame(19, 2, folder="elsewhere")
        assert_mirrors(cat, library.root, tmp_path)
        shutil.rmtree(library.root / "elsewhere")
        assert_mirrors(cat, library.root, tmp_path)


def test_polling_observer(catalog: Catalog, library: Library, tmp_path: Path) -> None:
    with catalog.watch(library.root, use_polling=True, poll_interval_seconds=0.1, **FAST) as w:
        assert w.wait_idle(DEADLINE_SECONDS)
        library.frame(15, 1)
        assert_mirrors(catalog, library.root, tmp_path)
        (library.root / "frames/project_15_frame_1_variant_0.json").unlink()
        assert_mirrors(catalog, library.root, tmp_path)


@pytest.mark.parametrize("use_polling", [False, True], ids=["inotify", "polling"])
def test_root_removed_and_recreated(
    catalog: Catalog, library: Library, tmp_path: Path, use_polling: bool
) -> None:
    library.frame(16, 1)
    library.frame(16, 2)
    with catalog.watch(
        library.root, use_polling=use_polling, poll_interval_seconds=0.1, **FAST
    ) as watcher:
        assert watcher.wait_idle(DEADLINE_SECONDS)
        before = snapshot(catalog)
        os.rename(library.root, tmp_path / "unmounted")
        wait_for(lambda: watcher.missing_roots == [str(library.root)], "the root to be missed")
        assert snapshot(catalog) == before  # not "everything was deleted"
        library.root.mkdir()
        library.frame(16, 3)
        wait_for(lambda: not watcher.missing_roots, "the root to be back")
        assert_mirrors(catalog, library.root, tmp_path)
        library.frame(16, 4)  # watching again
        assert_mirrors(catalog, library.root, tmp_path)
        assert catalog.count() == 2


def test_an_emptied_mount_point_is_not_taken_for_deletions(
    watched: Watcher, catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    """An unmounted share leaves an empty folder on another device: keep the index."""
    root = watched._roots[0]
    before = snapshot(catalog)
    real_device, root.device = root.device, -2  # the folder is now "another device"
    shutil.rmtree(library.root / "frames")  # and looks empty
    wait_for(lambda: watched.missing_roots == [str(library.root)], "the root to be missed")
    time.sleep(0.3)  # give wrongly-processed deletions a chance to show up
    assert snapshot(catalog) == before
    root.device = real_device  # remounted (here: the files really are gone)
    wait_for(lambda: not watched.missing_roots, "the root to be back")
    assert_mirrors(catalog, library.root, tmp_path)


# ---------------------------------------------------------------- volume and readers


def write_frames(root: Path, count: int, *, folders: int = 8) -> None:
    """``count`` distinct sidecars (no images) as fast as Python writes files."""
    for folder in range(folders):
        (root / f"burst_{folder}").mkdir(exist_ok=True)
    doc = make_sidecar()
    for i in range(count):
        doc["parameters"]["seed"] = i
        doc["parameters"]["prompt"] = f"burst frame {i}"
        name = f"burst_{i % folders}/project_20_frame_{i}_variant_0.json"
        (root / name).write_bytes(json.dumps(doc).encode())


@pytest.mark.slow
def test_a_burst_of_10000_sidecars_loses_nothing(
    catalog: Catalog, library: Library, tmp_path: Path
) -> None:
    with catalog.watch(
        library.root, debounce_seconds=0.2, reconcile_interval_seconds=3600.0
    ) as watcher:
        assert watcher.wait_idle(DEADLINE_SECONDS)
        write_frames(library.root, 10_000)
        wait_for(lambda: catalog.count() == 10_000, "10,000 frames", timeout=120)
        assert_mirrors(catalog, library.root, tmp_path)


SEARCH_LOOP = """
import json, os, sys
from kino_catalog import Catalog
db, stop = sys.argv[1:]
runs, failures = 0, []
with Catalog.open(db) as cat:
    print("ready", flush=True)
    while not os.path.exists(stop):
        try:
            cat.search("lora:add_detail steps:20..40", limit=50)
            cat.count("")
            runs += 1
        except Exception as exc:
            failures.append(repr(exc))
print(json.dumps({"runs": runs, "failures": failures[:5]}))
"""


def test_searches_from_another_process_never_fail(
    catalog: Catalog, library: Library, db_path: Path, tmp_path: Path
) -> None:
    stop = tmp_path / "stop"
    with catalog.watch(library.root, **FAST) as watcher:
        assert watcher.wait_idle(DEADLINE_SECONDS)
        searcher = subprocess.Popen(
            [sys.executable, "-c", SEARCH_LOOP, str(db_path), str(stop)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert searcher.stdout is not None
            assert searcher.stdout.readline().strip() == "ready"
            write_frames(library.root, 1500)
            wait_for(lambda: catalog.count() == 1500, "1,500 frames")
        finally:
            stop.touch()
            out, _ = searcher.communicate(timeout=DEADLINE_SECONDS)
    report = json.loads(out.strip().splitlines()[-1])
    assert report["failures"] == []
    assert report["runs"] > 0


# ---------------------------------------------------------------- lifecycle and CLI


def test_stop_is_idempotent_and_joins_everything(catalog: Catalog, library: Library) -> None:
    watcher = catalog.watch(library.root, **FAST)
    watcher.stop()  # never started: nothing to do
    watcher = catalog.watch(library.root, **FAST).start()
    assert watcher.wait_idle(DEADLINE_SECONDS)
    watcher.stop()
    watcher.stop()
    with pytest.raises(RuntimeError, match="already started"):
        watcher.start()


def test_watching_a_missing_folder_is_a_usage_error(catalog: Catalog, tmp_path: Path) -> None:
    from kino_catalog.errors import UsageError

    with pytest.raises(UsageError, match="not a folder"):
        catalog.watch(tmp_path / "nope")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_watch_follows_changes_and_stops_cleanly(
    library: Library, db_path: Path, sig: signal.Signals
) -> None:
    library.frame(17, 1)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kino_catalog",
            "--db",
            str(db_path),
            "watch",
            "--debounce-ms",
            "50",
            str(library.root),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        before = []
        while "watching" not in (line := proc.stderr.readline()):
            assert line, "the watcher ended before watching"
            before.append(line)
        assert any("synced" in b and "1 added" in b for b in before)  # synced up front
        library.frame(17, 2)
        with Catalog.open(db_path) as cat:
            wait_for(lambda: cat.count() == 2, "the new frame in the CLI's catalogue")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=DEADLINE_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "stopped" in err


def test_cli_watch_usage_errors(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    missing = run_cli("watch", str(tmp_path / "nope"))
    assert missing.code == 2
    assert missing.err.count("\n") == 1
    assert "not a folder" in missing.err
    assert run_cli("watch").code == 2  # no root given, none known yet
    helped = run_cli("watch", "--help")
    assert helped.code == 0
    assert "--reconcile-interval" in helped.out


def test_a_batchs_line_counts_warnings_as_sync_does():
    """Frames indexed with a warning (a value left out of its column) are named, not hidden."""
    from kino_catalog.index.result import SyncResult

    plain = SyncResult("/lib", added=2, errors=1, seconds=0.25)
    assert watcher_module._summary(plain) == "2 added, 0 updated, 0 removed, 1 in error, 0.25 s"
    warned = SyncResult("/lib", added=2, errors=1, warned=3, seconds=0.25)
    assert watcher_module._summary(warned) == (
        "2 added, 0 updated, 0 removed, 1 in error, 3 with warnings, 0.25 s"
    )
