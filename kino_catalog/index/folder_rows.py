"""A folder's index rows as a sync reads them, on a read connection of its own.

The comparison of a walk with the index (diff.py) and the check of which
unchanged frames' images changed (image_changes.py) ask the same few kinds
of question: a folder's rows in batches, or the whole rows of some names.
A plain DB-API cursor answers them: these rows are compared, not shown, and
SQLAlchemy's Row objects cost more than the query for big folders.  In a
bulk load nothing is indexed yet, so every answer is empty without a query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kino_catalog.schema.database import placeholder

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Engine

__all__ = ["NAMES_PER_QUERY", "PROGRESS_ROWS", "FolderRows"]

# Index rows per fetch (a flat folder of a million frames is never in memory
# whole), and so unchanged files between two progress calls.
PROGRESS_ROWS = 10_000
NAMES_PER_QUERY = 500  # names per "name IN (...)" look-up
# Whole rows, for the few files a comparison could not settle in bulk.
_NAMED_ROWS = (
    "SELECT id, name, size, mtime_ns, image_name, image_exists, image_count "
    "FROM frames WHERE root_id = ? AND folder = ? AND name IN ({names})"
)


class FolderRows:
    """Queries of one root's index rows; ``?`` marks become the dialect's own."""

    def __init__(self, engine: Engine, root_id: int, *, is_rebuild: bool) -> None:
        self.conn = engine.connect()
        self.root_id = root_id
        self.is_rebuild = is_rebuild  # everything is new: the old rows are already deleted
        self._mark = placeholder(self.conn.dialect)

    def rows(self, sql: str, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        """A query's rows, fetched in batches (see :meth:`batches`); none in a bulk load."""
        for batch in self.batches(sql, params):
            yield from batch

    def batches(self, sql: str, params: tuple[Any, ...]) -> Iterator[list[tuple[Any, ...]]]:
        """A query's rows in lists of up to PROGRESS_ROWS, for comparisons in bulk.

        Batches keep a flat folder of a million frames (Kino's own layout)
        from ever having all its rows in memory at once.
        """
        if self.is_rebuild:
            return
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql.replace("?", self._mark), params)
            while rows := cursor.fetchmany(PROGRESS_ROWS):
                yield list(rows)
        finally:
            cursor.close()
            self.conn.rollback()  # never pin an old snapshot while the writer commits

    def query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        return list(self.rows(sql, params))

    def named(
        self, folder: str, names: list[str], condition: str = "TRUE"
    ) -> Iterator[tuple[Any, ...]]:
        """The whole rows (see _NAMED_ROWS) of the files ``names`` in ``folder``."""
        for start in range(0, len(names), NAMES_PER_QUERY):
            chunk = names[start : start + NAMES_PER_QUERY]
            sql = _NAMED_ROWS.format(names=", ".join(["?"] * len(chunk))) + f" AND {condition}"
            yield from self.query(sql, (self.root_id, folder, *chunk))

    def close(self) -> None:
        self.conn.close()
