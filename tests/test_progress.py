"""Progress on a terminal: a bar that never stops the indexer from using both cores."""

from __future__ import annotations

import io
import threading

from kino_catalog import Catalog
from kino_catalog import indexer as indexer_module
from kino_catalog.cli import app


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


def test_a_bulk_load_keeps_calling_back_during_long_statements(catalog):
    long_statement = (  # about a second of SQLite work
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) "
        "SELECT count(*) FROM n")
    beats = []
    writer = indexer_module.Writer(catalog.engine, 1, indexer_module.SyncResult("x"),
                                    single_transaction=True)
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
