"""The Catalog: the library's front door; it delegates to index, query, regen, report, watch.

The services a search does not need (indexing, edits, imports, regen,
reports, verification) are imported by the methods that use them: opening a
catalogue and counting a query stay cheap for a CLI started per command
(issue 15: start-up).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Unpack

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from kino_catalog.catalog import health
from kino_catalog.catalog.lookup import lookup_statement
from kino_catalog.errors import CatalogError, CatalogMissingError, RootNotMappedError, UsageError
from kino_catalog.index import roots as registry
from kino_catalog.index.image_location import sequence_member
from kino_catalog.index.locks import WriteAccess
from kino_catalog.index.walk import file_inside
from kino_catalog.query.counting import count_statement
from kino_catalog.query.fields import query_fields, unknown_field_warnings
from kino_catalog.query.frame import Frame, RootPlace, root_places
from kino_catalog.query.plan import search_statement
from kino_catalog.query.sql import to_ast
from kino_catalog.schema import projects_table, root_mounts_table, tags_table
from kino_catalog.schema.database import (
    default_database,
    make_engine,
    migrate_to_head,
    sqlite_file,
)
from kino_catalog.schema.host import this_host
from kino_catalog.sidecar.added_keys import check_tag
from kino_catalog.sidecar.files import is_inside

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from types import TracebackType

    from sqlalchemy.engine import Connection, Engine

    from kino_catalog.catalog.counts import MatchCount
    from kino_catalog.catalog.edits import EditResult
    from kino_catalog.catalog.gallery import Facets, Page
    from kino_catalog.catalog.importing import ImportResult
    from kino_catalog.index.result import SyncResult
    from kino_catalog.index.roots import RootInfo, WriteTarget
    from kino_catalog.query.ast import Node
    from kino_catalog.regen.kino_api import KinoClient
    from kino_catalog.regen.overrides import Edits
    from kino_catalog.regen.presets import Preset
    from kino_catalog.regen.submit import RunOptions, Submission
    from kino_catalog.regen.tasks import TaskResult
    from kino_catalog.watch.watcher import Watcher

__all__ = ["Catalog"]


_mounts = root_mounts_table


class Catalog:
    """A catalogue of Kino sidecars in SQLite (a path) or PostgreSQL (a URL).

    ``host`` is the machine this catalogue is used from: roots are mapped to
    local paths per host (see kino_catalog.schema.host; default: this one).
    """

    def __init__(self, engine: Engine, host: str | None = None) -> None:
        self.engine = engine
        self.host = host or this_host()

    @classmethod
    def open(
        cls,
        target: str | os.PathLike[str] | None = None,
        *,
        host: str | None = None,
        create: bool = True,
    ) -> Catalog:
        """Open (creating or upgrading to the newest schema) the catalogue at ``target``.

        Safe to call from many processes and machines at once, on a new
        catalogue too: one migrates, the others wait and find it current.
        ``create=False`` opens only a catalogue that exists (an older one is
        still upgraded): no file, folder or schema is created.

        Raises:
            CatalogError: cannot connect, or the database is newer than this code.
            CatalogMissingError: ``create`` is False and there is no catalogue.
        """
        target = target if target is not None else default_database()
        if not create:
            path = sqlite_file(target)
            if path is not None and not path.is_file():
                raise CatalogMissingError(str(path))
        engine = make_engine(target)
        try:
            migrate_to_head(engine, create=create)
        except DBAPIError as exc:
            engine.dispose()
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise CatalogError(f"cannot open catalogue {target}: {reason}") from exc
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, host)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------ roots
    def roots(self) -> list[str]:
        """The library folders of this catalogue that this host has (its local paths)."""
        with self.engine.connect() as conn:
            stmt = select(_mounts.c.path).where(_mounts.c.host == self.host)
            return sorted(conn.execute(stmt).scalars())

    def list_roots(self) -> list[RootInfo]:
        """Every root: name, frames, this host's path (None: not mapped here), every mapping."""
        return registry.list_roots(self.engine, self.host)

    def add_root(self, path: str | os.PathLike[str], name: str | None = None) -> WriteTarget:
        """Make the folder ``path`` a root called ``name`` (default: its folder name), mapped here.

        Writes the root's marker file into the folder (see index/markers.py);
        a folder that already is a root is mapped here under its name.

        Raises:
            UsageError: not a folder, nested in another root, a taken or bad name.
        """
        return registry.add_root(self.engine, self.host, path, name)

    def map_root(self, name: str, path: str | os.PathLike[str]) -> WriteTarget:
        """Tell the catalogue where this host has root ``name``.

        Raises:
            UsageError: no such root, not a folder, or the folder is another root.
        """
        from kino_catalog.index import root_changes

        return root_changes.map_root(self.engine, self.host, name, path)

    def unmap_root(self, name: str) -> None:
        """Forget this host's path of root ``name`` (its frames stay).

        Raises:
            UsageError: no such root, or not mapped here.
        """
        from kino_catalog.index import root_changes

        root_changes.unmap_root(self.engine, self.host, name)

    def rename_root(self, name: str, new_name: str) -> None:
        """Rename root ``name``.

        Raises:
            UsageError: no such root, a bad or taken new name.
        """
        from kino_catalog.index import root_changes

        root_changes.rename_root(self.engine, self.host, name, new_name)

    def remove_root(
        self, name: str, *, wait: bool = True, on_wait: Callable[[str], None] | None = None
    ) -> int:
        """Drop root ``name`` and its frames from the catalogue (files stay); returns frames.

        Raises:
            UsageError: no such root.
            RootBusyError: another process writes it and ``wait`` is False.
            RootLockLostError: the root's write lock went while writing (see index.locks).
        """
        from kino_catalog.index import root_changes

        return root_changes.remove_root(self.engine, name, self.write_access(wait, on_wait))

    def root_path(self, ref: str | os.PathLike[str]) -> str:
        """The folder a ROOT argument means: a folder path, else the name of a root mapped here.

        Raises:
            UsageError: neither a folder nor a root's name, or the root is not mapped here.
        """
        text = os.fspath(ref)
        if os.path.isdir(os.path.expanduser(text)):
            return text
        try:
            root = registry.root_by_name(self.engine, self.host, text)
        except UsageError:
            raise UsageError(f"not a folder, nor the name of a root: {text}") from None
        if root.path is None:
            raise RootNotMappedError(root.name)
        return root.path

    def write_access(
        self, wait: bool = True, on_wait: Callable[[str], None] | None = None
    ) -> WriteAccess:
        """Who writes (this host) and whether to wait for another writer of a root."""
        return WriteAccess(self.host, wait, on_wait)

    def root_places(self) -> dict[int, RootPlace]:
        """Every root's name and this host's path of it (None: not mapped here), by root id."""
        with self.engine.connect() as conn:
            return root_places(conn, self.host)

    # ------------------------------------------------------------ indexing
    def sync(
        self,
        root: str | os.PathLike[str],
        progress: Callable[[int, int | None], None] | None = None,
        *,
        wait: bool = True,
        on_wait: Callable[[str], None] | None = None,
    ) -> SyncResult:
        """Index new and changed sidecars under ``root`` and drop deleted ones.

        One writer per root at a time, on every machine: if another process
        writes this root, wait for it (``on_wait`` hears whom for), or with
        ``wait=False`` raise RootBusyError.
        """
        from kino_catalog.index import sync as indexer

        return indexer.sync_root(
            self.engine, root, progress, access=self.write_access(wait, on_wait)
        )

    def rebuild(
        self,
        root: str | os.PathLike[str],
        progress: Callable[[int, int | None], None] | None = None,
        *,
        wait: bool = True,
        on_wait: Callable[[str], None] | None = None,
    ) -> SyncResult:
        """Re-read every sidecar under ``root``; searches see the old index until done.

        Waits for (or with ``wait=False`` refuses) another writer, as :meth:`sync`.
        """
        from kino_catalog.index import sync as indexer

        return indexer.rebuild_root(
            self.engine, root, progress, access=self.write_access(wait, on_wait)
        )

    def import_images(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        dry_run: bool = False,
        overwrite_imported: bool = False,
        stealth: bool = False,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> ImportResult:
        """Write Kino sidecars for images made by other tools (A1111, ComfyUI, ...), index them.

        Images whose sidecar exists and was not written by an import are left
        alone; earlier imports are redone only with ``overwrite_imported``.
        ``stealth`` also reads A1111 metadata hidden in the pixels (decodes them).

        Raises:
            UsageError: a path does not exist, or would nest one library folder in another.
        """
        from kino_catalog.catalog import importing

        return importing.import_images(
            self.engine,
            self.write_access(),
            self.roots(),
            paths,
            dry_run=dry_run,
            overwrite_imported=overwrite_imported,
            stealth=stealth,
            progress=progress,
        )

    # ------------------------------------------------------------ reading
    def search(
        self, query: str | Node = "", *, limit: int | None = 50, sort: str = "newest"
    ) -> list[Frame]:
        """Frames matching ``query``, ``limit=None`` (or 0) for all.

        Raises:
            QueryError: the query is malformed, or the sort key unknown.
        """
        return list(self.iter_search(query, limit=limit, sort=sort))

    def iter_search(
        self, query: str | Node = "", *, limit: int | None = None, sort: str = "newest"
    ) -> Iterator[Frame]:
        """Stream matching frames without holding them all in memory.

        Raises:
            QueryError: the query is malformed, or the sort key unknown.
        """
        node = to_ast(query)
        text = query if isinstance(query, str) else None
        conn = self.engine.connect()
        try:  # errors surface here, before a caller prints anything
            plan = search_statement(conn, node, sort=sort, limit=limit or None, query=text)
            places = root_places(conn, self.host)
        except BaseException:
            conn.close()
            raise
        return self._stream(conn, plan.statement, places)

    @staticmethod
    def _stream(conn: Connection, statement: Any, places: dict[int, RootPlace]) -> Iterator[Frame]:
        with conn:
            for row in conn.execution_options(yield_per=1000).execute(statement):
                yield Frame.from_row(row, places)

    def count(self, query: str | Node = "") -> int:
        """How many frames match ``query``.

        Raises:
            QueryError: the query is malformed.
        """
        node = to_ast(query)
        text = query if isinstance(query, str) else None
        with self.engine.connect() as conn:
            return int(conn.execute(count_statement(conn, node, text)).scalar_one())

    def count_estimate(self, query: str | Node = "") -> MatchCount:
        """How many frames match ``query``: exact when that is quick, else an estimate
        marked as such (catalog/counts.py; the terminal's "N matched" line).

        Raises:
            QueryError: the query is malformed.
        """
        from kino_catalog.catalog import counts

        return counts.estimate_count(self.engine, query)

    def field_warnings(self, query: str | Node) -> list[str]:
        """Fields ``query`` names that no frame has, each with the nearest known field.

        ``["no frame has 'lroa'; did you mean lora:?"]``.  Advice only: the
        query's answer is the same with or without them.

        Raises:
            QueryError: the query is malformed.
        """
        node = to_ast(query)
        if next(query_fields(node), None) is None:  # the common case: no database work
            return []
        with self.engine.connect() as conn:
            return unknown_field_warnings(conn, node)

    def search_page(
        self,
        query: str | Node = "",
        *,
        sort: str = "newest",
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """One page of a search and the cursor of the next (see kino_catalog.gallery).

        Raises:
            QueryError: a bad query, sort key or cursor.
        """
        from kino_catalog.catalog import gallery

        return gallery.search_page(
            self.engine, query, self.root_places(), sort=sort, limit=limit, cursor=cursor
        )

    def facets(self, query: str | Node = "", *, top: int = 10) -> Facets:
        """Top LoRAs, models, projects and samplers of a query's frames, with counts.

        Raises:
            QueryError: a bad query.
        """
        from kino_catalog.catalog import gallery

        return gallery.facets(self.engine, query, top=top)

    def projects(self) -> list[tuple[int, int]]:
        """Every project id with its number of frames."""
        from kino_catalog.catalog import gallery

        return gallery.projects(self.engine)

    def image_file(self, frame: Frame, index: int = 0) -> str | None:
        """The real path of ``frame``'s ``index``-th image (a PNG sequence has several).

        None when there is no such image, or it is not a regular file inside
        the frame's library root (a symlink pointing out of it), or the root
        is not mapped on this host: the check before an image is handed to
        anyone (the web gallery, thumbnails).
        """
        if frame.root is None or not 0 <= index < max(frame.image_count, 1):
            return None
        try:
            name = sequence_member(frame.image_name, index)
        except ValueError:
            return None
        return file_inside(os.path.join(frame.root, frame.folder, name), frame.root)

    def get(self, ref: int | str | os.PathLike[str]) -> Frame:
        """A frame by id, sidecar path or image path.

        Raises:
            UsageError: no such frame in the catalogue.
        """
        text = os.fspath(ref) if not isinstance(ref, int) else str(ref)
        stmt = lookup_statement(ref if isinstance(ref, int) else text, self.root_places)
        with self.engine.connect() as conn:
            row = conn.execute(stmt.limit(1)).first()
            places = root_places(conn, self.host)
        if row is None:
            raise UsageError(f"no frame {text} in the catalogue")
        return Frame.from_row(row, places)

    def errors(self) -> list[dict[str, Any]]:
        """Sidecars that could not be indexed, and frames indexed with warnings.

        Each: kind (``"error"``: not indexed; ``"warning"``: indexed, a value
        left out), path, reason, size, mtime_ns, recorded_at.  Also ``root``
        (its name) and ``relpath`` (the same on every host); ``path`` is None
        where this host has not mapped the root.
        """
        return health.list_errors(self.engine, self.host)

    def stats(self) -> dict[str, Any]:
        """Catalogue health: counts of frames, projects, errors, missing images, roots.

        Each root says where this host has it (``path``, None: not mapped
        here) and which host last wrote it, when (``synced_by``, ``synced_at``).
        """
        return health.catalog_stats(self.engine, self.host)

    # ------------------------------------------------------------ annotations
    # Tags, ratings and notes are written into the sidecars (catalog.edits) and
    # re-indexed in the same call; refs are ids or paths as for get().
    def _targets(
        self, refs: Iterable[int | str | os.PathLike[str] | Frame], query: str | Node | None
    ) -> list[tuple[str, str]]:
        refs = list(refs)
        if (query is None) == (not refs):
            raise UsageError("name frames or give a query (not both)")
        frames: Iterable[Frame] = (
            self.iter_search(query)
            if query is not None
            else [ref if isinstance(ref, Frame) else self.get(ref) for ref in refs]
        )
        # A frame of a root not mapped here has no sidecar path: RootNotMappedError.
        return [(f.root or "", f.sidecar_path) for f in frames]

    def tag(
        self,
        tags: Iterable[str],
        refs: Iterable[int | str | os.PathLike[str] | Frame] = (),
        *,
        query: str | Node | None = None,
        remove: bool = False,
    ) -> EditResult:
        """Add (or with ``remove=True`` remove) tags on the named frames or a query's frames.

        Raises:
            UsageError: no tags, a bad tag, an unknown frame, or both/neither refs and query.
        """
        from kino_catalog.catalog import edits as annotate

        try:
            clean = [check_tag(t, is_new=not remove) for t in tags]
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        if not clean:
            raise UsageError("no tags given")
        change = annotate.remove_tags(clean) if remove else annotate.add_tags(clean)
        return annotate.apply_edit(
            self.engine, self._targets(refs, query), change, self.write_access()
        )

    def rate(
        self,
        rating: int | None,
        refs: Iterable[int | str | os.PathLike[str] | Frame] = (),
        *,
        query: str | Node | None = None,
    ) -> EditResult:
        """Set the rating (0-5; None removes it) of the named frames or a query's frames.

        Raises:
            UsageError: the rating is out of range, or as for :meth:`tag`.
        """
        from kino_catalog.catalog import edits as annotate

        try:
            change = annotate.set_rating(rating)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        return annotate.apply_edit(
            self.engine, self._targets(refs, query), change, self.write_access()
        )

    def note(self, text: str | None, ref: int | str | os.PathLike[str] | Frame) -> EditResult:
        """Set a frame's notes (an empty text or None removes them).

        Raises:
            UsageError: no such frame, or notes over the limit (limits.MAX_NOTES_BYTES).
        """
        from kino_catalog.catalog import edits as annotate

        try:
            change = annotate.set_notes(text)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        return annotate.apply_edit(
            self.engine, self._targets([ref], None), change, self.write_access()
        )

    def tags(self) -> list[tuple[str, int]]:
        """Every tag in use (case-folded) with its number of frames, most used first."""
        t = tags_table.c
        stmt = select(t.tag, func.count()).group_by(t.tag).order_by(func.count().desc(), t.tag)
        with self.engine.connect() as conn:
            return [(tag, int(n)) for tag, n in conn.execute(stmt)]

    # ------------------------------------------------------------ presets
    # Preset files live in a library root's presets/ folder (presets.py).
    def preset_root(self, root: str | os.PathLike[str] | None = None) -> str:
        """The library root presets go to: ``root`` if given, else the only root.

        Raises:
            UsageError: ``root`` is not indexed here, or none/several roots and no choice.
        """
        roots = self.roots()
        if root is not None:
            path = registry.resolve_folder(self.root_path(root))
            if path not in roots:
                raise UsageError(
                    f"{os.fspath(root)} is not a library folder of this catalogue (sync it first)"
                )
            return path
        if not roots:
            raise UsageError("no library folder indexed yet: sync one first")
        if len(roots) > 1:
            raise UsageError("the catalogue has several library folders: choose one with --root")
        return roots[0]

    def save_preset(
        self,
        name: str,
        ref: int | str | os.PathLike[str] | Frame | None = None,
        *,
        from_file: str | os.PathLike[str] | None = None,
        open_keys: Iterable[str] = (),
        root: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
    ) -> Preset:
        """Save a frame's (or a JSON file's) parameters as preset ``name``.

        Without ``root``, a frame's preset goes to the frame's own library root.

        Raises:
            UsageError: neither or both of ref and from_file, a bad name, an existing preset.
        """
        from kino_catalog.regen import presets

        if (ref is None) == (from_file is None):
            raise UsageError("give a FRAME or --from FILE (not both)")
        if ref is not None:
            frame = ref if isinstance(ref, Frame) else self.get(ref)
            params = frame.parameters
            plugin: str | None = frame.plugin
            version: str | None = frame.plugin_version
            source: str = frame.sidecar_path
            target = self.preset_root(root) if root is not None else frame.root or ""
        else:
            assert from_file is not None
            params, plugin, version = presets.parameters_from_file(from_file)
            source = os.path.abspath(from_file)
            target = self.preset_root(root)
        return presets.save_preset(
            target,
            name,
            params,
            open_keys=tuple(open_keys),
            plugin=plugin,
            plugin_version=version,
            source=source,
            overwrite=overwrite,
        )

    def presets(self, root: str | os.PathLike[str] | None = None) -> list[Preset]:
        """The presets of one root, or of every root of the catalogue."""
        from kino_catalog.regen import presets

        roots = [self.preset_root(root)] if root is not None else self.roots()
        return [preset for path in roots for preset in presets.list_presets(path)]

    def _preset_home(self, name: str, root: str | os.PathLike[str] | None) -> str:
        from kino_catalog.regen import presets

        if root is not None:
            return self.preset_root(root)
        found = [path for path in self.roots() if os.path.exists(presets.preset_path(path, name))]
        if len(found) > 1:
            raise UsageError(
                f"preset {name!r} exists in several library folders: choose one with --root"
            )
        if not found:
            raise UsageError(f"no preset {name!r} in any library folder of this catalogue")
        return found[0]

    def load_preset(self, name: str, root: str | os.PathLike[str] | None = None) -> Preset:
        """Preset ``name``, from ``root`` or from whichever root has it.

        Raises:
            UsageError: no such preset, or several roots have one of that name.
            SidecarParseError: the preset file is damaged.
        """
        from kino_catalog.regen import presets

        return presets.load_preset(self._preset_home(name, root), name)

    def delete_preset(self, name: str, root: str | os.PathLike[str] | None = None) -> str:
        """Delete preset ``name`` (even a damaged one); returns the file it was.

        Raises:
            UsageError: as for :meth:`load_preset`.
        """
        from kino_catalog.regen import presets

        return presets.delete_preset(self._preset_home(name, root), name)

    # ------------------------------------------------------------ integrity (verify.py)
    def hash_images(
        self, query: str = "", progress: Callable[[int, int | None], None] | None = None
    ) -> EditResult:
        """Record sha256 image hashes in matching sidecars that lack one (writes sidecars)."""
        from kino_catalog.catalog import verify

        return verify.hash_images(self, query, progress)

    def verify(
        self,
        query: str = "",
        progress: Callable[[int, int | None], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stream problems: missing/changed/orphan images, output.filename mismatches."""
        from kino_catalog.catalog import verify

        return verify.verify_frames(self, query, progress)

    def duplicates(self) -> list[dict[str, Any]]:
        """Groups of frames whose recorded image hashes are equal."""
        from kino_catalog.catalog import verify

        return verify.duplicates(self)

    # ------------------------------------------------------------ watching
    def watch(self, *roots: str | os.PathLike[str], **options: Any) -> Watcher:
        """A Watcher that keeps ``roots`` live (not started: use ``with`` or ``.start()``).

        Options are Watcher's: ``debounce_seconds``, ``reconcile_interval_seconds``,
        ``use_polling``...

        Raises:
            UsageError: a root is not a folder.
        """
        from kino_catalog.watch.watcher import Watcher  # watchdog loads only for watching

        return Watcher(self.engine, roots, access=self.write_access(), **options)

    # ------------------------------------------------------------ regeneration, reports
    def regen(
        self,
        frame: Frame | int | str | os.PathLike[str],
        overrides: Mapping[str, Any] | None = None,
        *,
        set_loras: Mapping[str, float] | None = None,
        drop_loras: Iterable[str] = (),
        allow_new_keys: bool = False,
        rng: random.Random | None = None,
        plugin: str | None = None,
    ) -> dict[str, Any]:
        """The Kino task body that regenerates ``frame`` (a Frame, id or path), with edits.

        ``plugin`` makes it a request for that Kino plugin (e.g. an imported
        A1111 frame for ``sdxl``); keys the plugin does not take are listed in
        ``source.not_sent``.

        Raises:
            UsageError: no such frame, an override that does not fit, an unknown plugin.
        """
        from kino_catalog.regen.overrides import Edits
        from kino_catalog.regen.requests import request_from_frame

        found = frame if isinstance(frame, Frame) else self.get(frame)
        edits = Edits(overrides or {}, set_loras or {}, tuple(drop_loras), allow_new_keys, rng)
        return request_from_frame(found, edits, plugin)

    def iter_regen(
        self,
        query: str | Node = "",
        overrides: Mapping[str, Any] | None = None,
        *,
        set_loras: Mapping[str, float] | None = None,
        drop_loras: Iterable[str] = (),
        allow_new_keys: bool = False,
        rng: random.Random | None = None,
        plugin: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stream one request per frame matching ``query``, oldest first (``plugin``: as regen).

        Raises:
            QueryError: the query is malformed (before anything is yielded).
            UsageError: an edit does not fit a frame; the message names the frame.
        """
        from kino_catalog.regen.overrides import Edits

        edits = Edits(overrides or {}, set_loras or {}, tuple(drop_loras), allow_new_keys, rng)
        node = to_ast(query)
        return self._iter_regen(node, edits, plugin)

    def _iter_regen(self, node: Node, edits: Edits, plugin: str | None) -> Iterator[dict[str, Any]]:
        from kino_catalog.regen.requests import request_from_frame

        for frame in self.iter_search(node, limit=None, sort="oldest"):
            try:
                yield request_from_frame(frame, edits, plugin)
            except UsageError as exc:
                raise UsageError(f"frame {frame.id} ({frame.location}): {exc}") from exc

    def submit(
        self,
        requests: Iterable[dict[str, Any]],
        kino: str | KinoClient,
        *,
        in_place: bool = False,
        project_id: int | None = None,
        **options: Unpack[RunOptions],
    ) -> Submission:
        """Run requests on Kino (see :func:`kino_catalog.regen.submit.submit_requests`).

        A catalogued frame regenerated in place is re-read as soon as its task
        completes, so it shows Kino's new sidecar under the same catalogue id.

        Raises:
            UsageError: ``kino`` is not an http(s) URL.
            SubmitError: the batch failed its checks; nothing was created.
        """
        from kino_catalog.index import sync as indexer
        from kino_catalog.regen.submit import submit_requests  # urllib loads only for Kino

        on_update = options.get("on_update")

        def update(result: TaskResult) -> None:

            source = result.request.get("source")
            sidecar = source.get("sidecar") if isinstance(source, dict) else None
            if (
                result.is_settled
                and result.status == "completed"
                and result.kino_frame_id is not None
                and isinstance(sidecar, str)
            ):
                for root in self.roots():
                    if is_inside(root, sidecar):
                        indexer.sync_paths(self.engine, root, [sidecar], access=self.write_access())
            if on_update is not None:
                on_update(result)

        options["on_update"] = update
        return submit_requests(requests, kino, in_place=in_place, project_id=project_id, **options)

    def report(
        self, project_id: int | None = None, *, top: int = 20, list_limit: int = 100
    ) -> dict[str, Any]:
        """Statistics for one project or the whole catalogue (see kino_catalog.report.aggregates).

        Raises:
            UsageError: ``project_id`` names no project in the catalogue.
        """
        from kino_catalog.report.aggregates import build_report

        if project_id is not None:
            with self.engine.connect() as conn:
                known = health.projects_with_frames().where(projects_table.c.id == project_id)
                if conn.execute(known).first() is None:
                    raise UsageError(f"no project {project_id} in the catalogue")
        return build_report(self.engine, project_id, top=top, list_limit=list_limit, host=self.host)
