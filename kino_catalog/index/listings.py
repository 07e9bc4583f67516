"""Folder listings: the stored digest that lets a whole-root sync skip a settled folder.

A row of ``folder_listings`` says "a sync found this folder's rows to be
exactly what a listing with this digest calls for" (index.diff stores it,
index.walk.Folder.listing_digest computes it).  It is only true while
nothing writes the folder's rows, so every writer of frames and index
errors drops it in the same transaction: index.store, whose
begin_bulk_load also drops the root's before index.bulk_load copies.
Rows changed behind kino-catalog's back (SQL by hand, a migration that
forgets this table) can make a sync skip a folder it should compare; a
rebuild of the root, which drops its listings, repairs that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kino_catalog.schema.database import placeholder

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from sqlalchemy.engine import Connection

__all__ = [
    "forget_listings",
    "forget_listings_of_frames",
    "forget_root_listings",
    "settle_listing",
    "settle_loaded_listings",
]


def settle_listing(
    conn: Connection, root_id: int, folder: str, digest: bytes, unchanged: int
) -> None:
    """Store (or replace) ``folder``'s listing digest and its count of unchanged files."""
    m = placeholder(conn.dialect)
    conn.exec_driver_sql(
        f"INSERT INTO folder_listings (root_id, folder, digest, unchanged) "
        f"VALUES ({m}, {m}, {m}, {m}) ON CONFLICT (root_id, folder) DO UPDATE "
        "SET digest = excluded.digest, unchanged = excluded.unchanged",
        (root_id, folder, digest, unchanged),
    )


def settle_loaded_listings(conn: Connection, root_id: int, digests: Mapping[str, bytes]) -> None:
    """Store the listing digests a bulk load's walk took, once its rows are all in.

    A bulk load (a rebuild, a root's first sync) reads every sidecar the walk
    listed, so its rows are what each listing calls for, and the next sync
    can skip every folder instead of comparing them all once more.  A file
    rewritten, added or removed after the walk listed it changes the next
    listing, and that sync compares the folder in full, as without a digest.
    Each folder's count of unchanged files is its frames, as a comparison
    counts them.
    """
    m = placeholder(conn.dialect)
    rows = [(root_id, folder, digest, root_id, folder) for folder, digest in digests.items()]
    if rows:
        conn.exec_driver_sql(
            "INSERT INTO folder_listings (root_id, folder, digest, unchanged) "
            f"SELECT {m}, {m}, {m}, count(*) FROM frames WHERE root_id = {m} AND folder = {m}",
            rows,
        )


def forget_root_listings(conn: Connection, root_id: int) -> None:
    """Drop every folder listing of a root."""
    conn.exec_driver_sql(
        f"DELETE FROM folder_listings WHERE root_id = {placeholder(conn.dialect)}", (root_id,)
    )


def forget_listings(conn: Connection, root_id: int, folders: Iterable[str]) -> None:
    """Drop the listings of ``folders`` of a root."""
    rows = [(root_id, folder) for folder in sorted(set(folders))]
    if rows:
        m = placeholder(conn.dialect)
        conn.exec_driver_sql(
            f"DELETE FROM folder_listings WHERE root_id = {m} AND folder = {m}", rows
        )


def forget_listings_of_frames(conn: Connection, ids: Sequence[int]) -> None:
    """Drop the listings of the folders holding frames ``ids`` (call before their rows change).

    By each frame's own root and folder, whichever root the caller writes.
    """
    if not ids:
        return
    m = placeholder(conn.dialect)
    places = conn.exec_driver_sql(
        f"SELECT DISTINCT root_id, folder FROM frames WHERE id IN ({', '.join([m] * len(ids))})",
        tuple(ids),
    ).all()
    if places:
        conn.exec_driver_sql(
            f"DELETE FROM folder_listings WHERE root_id = {m} AND folder = {m}",
            [tuple(place) for place in places],
        )
