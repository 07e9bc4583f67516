"""Progress on a terminal: a bar that never stops the indexer from using both cores."""

from __future__ import annotations

import io
import threading

import pytest
from sqlalchemy import text

from kino_catalog import Catalog
from kino_catalog.cli import app
from kino_catalog.index import folder_rows
from kino_catalog.index import sync as indexer_module
from kino_catalog.index import writer as writer_module
from kino_catalog.index.result import SyncResult


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_runs_no_thread_and_rebuilds_still_fork(tmp_path, library, monkeypatch):
    for i in range(40):
        library.frame(1, i)
    monkeypatch.setattr(app.sys, "stderr", _Terminal())
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(indexer_module, "PARALLEL_MIN_FILES", 10)
    monkeypatch.setattr(indexer_module, "CHUNK_FILES", 8)
    pools = []
    real_pool = indexer_module._process_pool

    def recording_pool():
        pool = real_pool()
        pools.append(pool)
        return pool

    monkeypatch.setattr(indexer_module, "_process_pool", recording_pool)
    seen = []
    with app.progress_reporter("Rebuilding") as update, Catalog.open(tmp_path / "c.db") as cat:
        assert update is not None
        assert threading.active_count() == 1  # rich's refresh thread would forbid forking

        def record(done, total):
            seen.append((done, total))
            update(done, total)

        result = cat.rebuild(library.root, progress=record)
    assert result.added == 40
    assert pools
    assert pools[0] is not None  # the readers ran in processes
    assert seen[-1] == (40, 40)


def test_a_bulk_load_keeps_calling_back_during_long_statements(catalog, monkeypatch):
    # Every check calls back, so the beat count does not depend on the machine's speed.
    monkeypatch.setattr(writer_module, "KEEP_ALIVE_SECONDS", 0.0)
    long_statement = (  # millions of SQLite VM steps: many KEEP_ALIVE_OPS checks
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) "
        "SELECT count(*) FROM n"
    )
    beats = []
    writer = writer_module.Writer(catalog.engine, 1, SyncResult("x"), single_transaction=True)
    try:
        writer.keep_alive(lambda: beats.append(1))
        writer.conn.exec_driver_sql(long_statement).scalar()
    finally:
        writer.close(is_ok=False)
    assert len(beats) >= 2
    after_close = len(beats)
    with catalog.engine.connect() as conn:  # the pooled connection calls nothing any more
        conn.exec_driver_sql(long_statement).scalar()
    assert len(beats) == after_close


class _Stop(Exception):
    pass


def test_a_callback_raising_during_the_bulk_tail_stops_it_with_its_own_exception(
    catalog, library, monkeypatch
):
    for i in range(30):
        library.frame(1, i)
    catalog.sync(library.root)
    before = catalog.count()
    library.frame(1, 99)
    monkeypatch.setattr(writer_module, "KEEP_ALIVE_SECONDS", 0.0)
    monkeypatch.setattr(writer_module, "KEEP_ALIVE_OPS", 50)
    calls = []

    def stop_while_writing(done, total):
        calls.append((done, total))
        if done == total:  # reading is over: the copy and index build call back now
            raise _Stop  # as a watcher's stop() or Ctrl-C would

    with pytest.raises(_Stop):
        catalog.rebuild(library.root, progress=stop_while_writing)
    assert calls[0] == (31, 30)  # the read phase: 31 files where the index had 30
    assert calls[-1] == (31, 31)  # the tail's keep-alive call, which raised
    assert catalog.count() == before  # rolled back: the old index, untouched
    assert catalog.rebuild(library.root).added == 31


def test_a_no_change_sync_reports_progress_as_it_compares(catalog, library, monkeypatch):
    for i in range(30):
        library.frame(1, i)
    catalog.sync(library.root)  # a bulk load: it stores the folder's listing
    with catalog.engine.begin() as conn:  # without it, the next sync compares row by row
        conn.execute(text("DELETE FROM folder_listings"))
    monkeypatch.setattr(folder_rows, "PROGRESS_ROWS", 4)
    seen = []
    result = catalog.sync(library.root, progress=lambda done, total: seen.append((done, total)))
    assert result.unchanged == 30
    assert [done for done, _ in seen] == [4, 8, 12, 16, 20, 24, 28, 30]
    assert {total for _, total in seen} == {30}
    seen.clear()  # and a folder skipped by its listing counts all its files at once
    assert catalog.sync(library.root, progress=lambda d, t: seen.append((d, t))).unchanged == 30
    assert seen == [(30, 30)]
