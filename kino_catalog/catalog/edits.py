"""Safe edits of the keys users add to sidecars (tags, rating, notes, image_hash), then re-indexing.

The sidecar is the source of truth, so a tag lives in the JSON file, not only
in the catalogue (Diffusion Toolkit and InvokeAI lose ratings when files
move; a rebuild from disk here restores them).  Kino may rewrite a sidecar at
any moment (an in-place regeneration), so an edit is compare-and-replace:
read the bytes, change only our keys, and just before the atomic replace
check that the file is still the one we read.  If it is not, the change is
applied again to the new content; after a few lost races it is reported,
never forced.  (A rewrite landing between that last check and the rename
itself cannot be detected without a lock Kino does not take; the window is
a few microseconds.)
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kino_catalog.errors import SidecarError, SidecarLimitError, SidecarSchemaError
from kino_catalog.index.sync import sync_paths
from kino_catalog.sidecar import encode_sidecar, loads_exact, read_sidecar_bytes, write_atomic
from kino_catalog.sidecar.added_keys import (
    HASH_ALGORITHM,
    MAX_RATING,
    check_notes,
    check_tag_count,
    parse_extras,
    tag_key,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from sqlalchemy.engine import Engine

    from kino_catalog.index.locks import WriteAccess

__all__ = [
    "MAX_ATTEMPTS",
    "EditResult",
    "SidecarConflictError",
    "add_tags",
    "apply_edit",
    "apply_edits",
    "edit_sidecar",
    "remove_tags",
    "set_image_hash",
    "set_notes",
    "set_rating",
]

MAX_ATTEMPTS = 5
REINDEX_BATCH = 500  # sidecars per sync_paths call: one short write transaction each


class SidecarConflictError(SidecarError):
    """Another program kept rewriting the sidecar while we tried to edit it."""


@dataclass
class EditResult:
    """What an edit command did: files changed, files already as asked, failures."""

    changed: int = 0
    unchanged: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # {"path", "reason"}
    skipped: list[dict[str, str]] = field(default_factory=list)  # not applicable, not errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "skipped": self.skipped,
        }


def _snapshot(path: str) -> tuple[bytes, tuple[int, int, int]]:
    data = read_sidecar_bytes(path)
    st = os.stat(path)
    return data, (st.st_ino, st.st_size, st.st_mtime_ns)


def edit_sidecar(
    path: str, change: Callable[[dict[str, Any]], bool], *, attempts: int = MAX_ATTEMPTS
) -> bool:
    """Apply ``change`` to the sidecar at ``path`` without losing a concurrent rewrite.

    Every key ``change`` does not touch keeps its value (and its order); the
    file is re-serialised the way Kino writes it, and only if the result is
    within the reader's limits and its added keys still parse, so an edit can
    never make a frame unreadable.  ``change`` may raise ValueError to refuse
    (a limit of the frame's own, such as its number of tags).  Returns whether
    the file changed (False when it already was as asked).

    Raises:
        SidecarConflictError: the file changed under us on every attempt.
        SidecarLimitError: the edited sidecar would break a limit; it is left as it was.
        SidecarError: it is missing, unreadable, or not a sidecar object.
    """
    if os.path.islink(path):  # replacing it would turn a link into a file
        raise SidecarError(path, "sidecar is a symbolic link; edit its target instead")
    for _ in range(attempts):
        try:
            before, identity = _snapshot(path)
        except FileNotFoundError as exc:
            raise SidecarError(path, "sidecar is gone") from exc
        except OSError as exc:
            raise SidecarError(path, f"cannot read: {exc.strerror or exc}") from exc
        doc = loads_exact(before, path)
        if not isinstance(doc, dict) or "parameters" not in doc:
            raise SidecarSchemaError(path, "not a Kino sidecar")
        parse_extras(doc, path)  # refuse to build on a damaged tags/rating key
        try:
            if not change(doc):
                return False
        except ValueError as exc:
            raise SidecarLimitError(path, f"{exc}; left unchanged") from exc
        parse_extras(doc, path)  # the added keys as the indexer will read them back
        data = encode_sidecar(doc, path)

        def is_current(before: bytes = before, identity: Any = identity) -> bool:
            try:
                return _snapshot(path) == (before, identity)
            except OSError:
                return False

        try:
            if write_atomic(path, data, is_current=is_current):
                return True
        except OSError as exc:
            raise SidecarError(path, f"cannot write: {exc.strerror or exc}") from exc
    raise SidecarConflictError(
        path, f"rewritten by another program during each of {attempts} attempts; left as is"
    )


def apply_edit(
    engine: Engine,
    targets: Iterable[tuple[str, str]],
    change: Callable[[dict[str, Any]], bool],
    access: WriteAccess | None = None,
) -> EditResult:
    """Edit each (root, sidecar path) and re-index the changed files in the same call.

    One bad file never stops the others: its reason lands in ``failed``.
    ``access`` is the re-index's (host, waiting for another writer of a root).
    """
    return apply_edits(engine, ((root, path, change) for root, path in targets), access)


def apply_edits(
    engine: Engine,
    edits: Iterable[tuple[str, str, Callable[[dict[str, Any]], bool]]],
    access: WriteAccess | None = None,
) -> EditResult:
    """Like :func:`apply_edit` with a change of its own per (root, sidecar path)."""
    result = EditResult()
    pending: dict[str, list[str]] = defaultdict(list)
    for root, path, change in edits:
        try:
            changed = edit_sidecar(path, change)
        except SidecarError as exc:
            result.failed.append({"path": path, "reason": exc.reason})
            continue
        if not changed:
            result.unchanged += 1
            continue
        result.changed += 1
        pending[root].append(path)
        if len(pending[root]) >= REINDEX_BATCH:
            sync_paths(engine, root, pending.pop(root), access=access)
    for root, paths in pending.items():
        sync_paths(engine, root, paths, access=access)
    return result


# ---------------------------------------------------------------- changes


def add_tags(tags: Sequence[str]) -> Callable[[dict[str, Any]], bool]:
    """Append the tags a frame lacks (case-insensitively), keeping existing spellings."""

    def change(doc: dict[str, Any]) -> bool:
        current: list[str] = list(doc.get("tags") or [])
        keys = {tag_key(t) for t in current}
        for tag in tags:
            if tag_key(tag) not in keys:
                keys.add(tag_key(tag))
                current.append(tag)
        if current == (doc.get("tags") or []):
            return False
        check_tag_count(len(current))
        doc["tags"] = current
        return True

    return change


def remove_tags(tags: Sequence[str]) -> Callable[[dict[str, Any]], bool]:
    """Drop the tags (case-insensitively); the key goes when the last tag does."""
    drop = {tag_key(t) for t in tags}

    def change(doc: dict[str, Any]) -> bool:
        if "tags" not in doc:
            return False
        current: list[str] = doc["tags"] or []
        kept = [t for t in current if tag_key(t) not in drop]
        if len(kept) == len(current) and doc["tags"] is not None:
            return False
        if kept:
            doc["tags"] = kept
        else:
            del doc["tags"]
        return True

    return change


def set_rating(rating: int | None) -> Callable[[dict[str, Any]], bool]:
    """Set the rating (0-5), or remove it with None.

    Raises:
        ValueError: the rating is out of range.
    """
    if rating is not None and (type(rating) is not int or not 0 <= rating <= MAX_RATING):
        raise ValueError(f"rating must be an integer from 0 to {MAX_RATING}, not {rating!r}")
    return _set_key("rating", rating)


def set_notes(notes: str | None) -> Callable[[dict[str, Any]], bool]:
    """Set the notes, or remove them with None or an empty text.

    Raises:
        ValueError: over MAX_NOTES_BYTES, or a control character other than newline,
            return and tab.
    """
    return _set_key("notes", check_notes(notes) if notes else None)


def set_image_hash(
    hex_digest: str, *, is_replacing: bool = False
) -> Callable[[dict[str, Any]], bool]:
    """Record the image's hash as ``{"algorithm": "sha256", "value": ...}``.

    Without ``is_replacing`` a hash already in the file (perhaps recorded since the
    index was last synced) is kept: it is evidence ``verify`` compares against.
    """
    value = {"algorithm": HASH_ALGORITHM, "value": hex_digest}
    set_value = _set_key("image_hash", value)

    def change(doc: dict[str, Any]) -> bool:
        return False if "image_hash" in doc and not is_replacing else set_value(doc)

    return change


def _set_key(key: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    def change(doc: dict[str, Any]) -> bool:
        if value is None:
            if key not in doc:
                return False
            del doc[key]
            return True
        if key in doc and doc[key] == value and type(doc[key]) is type(value):
            return False
        doc[key] = value
        return True

    return change
