"""The top-level sidecar keys kino-catalog adds: tags, rating, notes, image_hash, system_info,
imported.

Pure (no files, no database), like ``record.py`` which calls it.  Older
readers, Kino included, ignore these keys; the catalogue mirrors them so a
rebuild from disk restores every tag, rating, note and hash.  A known key
with the wrong shape is never trusted (a search on it would be silently
wrong): the indexer leaves it out and lists a warning, an edit refuses to
build on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kino_catalog.errors import SidecarSchemaError
from kino_catalog.sidecar.limits import MAX_NOTES_BYTES, MAX_TAG_CHARS, MAX_TAGS, kib
from kino_catalog.sidecar.values import as_int

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "HASH_ALGORITHM",
    "MAX_RATING",
    "NO_EXTRAS",
    "Extras",
    "check_notes",
    "check_tag",
    "check_tag_count",
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
        if not self.tags:  # most frames have none
            return ()
        return tuple(dict.fromkeys(tag_key(t) for t in self.tags))


NO_EXTRAS = Extras()


def tag_key(tag: str) -> str:
    """The search key of a tag: case-folded, so ``Hero`` and ``hero`` are one tag."""
    return tag.strip().casefold()


def hash_key(algorithm: str, value: str) -> str:
    """One comparable string per hash, so frames with equal images share a key."""
    return f"{algorithm.strip().lower()}:{value.strip().lower()}"


def check_tag(tag: str, *, is_new: bool = True) -> str:
    """Validate a tag a user typed; returns it stripped.

    ``is_new=False`` (a tag to remove) skips the length limit, so a longer
    tag written by hand or by an older kino-catalog can still be removed.

    Raises:
        ValueError: empty, longer than MAX_TAG_CHARS, or holding a comma or
            control character (a comma would make ``tag add a,b`` ambiguous).
    """
    text = tag.strip()
    if not text:
        raise ValueError("a tag cannot be empty")
    if is_new and len(text) > MAX_TAG_CHARS:
        raise ValueError(
            f"tag {text[:20]!r}... is {len(text):,} characters, over the "
            f"{MAX_TAG_CHARS}-character tag limit"
        )
    if "," in text or any(ch < " " for ch in text):
        raise ValueError(f"tag {tag!r} must not contain commas or control characters")
    return text


def check_tag_count(count: int) -> None:
    """Refuse a frame's tag list longer than MAX_TAGS (checked where tags are added).

    Raises:
        ValueError: naming the count and the limit.
    """
    if count > MAX_TAGS:
        raise ValueError(f"{count} tags, over the limit of {MAX_TAGS} tags per frame")


def check_notes(notes: str) -> str:
    """Validate notes a user typed: at most MAX_NOTES_BYTES of UTF-8.

    Of the control characters only newline, return and tab are allowed (they
    take 2 bytes in the sidecar; any other would take 6), which bounds the
    room notes can take in a sidecar (limits.ADDED_KEYS_HEADROOM_BYTES).

    Raises:
        ValueError: naming the size and the limit, or the character.
    """
    size = len(notes.encode("utf-8", "surrogatepass"))
    if size > MAX_NOTES_BYTES:
        raise ValueError(f"notes are {size:,} bytes, over the {kib(MAX_NOTES_BYTES)} notes limit")
    bad = next((ch for ch in notes if ch < " " and ch not in "\n\r\t"), None)
    if bad is not None:
        raise ValueError(f"notes must not contain control characters ({bad!r})")
    return notes


class _Shape:
    """Shape checks of the added keys: raise (an edit must not build on damage) or warn."""

    def __init__(self, path: str, warn: Callable[[str], None] | None) -> None:
        self.path = path
        self.warn = warn

    def wrong(self, key: str, expected: str, value: Any) -> None:
        """Raise SidecarSchemaError, or, when warning, note it (the caller drops the value)."""
        shown = repr(value)  # the whole value: a user edits these keys by hand
        if len(shown) > 40:
            shown = shown[:37] + "..."
        message = f"{key} must be {expected}, not {shown}"
        if self.warn is None:
            raise SidecarSchemaError(self.path, message)
        self.warn(message)


def parse_extras(
    doc: dict[str, Any], path: str, *, warn: Callable[[str], None] | None = None
) -> Extras:
    """Read the added keys of a sidecar document (absent keys give the defaults).

    With ``warn`` (the indexer), a key of the wrong shape is passed to it and
    read as absent; without (an edit about to rewrite the file), it is refused.

    Raises:
        SidecarSchemaError: one of them has the wrong shape and ``warn`` is None.
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
    shape = _Shape(path, warn)
    tags = doc.get("tags")
    if tags is None:
        tags = []
    if type(tags) is not list or any(type(t) is not str for t in tags):
        shape.wrong("tags", "a list of strings", tags)
        tags = [t for t in tags if type(t) is str] if type(tags) is list else []
    rating = doc.get("rating")
    if rating is not None:
        number = as_int(rating)
        if number is None or not 0 <= number <= MAX_RATING:
            shape.wrong("rating", f"an integer from 0 to {MAX_RATING}", rating)
        rating = number if number is not None and 0 <= number <= MAX_RATING else None
    notes = doc.get("notes")
    if notes is not None and type(notes) is not str:
        shape.wrong("notes", "a string", notes)
        notes = None
    system_info = doc.get("system_info")
    if system_info is not None and type(system_info) is not dict:
        shape.wrong("system_info", "an object", system_info)
        system_info = None
    return Extras(
        tags=tuple(t.strip() for t in tags if t.strip()),
        rating=rating,
        notes=notes,
        image_hash=_image_hash(doc.get("image_hash"), shape),
        gpu=_system_text(system_info, "gpu", shape),
        driver=_system_text(system_info, "driver", shape),
        import_error=_import_error(doc.get("imported"), shape),
    )


def _import_error(value: Any, shape: _Shape) -> str | None:
    if value is None:
        return None
    if type(value) is not dict:
        shape.wrong("imported", "an object", value)
        return None
    error = value.get("error")
    if error is None or type(error) is str:
        return error or None
    shape.wrong("imported.error", "a string", error)
    return None


def _image_hash(value: Any, shape: _Shape) -> str | None:
    if value is None:
        return None
    if (
        type(value) is not dict
        or type(value.get("algorithm")) is not str
        or type(value.get("value")) is not str
        or not value["value"].strip()
    ):
        shape.wrong("image_hash", '{"algorithm": str, "value": str}', value)
        return None
    return hash_key(value["algorithm"], value["value"])


def _system_text(info: dict[str, Any] | None, key: str, shape: _Shape) -> str | None:
    if info is None:
        return None
    value = info.get(key)
    if value is None or type(value) is str:
        return value
    shape.wrong(f"system_info.{key}", "a string", value)
    return None
