"""The root registry: a root's identity and name, and where each host has it.

Frames are stored relative to their root, so a root is only an id, a uuid
(also in the folder's marker, see markers.py) and a name; ``root_mounts``
maps it to a local path per host (see kino_catalog.schema.host).  Every
write that creates or maps a root runs in one registry transaction, taken
under a lock (PostgreSQL: an advisory transaction lock; SQLite: its write
lock), and reads the folder's marker inside it: two machines adding the
same share at once end up with one root, not two.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid as uuid_module
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from kino_catalog.errors import UsageError
from kino_catalog.index.locks import REGISTRY_LOCK
from kino_catalog.index.markers import Marker, read_marker, sample_sidecars, write_marker
from kino_catalog.schema import frames_table, root_mounts_table, roots_table
from kino_catalog.schema.database import WRITE
from kino_catalog.sidecar.files import is_inside

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine

__all__ = [
    "RootInfo",
    "WriteTarget",
    "add_root",
    "check_not_nested",
    "check_root_name",
    "list_roots",
    "registry_transaction",
    "resolve_folder",
    "root_by_name",
    "set_mount",
    "target_for_write",
]

_roots: Table = roots_table
_mounts: Table = root_mounts_table
_frames: Table = frames_table
MAX_NAME = 100
MATCH_SHARE = 0.8  # of an unmarked folder's sampled sidecars, found in one unmapped root
MIN_SAMPLE = 3


@dataclass(frozen=True)
class RootInfo:
    """One root as ``kino-catalog roots`` lists it."""

    id: int
    uuid: str
    name: str
    path: str | None  # where this host has it; None: not mapped here
    frames: int
    added_at: dt.datetime
    synced_at: dt.datetime | None
    synced_by: str | None
    mounts: dict[str, str] = field(default_factory=dict)  # host -> path, every host

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "uuid": self.uuid,
            "path": self.path,
            "frames": self.frames,
            "added_at": self.added_at.isoformat(timespec="seconds"),
            "synced_at": self.synced_at.isoformat(timespec="seconds") if self.synced_at else None,
            "synced_by": self.synced_by,
            "mounts": dict(self.mounts),
        }


@dataclass
class WriteTarget:
    """The root a write goes to: its id and name, the folder to walk, and what was decided."""

    root_id: int
    name: str
    path: str
    warnings: list[str] = field(default_factory=list)


def check_root_name(name: str) -> str:
    """A root name as given, if usable: not empty, no path separator or colon, no control chars.

    Raises:
        UsageError: it is not.
    """
    clean = name.strip()
    if not clean or len(clean) > MAX_NAME:
        raise UsageError(f"a root name is 1 to {MAX_NAME} characters: {name!r}")
    if any(c in "/\\:" or ord(c) < 32 for c in clean) or clean.isdigit():
        raise UsageError(
            f"bad root name {name!r}: no '/', '\\', ':' or control characters, not only digits"
        )
    return clean


def resolve_folder(path: str | os.PathLike[str]) -> str:
    """The canonical absolute path of a library folder.

    Raises:
        UsageError: it does not exist or is not a folder.
    """
    real = os.path.realpath(os.path.expanduser(os.fspath(path)))
    if not os.path.isdir(real):
        raise UsageError(f"not a folder: {os.fspath(path)}")
    return real


# ---------------------------------------------------------------- reading


def list_roots(engine: Engine, host: str) -> list[RootInfo]:
    """Every root, by name, with its frame count and where each host has it."""
    with engine.connect() as conn:
        mounts: dict[int, dict[str, str]] = {}
        for root_id, mount_host, path in conn.execute(
            select(_mounts.c.root_id, _mounts.c.host, _mounts.c.path)
        ):
            mounts.setdefault(root_id, {})[mount_host] = path
        counts: dict[int, int] = dict(
            conn.execute(select(_frames.c.root_id, func.count()).group_by(_frames.c.root_id)).all()
        )
        rows = conn.execute(
            select(
                _roots.c.id,
                _roots.c.uuid,
                _roots.c.name,
                _roots.c.added_at,
                _roots.c.synced_at,
                _roots.c.synced_by,
            ).order_by(_roots.c.name)
        ).all()
    return [
        RootInfo(
            id=row.id,
            uuid=row.uuid,
            name=row.name,
            path=mounts.get(row.id, {}).get(host),
            frames=int(counts.get(row.id, 0)),
            added_at=row.added_at,
            synced_at=row.synced_at,
            synced_by=row.synced_by,
            mounts=dict(sorted(mounts.get(row.id, {}).items())),
        )
        for row in rows
    ]


def root_by_name(engine: Engine, host: str, name: str) -> RootInfo:
    """The root called ``name`` (case-insensitive).

    Raises:
        UsageError: there is none.
    """
    wanted = name.strip().casefold()
    for info in list_roots(engine, host):
        if info.name.casefold() == wanted:
            return info
    raise UsageError(f"no root named {name!r} (see `kino-catalog roots`)")


# ---------------------------------------------------------------- the registry transaction


@contextlib.contextmanager
def registry_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s, %s)", REGISTRY_LOCK)
        yield conn


def _mount_here(conn: Connection, host: str, path: str) -> tuple[int, str, str] | None:
    row = conn.execute(
        select(_roots.c.id, _roots.c.name, _roots.c.uuid)
        .join_from(_mounts, _roots, _mounts.c.root_id == _roots.c.id)
        .where(_mounts.c.host == host, _mounts.c.path == path)
    ).first()
    return (row.id, row.name, row.uuid) if row else None


def check_not_nested(conn: Connection, host: str, path: str, root_id: int | None) -> None:
    # Nested roots would index the same sidecars twice under two names.
    for other, other_id in conn.execute(
        select(_mounts.c.path, _mounts.c.root_id).where(_mounts.c.host == host)
    ):
        if other_id == root_id:
            continue
        if path == other:
            raise UsageError(f"{path} is already mapped on this host to another root")
        if is_inside(other, path):
            raise UsageError(
                f"{path} is inside {other}, which is already indexed: sync {other} instead"
            )
        if is_inside(path, other):
            raise UsageError(
                f"{path} contains {other}, which is already indexed on its "
                "own: sync that folder, or use a new catalogue (--db) for this one"
            )


def set_mount(conn: Connection, host: str, root_id: int, path: str) -> None:
    where = and_(_mounts.c.root_id == root_id, _mounts.c.host == host)
    if conn.execute(select(_mounts.c.path).where(where)).first() is None:
        conn.execute(_mounts.insert().values(root_id=root_id, host=host, path=path))
    else:
        conn.execute(_mounts.update().where(where).values(path=path))


def _unique_name(conn: Connection, wanted: str) -> str:
    taken = {n.casefold() for n in conn.execute(select(_roots.c.name)).scalars()}
    name, n = wanted, 1
    while name.casefold() in taken:
        n += 1
        name = f"{wanted}-{n}"
    return name


def _default_name(path: str) -> str:
    """A folder's name (or a marker's name) if it makes a usable root name, else "root"."""
    base = os.path.basename(path.rstrip(os.sep)) or "root"
    try:
        return check_root_name(base)
    except UsageError:
        return "root"


# ---------------------------------------------------------------- resolving a folder


def target_for_write(engine: Engine, host: str, folder: str | os.PathLike[str]) -> WriteTarget:
    """The root a sync of ``folder`` writes to, recognising, mapping or adding it as needed.

    The common case (this host already maps the folder, and its marker
    agrees) is one read; anything else goes through the registry.

    Raises:
        UsageError: not a folder, nested in another root, another root's
            folder, or seemingly a root this host has not mapped (see markers.py).
    """
    path = resolve_folder(folder)
    marker = read_marker(path)
    with engine.connect() as conn:
        known = _mount_here(conn, host, path)
    if known is not None and (marker is None or marker.uuid == known[2]):
        if marker is None:  # a migrated root, or a read-only share: try, quietly
            write_marker(path, Marker(known[2], known[1]))
        return WriteTarget(known[0], known[1], path)
    return _register(engine, host, path, name=None, is_new=False)


def add_root(
    engine: Engine, host: str, folder: str | os.PathLike[str], name: str | None = None
) -> WriteTarget:
    """Make ``folder`` a root named ``name`` (default: the folder's name) and map it here.

    A folder that already is a root (by its marker) is mapped here under its
    existing name instead; an unmarked folder whose sidecars match a root
    this host has not mapped is added all the same (the caller asked for a
    new root).

    Raises:
        UsageError: as for target_for_write, or the name is taken.
    """
    path = resolve_folder(folder)
    checked = check_root_name(name) if name is not None else None
    return _register(engine, host, path, name=checked, is_new=True)


def _register(
    engine: Engine, host: str, path: str, *, name: str | None, is_new: bool
) -> WriteTarget:
    with registry_transaction(engine) as conn:
        marker = read_marker(path)  # again, under the lock: another host may have just added it
        by_uuid = {
            row.uuid: row for row in conn.execute(select(_roots.c.id, _roots.c.uuid, _roots.c.name))
        }
        known = _mount_here(conn, host, path)
        if known is not None:
            return _known_here(conn, path, marker, by_uuid, known)
        if marker is not None and marker.uuid in by_uuid:
            return _recognised(conn, host, path, by_uuid[marker.uuid], name)
        check_not_nested(conn, host, path, None)
        if marker is None and not is_new:
            _refuse_lookalike(conn, host, path)
        if name is not None:
            if _unique_name(conn, name) != name:
                raise UsageError(f"there already is a root named {name!r}")
            chosen = name
        else:
            chosen = _unique_name(
                conn, _default_name(marker.name if marker and marker.name else path)
            )
        uuid = marker.uuid if marker is not None else uuid_module.uuid4().hex
        root_id = conn.execute(
            _roots.insert().values(uuid=uuid, name=chosen, added_at=_now())
        ).inserted_primary_key
        assert root_id is not None
        set_mount(conn, host, int(root_id[0]), path)
        target = WriteTarget(int(root_id[0]), chosen, path)
        if marker is None:
            failure = write_marker(path, Marker(uuid, chosen))
            if failure is not None:
                target.warnings.append(
                    f"cannot write {path}'s root marker ({failure}): other machines will not "
                    f"recognise it; map it there with `kino-catalog roots map {chosen} PATH`"
                )
        return target


def _known_here(
    conn: Connection,
    path: str,
    marker: Marker | None,
    by_uuid: dict[str, Any],
    known: tuple[int, str, str],
) -> WriteTarget:
    root_id, name, uuid = known
    if marker is not None and marker.uuid in by_uuid and marker.uuid != uuid:
        other = by_uuid[marker.uuid].name
        raise UsageError(
            f"{path} is mapped on this host as root {name!r}, but its marker says it is root "
            f"{other!r}: fix the mapping with `kino-catalog roots map {other} {path}`"
        )
    if marker is not None and marker.uuid != uuid:
        # Marked by another catalogue: one folder keeps one identity everywhere.
        conn.execute(_roots.update().where(_roots.c.id == root_id).values(uuid=marker.uuid))
    return WriteTarget(root_id, name, path)


def _recognised(conn: Connection, host: str, path: str, root: Any, name: str | None) -> WriteTarget:
    """``path`` carries the marker of a known root: use it (mapping it here if need be)."""
    if name is not None and name.casefold() != root.name.casefold():
        raise UsageError(f"{path} already is root {root.name!r} (its marker says so)")
    here = conn.execute(
        select(_mounts.c.path).where(_mounts.c.root_id == root.id, _mounts.c.host == host)
    ).scalar()
    target = WriteTarget(root.id, root.name, path)
    if here is not None and os.path.isdir(here):
        if os.path.samefile(here, path):  # the same folder by another path (a bind mount)
            return target
        raise UsageError(
            f"{path} carries the marker of root {root.name!r}, which this host has at {here}, "
            f"another folder: a copy? To index it as a root of its own, delete "
            f"{os.path.join(path, '.kino-catalog-root')} and sync it again"
        )
    check_not_nested(conn, host, path, root.id)
    set_mount(conn, host, root.id, path)
    target.warnings.append(
        f"{path} is root {root.name!r} (recognised by its marker); "
        + (f"its mapping on this host moved from {here}" if here else "now mapped on this host")
    )
    return target


def _refuse_lookalike(conn: Connection, host: str, path: str) -> None:
    """Refuse to index an unmarked folder whose sidecars are a root this host has not mapped."""
    sample = sample_sidecars(path)
    if len(sample) < MIN_SAMPLE:
        return
    unmapped = select(_roots.c.id).where(
        ~select(_mounts.c.root_id)
        .where(_mounts.c.root_id == _roots.c.id, _mounts.c.host == host)
        .exists()
    )
    hits: dict[int, int] = {}
    for folder, name, size in sample:
        for (root_id,) in conn.execute(
            select(_frames.c.root_id).where(
                _frames.c.root_id.in_(unmapped),
                _frames.c.folder == folder,
                _frames.c.name == name,
                _frames.c.size == size,
            )
        ):
            hits[root_id] = hits.get(root_id, 0) + 1
    best = max(hits.items(), key=lambda item: item[1], default=None)
    if best is not None and best[1] >= MATCH_SHARE * len(sample):
        other = conn.execute(select(_roots.c.name).where(_roots.c.id == best[0])).scalar()
        raise UsageError(
            f"{path} looks like root {other!r} ({best[1]} of {len(sample)} sampled sidecars "
            f"are in its index), which this host has not mapped: run `kino-catalog roots map "
            f"{other} {path}`, or `kino-catalog roots add NAME {path}` if it is another folder"
        )


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)
