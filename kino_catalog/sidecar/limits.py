"""Every size limit on what kino-catalog reads and writes, in one place.

The reading limit protects the indexer from hostile or damaged files: a
sidecar over ``MAX_SIDECAR_BYTES`` is refused before it is read, and one
nested deeper than the JSON parsers allow is refused while parsing (both
are listed by ``errors``).  What kino-catalog itself writes must never trip
those limits, or an edit would make a frame vanish from its own catalogue
(issue 21); so every writer serialises the result and reads it back with
the same reader before the atomic replace (``kino.encode_sidecar``), and the
keys users add have limits of their own, far below the reading limit, that
leave room for each other.

Why the reading limit stays at 1 MiB (the notes of issue 21 have the
figures): real sidecars are 1-3 KB, and the cost of a hostile file grows
with the cap, not with real data (16 MiB of ``[{},{},...]`` takes 1.7 s and
~0.5 GB to parse).  The one legitimate writer of big sidecars, ``import``
of large ComfyUI graphs, stores long raw metadata compressed instead (see
``kino_catalog.importers.document``), which keeps such sidecars well under
the limit and makes them cheaper to index than verbatim text would be.
"""

from __future__ import annotations

__all__ = [
    "ADDED_KEYS_HEADROOM_BYTES",
    "MAX_IMPORTED_BYTES",
    "MAX_IMPORTED_TEXT_BYTES",
    "MAX_NOTES_BYTES",
    "MAX_PRESET_BYTES",
    "MAX_SIDECAR_BYTES",
    "MAX_TAGS",
    "MAX_TAG_CHARS",
    "RAW_INLINE_BYTES",
    "kib",
]

#: The reading limit: a sidecar file larger than this is refused unread.
MAX_SIDECAR_BYTES = 1024 * 1024

#: A tag is a label, not a text: 100 characters, no commas or control characters.
MAX_TAG_CHARS = 100
#: Tags one frame may carry (adding more is refused for that frame).
MAX_TAGS = 100
#: Notes, in UTF-8 bytes (64 KiB is a long page of text).
MAX_NOTES_BYTES = 64 * 1024
#: A preset file (a frame's parameters under a name); real ones are a few KB.
MAX_PRESET_BYTES = 512 * 1024

# The most the added keys can take in a sidecar, serialised as ``dumps_sidecar``
# writes them (indent 2): notes escaped at worst 2 bytes per byte (only \n, \r and
# \t are allowed among control characters), each tag at worst 4 UTF-8 bytes or
# a 2-byte escape per character plus quotes, indent and comma, and a margin
# for rating, image_hash and system_info.
ADDED_KEYS_HEADROOM_BYTES = 2 * MAX_NOTES_BYTES + MAX_TAGS * (4 * MAX_TAG_CHARS + 8) + 16 * 1024
#: What ``import`` may write: the reading limit minus room for every added key,
#: so tagging, rating or noting an imported frame can never push it over.
MAX_IMPORTED_BYTES = MAX_SIDECAR_BYTES - ADDED_KEYS_HEADROOM_BYTES

#: One metadata text ``import`` reads from an image (a PNG text chunk, EXIF
#: comment); bigger is refused before it is inflated (a zip bomb stops here).
#: Big ComfyUI workflows reach a few MB; they are kept compressed in the sidecar.
MAX_IMPORTED_TEXT_BYTES = 8 * 1024 * 1024
#: A raw metadata text longer than this is kept zlib-compressed (base64) in the
#: sidecar rather than verbatim: ComfyUI graphs shrink about 6-fold.
RAW_INLINE_BYTES = 64 * 1024


def kib(size: int) -> str:
    """A limit as users read it: ``1024 KiB``, ``64 KiB``."""
    return f"{size // 1024} KiB"
