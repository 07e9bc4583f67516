"""What a "missing image" is: the one definition that stats, report and verify share.

A frame misses images when its image is not beside its sidecar, or, for a
wan22 PNG sequence (``..._seq_000.png``), when any member ``_seq_NNN`` below
the sidecar's ``parameters.total_frames`` is not there (issue 15: a sequence
with 78 of 81 PNGs missing counted in ``verify`` but not in ``stats``).

``verify`` asks the disk with :func:`expected_images`; ``stats`` and
``report`` ask the index with :func:`missing_images_condition`, which reads
what the last sync saw (``image_exists``, and ``image_count``: the sequence
members present).  The two agree as long as a sequence has no members
beyond ``total_frames`` (Kino writes exactly ``total_frames``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select

from kino_catalog.schema.models import frames_table, parameters_table

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

__all__ = ["expected_images", "missing_images_condition", "sequence_length"]

_SEQUENCE = re.compile(r"^(?P<prefix>.*_seq_)(?P<index>\d+)(?P<suffix>\.[^.]+)$")
#: The ``parameters`` key that says how many images a sequence has.
TOTAL_FRAMES_KEY = "total_frames"


def sequence_length(parameters: Any) -> int:
    """How many images the sidecar's ``parameters`` say the frame has (1 unless a sequence)."""
    total = parameters.get(TOTAL_FRAMES_KEY) if isinstance(parameters, dict) else None
    return total if type(total) is int and total > 0 else 1


def expected_images(image_name: str, parameters: Any) -> list[str]:
    """The image names a frame should have beside its sidecar.

    ``clip_seq_000.png`` with ``total_frames`` 3 -> ``clip_seq_000.png``,
    ``clip_seq_001.png``, ``clip_seq_002.png``; any other image -> itself.
    """
    match = _SEQUENCE.match(image_name)
    if not match:
        return [image_name]
    width = len(match["index"])
    total = sequence_length(parameters)
    return [f"{match['prefix']}{i:0{width}d}{match['suffix']}" for i in range(total)]


def missing_images_condition() -> ColumnElement[bool]:
    """WHERE condition on ``frames``: the frame misses images (as of the last sync).

    The sequence part reads only frames that have a ``total_frames``
    parameter (through the (key, value_num) index), not every frame.
    """
    f = frames_table.c
    p = parameters_table.c
    sequence = frames_table.alias("sequence_frame")
    short_sequences = (
        select(p.frame_id)
        .join(sequence, sequence.c.id == p.frame_id)
        .where(
            p.key == TOTAL_FRAMES_KEY,
            p.value_type == "int",
            p.value_num > sequence.c.image_count,
            sequence.c.image_name.contains("_seq_", autoescape=True),
        )
    )
    return or_(f.image_exists.is_(False), and_(f.image_exists.is_(True), f.id.in_(short_sequences)))
