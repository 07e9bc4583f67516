"""Finding a frame by reference: an id, a sidecar path, or the path of one of its images."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_

from kino_catalog.errors import UsageError
from kino_catalog.index.image_location import sequence_start
from kino_catalog.query.frame import frame_select
from kino_catalog.schema import frames_table
from kino_catalog.sidecar.files import is_inside

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sqlalchemy import Select

    from kino_catalog.query.frame import RootPlace

__all__ = ["lookup_statement"]

_f = frames_table.c


def lookup_statement(ref: int | str, places: Callable[[], Mapping[int, RootPlace]]) -> Select[Any]:
    """The frame query for ``ref``: an int or digits are an id, anything else a path.

    A path must be inside one of the roots as this host has them
    (``places()``, only asked for paths).

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
        for root_id, place in places().items():
            if place.path is not None and is_inside(place.path, path):
                rel = os.path.relpath(folder, place.path)
                matches.append((root_id, "" if rel == "." else rel.replace(os.sep, "/")))
        if not matches:
            raise UsageError(f"not in any indexed folder: {text}")
        conditions = [
            (_f.root_id == root_id)
            & (_f.folder == rel)
            & (_f.name.in_(names) | _f.image_name.in_(names))
            for root_id, rel in matches
        ]
        stmt = stmt.where(or_(*conditions))
    return stmt
