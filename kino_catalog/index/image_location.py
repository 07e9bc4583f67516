"""Where a sidecar's image is: its candidates in the folder, and PNG sequences.

Kino writes ``x.png`` beside ``x.json``; other tools name the image in
``output.filename`` or write JPEG/WebP; video plugins write a sequence
``x_seq_000.png, x_seq_001.png, ...`` whose count the index keeps.  Both the
readers (from disk) and the no-change comparison (from a folder's listing)
decide with locate_image, so the two always agree.
"""

from __future__ import annotations

import re
from itertools import compress, repeat
from operator import contains
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "IMAGE_SUFFIXES",
    "SEQUENCE_GAP_LIMIT",
    "locate_image",
    "sequence_counts",
    "sequence_key",
    "sequence_member",
    "sequence_start",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
# Misses in a row after which a PNG sequence is taken to have ended.
SEQUENCE_GAP_LIMIT = 16
_SEQUENCE_FILE = re.compile(r"^(?P<prefix>.*_seq_)(?P<index>\d+)(?P<suffix>\.[^.]+)$")


def sequence_key(name: str) -> tuple[str, int, str] | None:
    """``(prefix, digit width, suffix)`` of a PNG-sequence member, or None if not one."""
    match = _SEQUENCE_FILE.match(name)
    if match is None:
        return None
    return match["prefix"], len(match["index"]), match["suffix"]


def sequence_counts(names: Iterable[str]) -> dict[tuple[str, int, str], int]:
    """Count PNG-sequence members by (prefix, digit width, suffix) in one pass.

    The names without ``_seq_`` (nearly all) are skipped in C.  A name is
    split with str methods where that gives what _SEQUENCE_FILE would (its
    last ``_seq_`` followed by digits, one dot and a suffix): a third of
    the regex's cost, on the 40k sequence names of a 100k library.
    """
    listed = list(names)
    counts: dict[tuple[str, int, str], int] = {}
    get = counts.get
    for name in compress(listed, map(contains, listed, repeat("_seq_"))):
        head, sep, tail = name.rpartition("_seq_")
        digits, dot, suffix = tail.partition(".")
        if digits.isdecimal() and suffix and "." not in suffix and "\n" not in head:
            key = (head + sep, len(digits), dot + suffix)
        else:  # the regex may still match at an earlier "_seq_", or not at all
            found = sequence_key(name)
            if found is None:
                continue
            key = found
        counts[key] = get(key, 0) + 1
    return counts


def sequence_start(name: str) -> str | None:
    """The name of the first member of the PNG sequence ``name`` belongs to, or None.

    ``clip_seq_007.png`` -> ``clip_seq_000.png`` (same digit width and suffix).
    """
    key = sequence_key(name)
    if key is None:
        return None
    prefix, width, suffix = key
    return f"{prefix}{0:0{width}d}{suffix}"


def sequence_member(name: str, index: int) -> str:
    """The ``index``-th image of the PNG sequence that starts with ``name`` (0: ``name``).

    ``clip_seq_000.png``, 2 -> ``clip_seq_002.png``; a name that is not a
    sequence member has only itself.

    Raises:
        ValueError: ``index`` is not 0 and ``name`` is not a sequence member.
    """
    key = sequence_key(name)
    if key is None:
        if index != 0:
            raise ValueError(f"{name} is not a PNG sequence")
        return name
    prefix, width, suffix = key
    return f"{prefix}{index:0{width}d}{suffix}"


def locate_image(
    sidecar_name: str,
    output_filename: str | None,
    has_file: Callable[[str], bool],
    count_sequence: Callable[[str, int, str], int] | None = None,
) -> tuple[str, bool, int]:
    """Find a sidecar's image in its own folder: ``(image_name, exists, count)``.

    Looks for the same stem with ``.png``, then for ``output.filename`` (its
    base name only: ``output.path`` is a path on the machine that generated
    it and is never used), then other image types.  For a PNG sequence
    (``..._seq_000.png``) ``count`` is the number of sequence images present
    in the folder (``count_sequence``, from a listing); without a listing it
    is probed on disk until SEQUENCE_GAP_LIMIT misses in a row.
    """
    stem = sidecar_name[: -len(".json")] if sidecar_name.endswith(".json") else sidecar_name
    named = re.split(r"[/\\]", output_filename)[-1] if output_filename else ""
    if named in (".", ".."):
        named = ""
    candidates = [
        stem + ".png",
        *([named] if named else []),
        *(stem + suffix for suffix in IMAGE_SUFFIXES[1:]),
    ]
    image = next((c for c in candidates if has_file(c)), None)
    if image is None:  # name the file Kino said it wrote (kept for later re-checks)
        return named or candidates[0], False, 0
    key = sequence_key(image)
    if key is None:
        return image, True, 1
    prefix, width, suffix = key
    if count_sequence is not None:
        return image, True, count_sequence(prefix, width, suffix)
    count, misses, index = 0, 0, 0
    while misses < SEQUENCE_GAP_LIMIT:
        if has_file(f"{prefix}{index:0{width}d}{suffix}"):
            count, misses = count + 1, 0
        else:
            misses += 1
        index += 1
    return image, True, count
