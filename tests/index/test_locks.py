"""One writer per root: a second one waits (saying for whom) or, with --no-wait, fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from kino_catalog import Catalog, RootBusyError, RootLockLostError
from kino_catalog.index.locks import WriteAccess, lock_file, root_write_lock


@pytest.fixture
def synced(any_target, library):
    """A catalogue with the library synced once (so the root exists), and its root id."""
    library.frame(1, 1)
    with Catalog.open(any_target, host="ws-a") as cat:
        cat.sync(library.root)
        yield cat, cat.list_roots()[0]


def test_a_second_writer_of_a_root_waits_naming_the_first(synced, library):
    cat, root = synced
    messages: list[str] = []
    release = threading.Event()
    results = []
    with root_write_lock(cat.engine, root.id, root.name, WriteAccess("ws-b"), what="rebuild"):
        library.frame(1, 2)
        worker = threading.Thread(
            target=lambda: results.append(cat.sync(library.root, on_wait=messages.append))
        )
        worker.start()
        deadline = time.monotonic() + 30
        while not messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not results  # still waiting
        release.set()
    worker.join(30)
    assert len(messages) == 1
    assert "root 'library' is being written by rebuild on ws-b" in messages[0]
    assert f"pid {os.getpid()}" in messages[0]
    assert results[0].added == 1


def test_no_wait_fails_at_once_and_other_roots_go_on(synced, library, tmp_path):
    cat, root = synced
    other = tmp_path / "other"
    other.mkdir()
    (other / "o.json").write_bytes(
        (library.root / "frames/project_1_frame_1_variant_0.json").read_bytes()
    )
    with root_write_lock(cat.engine, root.id, root.name, WriteAccess("ws-b")):
        with pytest.raises(RootBusyError, match=r"root .library. is being written by .* ws-b"):
            cat.sync(library.root, wait=False)
        with pytest.raises(RootBusyError):
            cat.remove_root("library", wait=False)
        assert cat.sync(other, wait=False).added == 1  # another root: no wait
    assert cat.sync(library.root, wait=False).unchanged == 1  # released


def test_cli_no_wait_exits_1_with_one_line(synced, library, run_cli):
    cat, root = synced
    db = cat.engine.url.render_as_string(hide_password=False)
    db = cat.engine.url.database if cat.engine.dialect.name == "sqlite" else db
    with root_write_lock(cat.engine, root.id, root.name, WriteAccess("ws-b")):
        result = run_cli("sync", "--no-wait", str(library.root), db=db)
    assert result.code == 1
    assert result.err.strip().startswith("kino-catalog: root 'library' is being written by")
    assert len(result.err.strip().splitlines()) == 1


HOLDER = textwrap.dedent(
    """
    import sys, time
    from kino_catalog import Catalog
    from kino_catalog.index.locks import WriteAccess, root_write_lock
    with Catalog.open(sys.argv[1], host="ws-killed") as cat:
        root = cat.list_roots()[0]
        with root_write_lock(cat.engine, root.id, root.name, WriteAccess("ws-killed")):
            print("locked", flush=True)
            time.sleep(600)
    """
)


def test_a_killed_holder_leaves_the_root_unlocked(synced, library, any_target):
    cat, _root = synced
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, any_target], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RootBusyError, match="ws-killed"):
            cat.sync(library.root, wait=False)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    deadline = time.monotonic() + 10  # the server notices the closed session at once
    while True:
        try:
            assert cat.sync(library.root, wait=False).unchanged == 1
            break
        except RootBusyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# ---------------------------------------------------------------- a lock lost while held


def _lose_lock(cat: Catalog, root_id: int) -> None:
    """Take the root's lock away from its holder, as a server or a careless user could."""
    if cat.engine.dialect.name == "sqlite":
        path = lock_file(str(cat.engine.url.database), root_id)
        os.remove(path)  # the next writer creates a new file and locks that
        open(path, "w").close()
        return
    import psycopg

    url = cat.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory' "
            "AND l.granted AND l.objid::bigint = %s AND l.objsubid = 2",
            (root_id,),
        ).fetchall()
    assert killed == [(True,)]


def test_a_write_that_lost_its_lock_commits_nothing(synced, library):
    """A rebuild whose lock goes mid-way stops before its commit: the old index stays whole."""
    cat, root = synced
    library.frame(1, 2)
    library.frame(1, 3)
    calls: list[int] = []

    def progress(done: int, total: int | None) -> None:
        if not calls:
            _lose_lock(cat, root.id)
        calls.append(done)

    with pytest.raises(RootLockLostError, match=r"lost the write lock of root 'library' \("):
        cat.rebuild(library.root, progress=progress)
    assert calls
    assert cat.count("") == 1  # rolled back: nothing of the rebuild landed
    result = cat.sync(library.root, wait=False)  # the lock was let go: the root is free
    assert (result.added, result.unchanged) == (2, 1)


def test_a_lock_file_removed_or_replaced_is_noticed(catalog, library):
    library.frame(1, 1)
    catalog.sync(library.root)
    root = catalog.list_roots()[0]
    path = lock_file(str(catalog.engine.url.database), root.id)
    with root_write_lock(catalog.engine, root.id, root.name, WriteAccess("ws-a")) as check:
        check()  # held: no error
        os.remove(path)
        with pytest.raises(RootLockLostError, match=r"lock file .* was removed"):
            check()
        open(path, "w").close()
        with pytest.raises(RootLockLostError, match=r"lock file .* was replaced"):
            check()


def _synced_root(target, library):
    """A one-frame library synced into the catalogue ``target``; its root."""
    library.frame(1, 1)
    with Catalog.open(target) as cat:
        cat.sync(library.root)
        return cat.list_roots()[0]


def _set_idle_session_timeout(admin, pg_url, milliseconds):
    """What the server gives every new session of the test's database."""
    database = pg_url.rsplit("/", 1)[1]
    admin.execute(f'ALTER DATABASE "{database}" SET idle_session_timeout = {milliseconds}')


@pytest.mark.postgres
def test_the_lock_session_outlives_idle_session_timeout(pg_url, library):
    """A server ending idle sessions must not end the lock's: it idles for the whole write."""
    import psycopg

    root = _synced_root(pg_url, library)
    # Every session of the catalogue gets the timeout, the lock's too until it opts out
    # at its first statements: a pause longer than the timeout before those (a busy
    # machine stalls for a few hundred ms) would end it, and the test with it.
    with psycopg.connect(pg_url, autocommit=True) as admin:
        _set_idle_session_timeout(admin, pg_url, 1000)
        with Catalog.open(pg_url) as cat:
            with root_write_lock(cat.engine, root.id, root.name, WriteAccess("ws-a")) as check:
                time.sleep(2.5)  # two and a half timeouts
                check()  # would raise if the server had ended the session
                held = admin.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND objid::bigint = %s AND objsubid = 2",
                    (root.id,),
                ).fetchone()
                assert held == (1,)


@pytest.mark.postgres
def test_a_lock_whose_session_ended_is_released_cleanly(pg_url, library):
    root = _synced_root(pg_url, library)
    with Catalog.open(pg_url) as cat:
        with root_write_lock(cat.engine, root.id, root.name, WriteAccess("ws-a")) as check:
            _lose_lock(cat, root.id)
            for _ in range(2):  # and stays lost, not some other error the second time
                with pytest.raises(RootLockLostError, match="its database session ended"):
                    check()
        # Leaving the block raised nothing, and the root is free at once.
        with root_write_lock(cat.engine, root.id, root.name, WriteAccess("ws-b", wait=False)):
            pass
        assert cat.sync(library.root, wait=False).unchanged == 1


def test_a_relative_catalogue_path_survives_a_change_of_directory(tmp_path, library, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = _synced_root("sqlite:///relative.db", library)
    with Catalog.open("sqlite:///relative.db") as cat:
        with root_write_lock(cat.engine, root.id, root.name, WriteAccess("ws-a")) as check:
            monkeypatch.chdir(library.root)
            check()  # the lock file is where it was, whatever the directory now is


@pytest.mark.postgres
def test_the_lock_session_goes_back_to_the_pool_as_the_server_set_it(pg_url, library):
    import psycopg
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool

    from kino_catalog.schema.database import to_url

    root = _synced_root(pg_url, library)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        _set_idle_session_timeout(admin, pg_url, 600000)
    engine = create_engine(to_url(pg_url), poolclass=StaticPool)  # one session for everything
    try:
        with root_write_lock(engine, root.id, root.name, WriteAccess("ws-a")):
            pass  # the lock's session opts out meanwhile (see the test above)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW idle_session_timeout").scalar() == "10min"
    finally:
        engine.dispose()


_PLAIN_ENGINE_REBUILD = textwrap.dedent(
    """
    import sys
    from sqlalchemy import create_engine
    from kino_catalog import Catalog
    from kino_catalog.schema.database import to_url
    Catalog(create_engine(to_url(sys.argv[1]))).rebuild(sys.argv[2])
    """
)


@pytest.mark.postgres
def test_a_rebuild_on_an_engine_of_its_own_keeps_the_partial_indexes(pg_url, library):
    """The PostgreSQL-only index conditions are attached lazily (schema.models): a rebuild
    in a process that never called make_engine must recreate its indexes with them."""
    import psycopg

    _synced_root(pg_url, library)
    partial = (
        "SELECT indexname FROM pg_indexes WHERE tablename IN ('frames', 'parameters') "
        "AND indexdef LIKE '% WHERE %' ORDER BY 1"
    )
    with psycopg.connect(pg_url, autocommit=True) as admin:
        before = admin.execute(partial).fetchall()
    assert len(before) == 6
    subprocess.run(
        [sys.executable, "-c", _PLAIN_ENGINE_REBUILD, pg_url, str(library.root)], check=True
    )
    with psycopg.connect(pg_url, autocommit=True) as admin:
        assert admin.execute(partial).fetchall() == before
