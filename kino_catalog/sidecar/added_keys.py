"""The top-level sidecar keys kino-catalog adds: tags, rating, notes, image_hash, system_info,
imported.

Pure (no files, no database), like ``record.py`` which calls it.  Older
readers, Kino included, ignore these keys; the catalogue mirrors them so a
rebuild from disk restores every tag, rating, note and hash.  A known key
with the wrong shape is refused (the frame is listed by ``errors``) rather
than silently dropped, because a search on it would then be silently wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kino_catalog.errors import SidecarSchemaError

__all__ = [
    "HASH_ALGORITHM",
    "MAX_RATING",
    "NO_EXTRAS",
    "Extras",
    "check_tag",
    "hash_key",
    "parse_extras",
    "tag_key",
]

MAX_RATING = 5
HASH_ALGORITHM = "sha256"


@dataclass(frozen=True, slots=True)
class Extras:
    """The indexed view of a sidecar's added keys."""

    tags: tuple[str, ...] = ()  # as written, first spelling of each case-folded tag
    rating: int | None = None
    notes: str | None = None
    image_hash: str | None = None  # hash_key(): "sha256:<hex>"
    gpu: str | None = None
    driver: str | None = None
    # `imported.error`: the image's metadata could not be fully parsed by
    # `kino-catalog import`; the frame is indexed and the reason listed.
    import_error: str | None = None

    @property
    def tag_keys(self) -> tuple[str, ...]:
        """The tags as the catalogue stores and searches them (case-folded, unique)."""
        return tuple(dict.fromkeys(tag_key(t) for t in self.tags))


NO_EXTRAS = Extras()


def tag_key(tag: str) -> str:
    """The search key of a tag: case-folded, so ``Hero`` and ``hero`` are one tag."""
    return tag.strip().casefold()


def hash_key(algorithm: str, value: str) -> str:
    """One comparable string per hash, so frames with equal images share a key."""
    return f"{algorithm.strip().lower()}:{value.strip().lower()}"


def check_tag(tag: str) -> str:
    """Validate a tag a user typed; returns it stripped.

    Raises:
        ValueError: empty, or holding a comma or control character (a comma
            would make ``tag add a,b`` ambiguous).
    """
    text = tag.strip()
    if not text:
        raise ValueError("a tag cannot be empty")
    if "," in text or any(ch < " " for ch in text):
        raise ValueError(f"tag {tag!r} must not contain commas or control characters")
    return text


def _fail(path: str, key: str, expected: str, value: Any) -> SidecarSchemaError:
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return SidecarSchemaError(path, f"{key} must be {expected}, not {shown}")


def parse_extras(doc: dict[str, Any], path: str) -> Extras:
    """Read the added keys of a sidecar document (absent keys give the defaults).

    Raises:
        SidecarSchemaError: one of them has the wrong shape.
    """
    if (
        "tags" not in doc
        and "rating" not in doc
        and "notes" not in doc
        and "image_hash" not in doc
        and "system_info" not in doc
        and "imported" not in doc
    ):
        return NO_EXTRAS  # a plain Kino sidecar, the indexer's hot path: no allocation
    tags = doc.get("tags")
    if tags is None:
        tags = []
    if type(tags) is not list or any(type(t) is not str for t in tags):
        raise _fail(path, "tags", "a list of strings", tags)
    rating = doc.get("rating")
    if rating is not None and (type(rating) is not int or not 0 <= rating <= MAX_RATING):
        raise _fail(path, "rating", f"an integer from 0 to {MAX_RATING}", rating)
    notes = doc.get("notes")
    if notes is not None and type(notes) is not str:
        raise _fail(path, "notes", "a string", notes)
    return Extras(
        tags=tuple(t.strip() for t in tags if t.strip()),
        rating=rating,
        notes=notes,
        image_hash=_image_hash(doc.get("image_hash"), path),
        gpu=_system_text(doc.get("system_info"), "gpu", path),
        driver=_system_text(doc.get("system_info"), "driver", path),
        import_error=_import_error(doc.get("imported"), path),
    )


def _import_error(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if type(value) is not dict:
        raise _fail(path, "imported", "an object", value)
    error = value.get("error")
    if error is None or type(error) is str:
        return error or None
    raise _fail(path, "imported.error", "a string", error)


def _image_hash(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if (
        type(value) is not dict
        or type(value.get("algorithm")) is not str
        or type(value.get("value")) is not str
        or not value["value"].strip()
    ):
        raise _fail(path, "image_hash", '{"algorithm": str, "value": str}', value)
    return hash_key(value["algorithm"], value["value"])


def _system_text(info: Any, key: str, path: str) -> str | None:
    if info is None:
        return None
    if type(info) is not dict:
        raise _fail(path, "system_info", "an object", info)
    value = info.get(key)
    if value is None or type(value) is str:
        return value
    raise _fail(path, f"system_info.{key}", "a string", value)
