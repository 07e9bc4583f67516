"""Changing the root registry by hand: map, unmap, rename and remove roots (see roots.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from kino_catalog.errors import UsageError
from kino_catalog.index.locks import root_write_lock
from kino_catalog.index.markers import Marker, read_marker, write_marker
from kino_catalog.index.roots import (
    WriteTarget,
    check_not_nested,
    check_root_name,
    registry_transaction,
    resolve_folder,
    root_by_name,
    set_mount,
)
from kino_catalog.index.store import Store
from kino_catalog.schema import frames_table, root_mounts_table, roots_table
from kino_catalog.schema.database import WRITE

if TYPE_CHECKING:
    import os

    from sqlalchemy import Table
    from sqlalchemy.engine import Engine

    from kino_catalog.index.locks import WriteAccess

__all__ = ["map_root", "remove_root", "rename_root", "unmap_root"]

_roots: Table = roots_table
_mounts: Table = root_mounts_table
_frames: Table = frames_table


def map_root(engine: Engine, host: str, name: str, folder: str | os.PathLike[str]) -> WriteTarget:
    """Map root ``name`` to ``folder`` on this host (replacing an earlier mapping here).

    Raises:
        UsageError: no such root, not a folder, nested in or holding another
            root, or the folder's marker names another root.
    """
    path = resolve_folder(folder)
    root = root_by_name(engine, host, name)
    with registry_transaction(engine) as conn:
        marker = read_marker(path)
        if marker is not None and marker.uuid != root.uuid:
            other = conn.execute(select(_roots.c.name).where(_roots.c.uuid == marker.uuid)).scalar()
            if other is not None:
                raise UsageError(
                    f"{path} is root {other!r} (its marker says so), not {root.name!r}"
                )
        check_not_nested(conn, host, path, root.id)
        set_mount(conn, host, root.id, path)
        target = WriteTarget(root.id, root.name, path)
        if marker is None or marker.uuid != root.uuid:
            failure = write_marker(path, Marker(root.uuid, root.name))
            if failure is not None and marker is None:
                target.warnings.append(f"cannot write {path}'s root marker ({failure})")
    return target


def unmap_root(engine: Engine, host: str, name: str) -> None:
    """Forget where this host has root ``name`` (its frames stay).

    Raises:
        UsageError: no such root, or it is not mapped here.
    """
    root = root_by_name(engine, host, name)
    if root.path is None:
        raise UsageError(f"root {root.name!r} is not mapped on this host")
    with registry_transaction(engine) as conn:
        conn.execute(_mounts.delete().where(_mounts.c.root_id == root.id, _mounts.c.host == host))


def rename_root(engine: Engine, host: str, old: str, new: str) -> None:
    """Rename a root (its identity, mappings and frames stay).

    Raises:
        UsageError: no root ``old``, a bad name, or ``new`` is taken.
    """
    root = root_by_name(engine, host, old)
    new = check_root_name(new)
    with registry_transaction(engine) as conn:
        taken = conn.execute(
            select(_roots.c.id).where(func.lower(_roots.c.name) == new.lower())
        ).scalar()
        if taken is not None and taken != root.id:
            raise UsageError(f"there already is a root named {new!r}")
        conn.execute(_roots.update().where(_roots.c.id == root.id).values(name=new))


def remove_root(engine: Engine, name: str, access: WriteAccess) -> int:
    """Drop root ``name`` and all its frames from the catalogue (its files stay); returns frames.

    Raises:
        UsageError: no such root.
        RootBusyError: another process writes the root and ``access.wait`` is False.
        RootLockLostError: the root's write lock went before the commit (see locks.py).
    """
    root = root_by_name(engine, access.host, name)
    with root_write_lock(engine, root.id, root.name, access, what="roots remove") as check_lock:
        with engine.connect().execution_options(**WRITE) as conn, conn.begin():
            ids = list(
                conn.execute(select(_frames.c.id).where(_frames.c.root_id == root.id)).scalars()
            )
            removed = Store(conn, root.id).delete_frames(ids)  # keeps the full-text index in step
            conn.execute(_roots.delete().where(_roots.c.id == root.id))  # errors, mounts cascade
            check_lock()
    return removed
