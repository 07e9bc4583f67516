"""Image integrity: recording image hashes, verifying frames against disk, finding duplicates.

Verification streams: frames come from the catalogue in pages and are
checked by a thread pool (``hashlib`` releases the GIL while hashing, so
threads use every core without pickling anything), in order, with a bounded
number in flight.  The disk is the truth: images are looked up beside the
sidecar, never through ``output.path``.
"""

from __future__ import annotations

import os
import re
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import func, select

from kino_catalog.catalog.edits import apply_edits, set_image_hash
from kino_catalog.errors import SidecarError
from kino_catalog.schema import frames_table
from kino_catalog.schema.images import expected_images
from kino_catalog.sidecar import hash_file, loads_exact, read_sidecar_bytes, too_big_reason
from kino_catalog.sidecar.kino import TOO_DEEP_REASON
from kino_catalog.sidecar.limits import MAX_SIDECAR_BYTES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from sqlalchemy.engine import Engine

    from kino_catalog.catalog.edits import EditResult
    from kino_catalog.index.locks import WriteAccess
    from kino_catalog.query.frame import Frame, RootPlace

__all__ = [
    "NOTE_KINDS",
    "PROBLEM_KINDS",
    "FrameSource",
    "duplicates",
    "hash_images",
    "verify_frames",
]


class FrameSource(Protocol):
    """What verification reads: the frames of a query, the roots, the database (a Catalog).

    A protocol rather than the Catalog itself, so this module, which the
    Catalog calls, does not import it back.
    """

    engine: Engine

    def count(self, query: str = "") -> int: ...

    def iter_search(self, query: str = "", *, sort: str = "newest") -> Iterator[Frame]: ...

    def root_places(self) -> dict[int, RootPlace]: ...

    def write_access(self) -> WriteAccess: ...

    def get(self, ref: int) -> Frame: ...

    def errors(self) -> list[dict[str, Any]]: ...


#: missing_image: the image (or a sequence image) is not on disk; changed_image: its
#: hash differs from the recorded one; orphan_image: a PNG no sidecar claims;
#: filename_mismatch: output.filename is not the image beside the sidecar;
#: root_unavailable: a root's folder is not there on this host (unmounted?), its
#: frames unchecked; sidecar_over_limit: a sidecar the catalogue refuses to read
#: (over the size limit, or nested too deeply), with its size.
PROBLEM_KINDS = (
    "missing_image",
    "changed_image",
    "orphan_image",
    "filename_mismatch",
    "root_unavailable",
    "sidecar_over_limit",
)
#: Not damage, listed all the same: a root this host has not mapped (its frames
#: cannot be checked from here; another host can verify them).
NOTE_KINDS = ("root_not_mapped",)
IN_FLIGHT = 256  # frames being checked at once: bounded memory on any library size
_SEQUENCE = re.compile(r"^(?P<prefix>.*_seq_)(?P<index>\d+)(?P<suffix>\.[^.]+)$")


def _workers() -> int:
    return min(8, (os.cpu_count() or 1) + 1)


def _ordered(items: Iterable[Any], work: Callable[[Any], Any]) -> Iterator[Any]:
    """``map(work, items)`` on a thread pool, in order, at most IN_FLIGHT pending."""
    with ThreadPoolExecutor(_workers()) as pool:
        pending: deque[Future[Any]] = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= IN_FLIGHT:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


# ---------------------------------------------------------------- hashing


def hash_images(
    catalog: FrameSource, query: str = "", progress: Callable[[int, int | None], None] | None = None
) -> EditResult:
    """Record ``image_hash`` in the sidecars of matching frames that lack one.

    Opt-in (it writes sidecars, safely: see catalog.edits); frames whose image
    is missing are listed in ``skipped`` (``verify`` reports them as damage).
    """
    total = catalog.count(query) if progress else None
    failures: list[dict[str, str]] = []
    frames = (
        (f.root, f.sidecar_path, f.image_path, f.image_exists)
        for f in _mapped(catalog.iter_search(query), failures)
        if "image_hash" not in f.document
    )
    done = [0]

    def digest(frame: tuple[str, str, str, bool]) -> tuple[str, str, str | None]:
        root, sidecar, image, _ = frame
        try:
            return root, sidecar, hash_file(image)
        except OSError:
            return root, sidecar, None

    def edits() -> Iterator[tuple[str, str, Any]]:
        for root, sidecar, value in _ordered(frames, digest):
            done[0] += 1
            if progress is not None:
                progress(done[0], total)
            if value is None:
                failures.append({"path": sidecar, "reason": "image is missing"})
            else:
                yield root, sidecar, set_image_hash(value)

    result = apply_edits(catalog.engine, edits(), catalog.write_access())
    result.skipped.extend(failures)
    return result


def _mapped(frames: Iterable[Frame], skipped: list[dict[str, str]]) -> Iterator[Frame]:
    """The frames whose root this host has; the others are listed in ``skipped``."""
    for frame in frames:
        if frame.root is not None:
            yield frame
        else:
            reason = f"root {frame.root_name!r} is not mapped on this host"
            skipped.append({"path": frame.location, "reason": reason})


# ---------------------------------------------------------------- verifying


def _problem(
    kind: str, path: str | None, detail: str, frame_id: int | None = None
) -> dict[str, Any]:
    return {"kind": kind, "path": path, "frame_id": frame_id, "detail": detail}


def _current_document(frame: Frame) -> dict[str, Any] | None:
    """The sidecar as on disk now (Kino may have rewritten it since the last sync)."""
    try:
        doc = loads_exact(read_sidecar_bytes(frame.sidecar_path), frame.sidecar_path)
    except FileNotFoundError:
        return None  # deleted since the last sync: nothing left to verify
    except (OSError, SidecarError):
        return frame.document
    return doc if isinstance(doc, dict) else frame.document


def _check_frame(frame: Frame) -> list[dict[str, Any]]:
    doc = _current_document(frame)
    if doc is None:
        return []
    folder = os.path.join(frame.root or "", frame.folder)
    found: list[dict[str, Any]] = []
    try:
        size = os.stat(frame.sidecar_path).st_size
    except OSError:
        size = 0
    if size > MAX_SIDECAR_BYTES:  # grown since the last sync: the next one drops the frame
        found.append(
            _problem("sidecar_over_limit", frame.sidecar_path, too_big_reason(size), frame.id)
        )
    expected = frame.name[: -len(".json")] + ".png"
    output = doc.get("output")
    named = output.get("filename") if isinstance(output, dict) else None
    if isinstance(named, str) and re.split(r"[/\\]", named)[-1] != expected:
        found.append(
            _problem(
                "filename_mismatch",
                frame.sidecar_path,
                f"output.filename is {named!r}, the sidecar is beside {expected!r}",
                frame.id,
            )
        )
    # schema/images.py: the same definition as `stats` and `report`.
    names = expected_images(frame.image_name, doc.get("parameters"))
    missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
    if missing:
        shown = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        found.append(
            _problem(
                "missing_image",
                frame.image_path,
                f"{len(missing)} of {len(names)} missing: {shown}",
                frame.id,
            )
        )
    recorded = doc.get("image_hash")
    if isinstance(recorded, dict) and frame.image_name not in missing:
        found.extend(_check_hash(frame, recorded))
    return found


def _check_hash(frame: Frame, recorded: dict[str, Any]) -> list[dict[str, Any]]:
    algorithm, value = recorded.get("algorithm"), recorded.get("value")
    if not isinstance(algorithm, str) or not isinstance(value, str):
        return [_problem("changed_image", frame.image_path, "image_hash is malformed", frame.id)]
    try:
        actual = hash_file(frame.image_path, algorithm.lower())
    except ValueError:
        return [
            _problem(
                "changed_image", frame.image_path, f"unknown hash algorithm {algorithm!r}", frame.id
            )
        ]
    except OSError as exc:
        return [
            _problem(
                "missing_image", frame.image_path, f"cannot read: {exc.strerror or exc}", frame.id
            )
        ]
    if actual != value.strip().lower():
        return [
            _problem(
                "changed_image",
                frame.image_path,
                f"{algorithm} is {actual}, the sidecar recorded {value}",
                frame.id,
            )
        ]
    return []


def _orphans(catalog: FrameSource, roots: Iterable[tuple[int, str]]) -> Iterator[dict[str, Any]]:
    """PNGs that no sidecar claims (same stem, a sequence's first frame, or output.filename)."""
    f = frames_table.c
    for root_id, root in roots:
        with catalog.engine.connect() as conn:
            claimed: dict[tuple[str, str], set[str]] = {}  # (folder, image) -> sidecars
            for folder, image, sidecar in conn.execute(
                select(f.folder, f.image_name, f.name).where(f.root_id == root_id)
            ):
                claimed.setdefault((folder, image), set()).add(sidecar)
        for directory, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            rel = os.path.relpath(directory, root).replace(os.sep, "/")
            rel = "" if rel == "." else rel
            names = set(files)
            for name in sorted(files):
                if not name.lower().endswith(".png") or name.startswith("."):
                    continue
                stem = name[:-4]
                seq = _SEQUENCE.match(name)
                first = f"{seq['prefix']}{0:0{len(seq['index'])}d}.json" if seq else None
                if (
                    stem + ".json" in names
                    or (first and first in names)
                    or claimed.get((rel, name), set()) & names
                ):  # sidecar still there
                    continue
                yield _problem(
                    "orphan_image", os.path.join(directory, name), "no sidecar describes this image"
                )


def _over_limit(catalog: FrameSource) -> Iterator[dict[str, Any]]:
    """Sidecars the last sync refused for a reading limit (they are not frames), with sizes."""
    for error in catalog.errors():
        if error.get("kind", "error") != "error":  # indexed, with a warning: readable
            continue
        if error["size"] > MAX_SIDECAR_BYTES:
            detail = too_big_reason(error["size"])
        elif error["reason"] == TOO_DEEP_REASON:
            detail = f"{TOO_DEEP_REASON} (file is {error['size']:,} bytes)"
        else:
            continue
        yield _problem(
            "sidecar_over_limit", error["path"] or f"{error['root']}:{error['relpath']}", detail
        )


def verify_frames(
    catalog: FrameSource,
    query: str = "",
    progress: Callable[[int, int | None], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Stream the problems of matching frames; an empty query also looks for orphan PNGs.

    Each problem is ``{"kind", "path", "frame_id", "detail"}`` (kinds:
    PROBLEM_KINDS, and NOTE_KINDS at the end).  Orphans belong to no frame,
    so a query (which selects frames) leaves them out.  Frames of a root this
    host has not mapped, or whose folder is not there, are not checked: one
    entry per root says so, never a missing image per frame.
    """
    total = catalog.count(query) if progress else None
    done = 0
    if progress is not None:
        progress(0, total)
    unreachable: dict[tuple[str, str | None], int] = {}  # (root name, path) -> frames
    available: dict[str, bool] = {}

    def reachable(frames: Iterable[Frame]) -> Iterator[Frame]:
        for frame in frames:
            root = frame.root
            if root is not None and available.setdefault(root, os.path.isdir(root)):
                yield frame
            else:
                key = (frame.root_name, root)
                unreachable[key] = unreachable.get(key, 0) + 1

    frames = reachable(catalog.iter_search(query, sort="oldest"))
    for problems in _ordered(frames, _check_frame):
        done += 1
        if progress is not None and (done % 100 == 0 or done == total):
            progress(done, total)
        yield from problems
    if not query.strip():
        yield from _over_limit(catalog)
        places = catalog.root_places()
        mapped = [(root_id, p.path) for root_id, p in places.items() if p.path is not None]
        yield from _orphans(catalog, [(i, path) for i, path in mapped if os.path.isdir(path)])
    for (name, root), count in sorted(unreachable.items()):
        if root is None:
            detail = (
                f"{count} frames not checked: root {name!r} is not mapped on this host "
                f"(kino-catalog roots map {name} PATH)"
            )
            yield _problem("root_not_mapped", None, detail)
        else:
            detail = f"{count} frames of root {name!r} not checked: the folder is not there"
            yield _problem("root_unavailable", root, detail)


# ---------------------------------------------------------------- duplicates


def duplicates(catalog: FrameSource) -> list[dict[str, Any]]:
    """Groups of frames whose recorded image hashes are equal (run ``hash`` first)."""
    f = frames_table.c
    dupes = (
        select(f.image_hash)
        .where(f.image_hash.is_not(None))
        .group_by(f.image_hash)
        .having(func.count() > 1)
        .subquery()
    )
    stmt = (
        select(f.image_hash, f.id)
        .where(f.image_hash.in_(select(dupes.c.image_hash)))
        .order_by(f.image_hash, f.id)
    )
    groups: dict[str, list[int]] = {}
    with catalog.engine.connect() as conn:
        for image_hash, frame_id in conn.execute(stmt):
            groups.setdefault(image_hash, []).append(frame_id)
    out = []
    for image_hash, ids in groups.items():
        frames = [catalog.get(i) for i in ids]
        out.append(
            {
                "hash": image_hash,
                "frames": [
                    {
                        "id": fr.id,
                        "root": fr.root_name,
                        "relpath": fr.relpath,
                        "sidecar": fr.sidecar_path if fr.is_mapped else None,
                        "image": fr.image_path if fr.is_mapped else None,
                    }
                    for fr in frames
                ],
            }
        )
    return out
