"""A studio: several processes ("workstations") writing one catalogue at once, for real.

Each test starts `kino-catalog` processes with their own host names
(KINO_CATALOG_HOST) against one catalogue, on PostgreSQL and on SQLite, and
ends by comparing the catalogue with a rebuild of the same folders from
scratch: nothing lost, nothing twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from kino_catalog import Catalog
from kino_catalog.testing.corpus import generate_corpus
from tests.catalog_state import catalog_state
from tests.factories import make_sidecar

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def kino(db: str, host: str, *args: str, log: Path | None = None) -> subprocess.Popen[str]:
    """Start ``kino-catalog --db DB ARGS`` as workstation ``host``.

    A long-running process (a watcher) logs to the file ``log`` instead of a
    pipe: nobody reads the pipe until it ends, and a full pipe would stop it.
    """
    env = {**os.environ, "KINO_CATALOG_HOST": host}
    env.pop("CI", None)  # progress output stays off anyway: stderr is a pipe
    with contextlib.ExitStack() as stack:
        stderr = subprocess.PIPE if log is None else stack.enter_context(log.open("w"))
        return subprocess.Popen(
            [sys.executable, "-m", "kino_catalog", "--db", db, *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(child) for child in fh.read().split()]
    except OSError:
        return []


def _is_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def finish(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


class Burst(threading.Thread):
    """Writes new sidecars (and PNGs) into folders while other processes index them."""

    def __init__(self, folders: list[Path], per_folder: int, *, pause_seconds: float = 0.002):
        super().__init__(daemon=True)
        self.folders = folders
        self.per_folder = per_folder
        self.pause_seconds = pause_seconds
        self.written = 0

    def run(self) -> None:
        for i in range(self.per_folder):
            for n, folder in enumerate(self.folders):
                target = folder / "burst" / f"project_9{n}_frame_{i}_variant_0.json"
                target.parent.mkdir(exist_ok=True)
                doc = make_sidecar({"seed": 10_000 + i, "prompt": f"burst {n} {i}"})
                tmp = target.with_name("." + target.name + ".tmp")
                tmp.write_text(json.dumps(doc))
                os.replace(tmp, target)  # whole files only, as Kino's writer does
                self.written += 1
            time.sleep(self.pause_seconds)


@contextlib.contextmanager
def _scratch_catalogue(like: str, tmp_path: Path):
    """A new, empty catalogue of the same kind as ``like`` (SQLite file or PostgreSQL database)."""
    if "://" not in like:
        yield str(tmp_path / "rebuilt.db")
        return
    import psycopg

    server, name = like.rsplit("/", 1)
    scratch = f"{name}_rebuilt"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    try:
        yield f"{server}/{scratch}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def rebuilt_state(like: str, tmp_path: Path, folders: list[Path]) -> dict:
    """What a catalogue made from scratch of ``folders`` holds (same kind of database)."""
    with (
        _scratch_catalogue(like, tmp_path) as target,
        Catalog.open(target, host="reference") as fresh,
    ):
        for folder in folders:
            fresh.rebuild(folder)
        return catalog_state(fresh)


@contextlib.contextmanager
def second_mount(folder: Path, where: Path):
    """The same folder at another path: a bind mount where allowed, else a symlinked parent.

    A symlinked parent resolves to the same real path, so there only the host
    names differ; a bind mount really gives two paths to one folder.
    """
    where.mkdir(parents=True)
    done = subprocess.run(["mount", "--bind", str(folder), str(where)], capture_output=True)
    if done.returncode == 0:
        try:
            yield where
        finally:
            subprocess.run(["umount", str(where)], check=True)
        return
    where.rmdir()
    link = where.parent / "linked-parent"
    link.symlink_to(folder.parent, target_is_directory=True)
    yield link / folder.name


def test_three_workstations_open_a_new_catalogue_and_index_three_roots_at_once(
    any_target, tmp_path
):
    folders = []
    for n in range(3):
        folder = tmp_path / f"root-{n}"
        generate_corpus(folder, 1500, seed=n, projects=3)
        folders.append(folder)
    burst = Burst(folders, 150)
    workers = [kino(any_target, f"ws-{n}", "sync", str(folder)) for n, folder in enumerate(folders)]
    burst.start()  # the catalogue does not exist yet: all three create it at once
    outcomes = [finish(worker) for worker in workers]
    burst.join()
    assert [code for code, _, _ in outcomes] == [0, 0, 0], [err for _, _, err in outcomes]
    assert all("duplicate key" not in err for _, _, err in outcomes)
    for n, folder in enumerate(folders):  # what arrived after each walk passed its folder
        code, _, err = finish(kino(any_target, f"ws-{n}", "sync", str(folder)))
        assert code == 0, err
    with Catalog.open(any_target, host="ws-0") as shared:
        roots = shared.list_roots()
        assert [(r.name, r.synced_by) for r in roots] == [
            (f"root-{n}", f"ws-{n}") for n in range(3)
        ]
        assert shared.count() == 3 * 1500 + burst.written - shared.stats()["errors"]
        assert catalog_state(shared) == rebuilt_state(any_target, tmp_path, folders)


def test_the_same_root_from_two_hosts_never_duplicates_a_frame(any_target, tmp_path):
    folder = tmp_path / "share" / "frames"
    generate_corpus(folder, 800, seed=7, projects=2)
    with second_mount(folder, tmp_path / "mnt" / "frames") as elsewhere:
        burst = Burst([folder], 200)
        burst.start()
        for _ in range(3):  # both workstations sync the share at once, again and again
            a = kino(any_target, "ws-a", "sync", str(folder))
            b = kino(any_target, "ws-b", "sync", str(elsewhere))
            for code, _, err in (finish(a), finish(b)):
                assert code == 0, err
        burst.join()
        for host, path in (("ws-a", folder), ("ws-b", elsewhere)):
            code, _, err = finish(kino(any_target, host, "sync", str(path)))
            assert code == 0, err
        with Catalog.open(any_target, host="ws-b") as shared:
            [root] = shared.list_roots()
            assert root.mounts == {"ws-a": str(folder), "ws-b": str(elsewhere)}
            assert shared.roots() == [str(elsewhere)]
            assert all(f.sidecar_path.startswith(str(elsewhere)) for f in shared.search(limit=20))
            with shared.engine.connect() as conn:
                twice = conn.execute(
                    text(
                        "SELECT count(*) FROM (SELECT folder, name FROM frames "
                        "GROUP BY root_id, folder, name HAVING count(*) > 1) AS d"
                    )
                ).scalar()
            assert twice == 0
            assert catalog_state(shared) == rebuilt_state(any_target, tmp_path, [folder])


def test_a_sync_racing_a_watch_on_one_root_loses_nothing(any_target, tmp_path):
    folder = tmp_path / "frames"
    generate_corpus(folder, 600, seed=3, projects=2)
    code, _, err = finish(kino(any_target, "ws-w", "sync", str(folder)))
    assert code == 0, err
    log = tmp_path / "watch.log"
    watcher = kino(any_target, "ws-w", "watch", "--debounce-ms", "50", str(folder), log=log)
    try:
        time.sleep(2.0)  # its start-up reconcile
        burst = Burst([folder], 400, pause_seconds=0.005)
        burst.start()
        while burst.is_alive():  # another workstation syncs the same root meanwhile
            code, _, err = finish(kino(any_target, "ws-s", "sync", str(folder)))
            assert code == 0, err
        burst.join()
        expected = 600 + burst.written
        deadline = time.monotonic() + 60
        with Catalog.open(any_target, host="ws-s") as shared:
            while shared.count() + shared.stats()["errors"] < expected:
                assert time.monotonic() < deadline, f"the watcher lost files:\n{log.read_text()}"
                time.sleep(0.2)
            assert catalog_state(shared) == rebuilt_state(any_target, tmp_path, [folder])
    finally:
        watcher.send_signal(signal.SIGTERM)
        code, _, _ = finish(watcher, 60)
    err = log.read_text()
    assert code == 0, err
    assert "Traceback" not in err


def test_a_writer_killed_mid_sync_leaves_the_catalogue_whole_and_the_root_unlocked(
    any_target, tmp_path
):
    folder = tmp_path / "frames"
    generate_corpus(folder / "first", 500, seed=1, projects=2)
    code, _, err = finish(kino(any_target, "ws-1", "sync", str(folder)))
    assert code == 0, err
    generate_corpus(folder / "second", 12_000, seed=2, projects=4)
    with Catalog.open(any_target, host="ws-2") as shared:
        writer = kino(any_target, "ws-1", "sync", str(folder))
        deadline = time.monotonic() + 120
        while shared.count() <= 500:  # killed once a batch has been committed
            assert writer.poll() is None, finish(writer)[2]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        readers = _children(writer.pid)
        assert readers  # a sync of thousands of files reads in forked processes
        os.kill(writer.pid, signal.SIGKILL)  # the writer only, as a crash would
        writer.wait(30)
        deadline = time.monotonic() + 10  # its forked readers die with it (Linux)
        while any(_is_alive(pid) for pid in readers):
            assert time.monotonic() < deadline, "a reader outlived its writer"
            time.sleep(0.1)
        partial = shared.count()
        assert 500 < partial < 12_500
        # The lock went with the writer: another workstation syncs at once.
        deadline = time.monotonic() + 15
        while True:
            code, _, err = finish(kino(any_target, "ws-2", "sync", "--no-wait", str(folder)))
            if code == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert code == 0, err
        if shared.engine.dialect.name == "sqlite":
            with shared.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        assert catalog_state(shared) == rebuilt_state(any_target, tmp_path, [folder])
