"""Finding a frame by reference: an id, a sidecar path, or the path of one of its images."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_

from kino_catalog.errors import UsageError
from kino_catalog.index.walk import sequence_start
from kino_catalog.query.frame import frame_select
from kino_catalog.schema import Frame as FrameRow
from kino_catalog.schema import Root
from kino_catalog.sidecar.files import is_inside

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sqlalchemy import Select

__all__ = ["lookup_statement"]

_f = FrameRow.__table__.c
_roots = Root.__table__


def lookup_statement(ref: int | str, roots: Callable[[], Iterable[str]]) -> Select[Any]:
    """The frame query for ``ref``: an int or digits are an id, anything else a path.

    A path must be inside one of the indexed folders ``roots()`` (only asked for paths).

    Any image of a PNG sequence names the frame of its first image.

    Raises:
        UsageError: the path is in none of the indexed folders.
    """
    stmt = frame_select()
    text = str(ref)
    if isinstance(ref, int) or text.isdigit():
        stmt = stmt.where(_f.id == int(text))
    else:
        path = os.path.realpath(os.path.expanduser(text))
        folder, name = os.path.split(path)
        names = {name}
        first = sequence_start(name)
        if first:  # any image of a PNG sequence names the frame of its first image
            names.add(first)
        matches = []
        for root in roots():
            if is_inside(root, path):
                rel = os.path.relpath(folder, root)
                matches.append((root, "" if rel == "." else rel.replace(os.sep, "/")))
        if not matches:
            raise UsageError(f"not in any indexed folder: {text}")
        conditions = [
            (_roots.c.path == root)
            & (_f.folder == rel)
            & (_f.name.in_(names) | _f.image_name.in_(names))
            for root, rel in matches
        ]
        stmt = stmt.where(or_(*conditions))
    return stmt
