"""The search table: which columns fit the terminal, and how wide each one is.

A table that wraps or cuts a seed in the middle is worse than no table (issue 15):
numbers and dates are shown whole or not at all, text columns (model, LoRAs,
prompt) end in an ellipsis, and a row is always one line. ``show`` has the
full row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kino_catalog.errors import UsageError
from kino_catalog.sidecar.record import MODEL_EXTENSIONS

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from rich.console import Console
    from rich.table import Table

__all__ = [
    "COLUMN_NAMES",
    "DEFAULT_COLUMNS",
    "TableLayout",
    "frames_table",
    "layout_columns",
    "parse_columns",
]

#: Space between two columns (rich's padding of one on each side, none at the edges).
GAP = 2
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _text(value: Any) -> str:
    """One line of text: a newline in a prompt must not wrap the row."""
    return "" if value is None else _CONTROL.sub(" ", str(value))


def _model_short_name(name: Any) -> str:
    """``checkpoints/sd_xl_base_1.0.safetensors`` -> ``sd_xl_base_1.0`` (``show`` has it whole)."""
    if not isinstance(name, str):
        return _text(name)
    base = re.split(r"[/\\]", name.strip())[-1]
    for ext in MODEL_EXTENSIONS:
        if base.lower().endswith(ext) and len(base) > len(ext):
            return _text(base[: -len(ext)])
    return _text(base)


def _loras(data: dict[str, Any]) -> str:
    return ", ".join(
        f"{_model_short_name(lora['lora_name'])}:{lora['strength_model']}"
        if lora["strength_model"] is not None
        else _model_short_name(lora["lora_name"])
        for lora in data["loras"]
    )


def _size(data: dict[str, Any]) -> str:
    if data["width"] is None and data["height"] is None:
        return ""
    return f"{_text(data['width'])}x{_text(data['height'])}"


@dataclass(frozen=True)
class _Column:
    """One possible column.

    ``min_width`` 0 means whole or not at all (numbers, dates); a text column
    is never narrower than ``min_width``, gets ``comfortable_width`` before an
    optional column is added, and grows up to ``cap_width`` before the prompt
    takes the rest.
    """

    name: str
    cell: Callable[[dict[str, Any]], str]
    min_width: int = 0
    comfortable_width: int = 0
    cap_width: int = 0
    justify: str = "left"

    @property
    def is_whole(self) -> bool:
        return self.min_width == 0


# Display order.
_COLUMNS = (
    _Column("id", lambda d: _text(d["id"]), justify="right"),
    _Column("date", lambda d: d["generated_at"].replace("T", " ")[:16]),
    _Column("project", lambda d: _text(d["project_id"]), justify="right"),
    _Column("plugin", lambda d: _text(d["plugin"]), 6, 9, 12),
    _Column("model", lambda d: _model_short_name(d["model_name"]), 12, 20, 28),
    _Column("sampler", lambda d: _text(d["sampler"]), 8, 10, 14),
    _Column("seed", lambda d: _text(d["seed"]), justify="right"),
    _Column("steps", lambda d: _text(d["steps"]), justify="right"),
    _Column("cfg", lambda d: _text(d["cfg_scale"]), justify="right"),
    _Column("size", _size),
    _Column("loras", _loras, 16, 20, 36),
    _Column("tags", lambda d: ", ".join(_text(tag) for tag in d["tags"]), 8, 12, 20),
    _Column("prompt", lambda d: _text(d["prompt"]), 20, 30, 0),
)
_BY_NAME = {column.name: column for column in _COLUMNS}
COLUMN_NAMES = tuple(_BY_NAME)
#: Always shown when the table is chosen by width.
_ESSENTIAL = ("id", "date", "project", "model", "prompt")
#: Added, in this order, while they fit beside the essential ones (text at its comfortable width).
_OPTIONAL = ("seed", "steps", "cfg", "loras")
#: On a terminal too narrow for the essential columns, these go first (id and prompt stay).
_ESSENTIAL_DROPPED_FIRST = ("model", "project", "date")
DEFAULT_COLUMNS = tuple(name for name in COLUMN_NAMES if name in _ESSENTIAL + _OPTIONAL)


def parse_columns(text: str) -> tuple[str, ...]:
    """``--columns id,seed,prompt`` -> the column names, checked.

    Raises:
        UsageError: a name is not a column (the message lists the columns).
    """
    names = tuple(name.strip().lower() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in _BY_NAME]
    if unknown or not names:
        raise UsageError(
            f"--columns {text!r}: unknown column {', '.join(map(repr, unknown)) or '(none)'}; "
            f"the columns are {','.join(COLUMN_NAMES)}"
        )
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class TableLayout:
    """The columns chosen, their widths (same order), and requested ones that did not fit."""

    names: tuple[str, ...]
    widths: tuple[int, ...]
    left_out: tuple[str, ...]


def _natural_widths(rows: Sequence[dict[str, str]], names: Sequence[str]) -> dict[str, int]:
    from rich.cells import cell_len

    return {name: max([cell_len(name), *(cell_len(row[name]) for row in rows)]) for name in names}


def _start_width(name: str, natural: dict[str, int], *, is_comfortable: bool = False) -> int:
    column = _BY_NAME[name]
    if column.is_whole:
        return natural[name]
    return min(natural[name], column.comfortable_width if is_comfortable else column.min_width)


def _needed(names: Sequence[str], natural: dict[str, int], *, is_comfortable: bool = False) -> int:
    """The total width of these columns: whole ones whole, text ones at their minimum
    (or comfortable) width."""
    widths = [_start_width(n, natural, is_comfortable=is_comfortable) for n in names]
    return sum(widths) + GAP * (len(widths) - 1)


def layout_columns(
    rows: Sequence[dict[str, str]], width: int, requested: Sequence[str] | None = None
) -> TableLayout:
    """Choose the columns that fit ``width`` and size them.

    ``rows`` are the cells (``cells_of``).  Without ``requested``, the essential
    columns are kept (on a very narrow terminal, down to id and prompt) and the
    optional ones added in priority order while they fit whole; with it,
    requested columns are kept in the order asked while they fit, and the
    others are reported in ``left_out``.
    """
    natural = _natural_widths(rows, requested or COLUMN_NAMES)
    chosen: list[str] = []
    left_out: list[str] = []
    if requested:
        for name in requested:
            if not chosen or _needed([*chosen, name], natural) <= width:
                chosen.append(name)
            else:
                left_out.append(name)
    else:
        chosen = list(_ESSENTIAL)
        for name in _ESSENTIAL_DROPPED_FIRST:  # a very narrow terminal
            if _needed(chosen, natural) > width:
                chosen.remove(name)
        for name in _OPTIONAL:
            if _needed([*chosen, name], natural, is_comfortable=True) > width:
                break
            chosen.append(name)
        chosen.sort(key=COLUMN_NAMES.index)
    sizes = {n: _start_width(n, natural) for n in chosen}
    spare = width - _needed(chosen, natural)
    text = [n for n in chosen if not _BY_NAME[n].is_whole]
    if spare < 0 and text:  # narrower than every minimum: the last text column gives way
        sizes[text[-1]] = max(1, sizes[text[-1]] + spare)
        spare = 0
    # Text columns grow to a comfortable width, then to their cap; the prompt
    # (else the last text column) takes what is left; then all grow to natural.
    last = "prompt" if "prompt" in text else (text[-1] if text else None)
    limits: list[Callable[[str], int]] = [
        lambda n: _BY_NAME[n].comfortable_width,
        lambda n: _BY_NAME[n].cap_width if n != last else 0,
        lambda n: natural[n] if n == last else 0,
        lambda n: natural[n],
    ]
    for limit in limits:
        for name in text:
            grow = max(0, min(spare, min(limit(name), natural[name]) - sizes[name]))
            sizes[name] += grow
            spare -= grow
    return TableLayout(tuple(chosen), tuple(sizes[n] for n in chosen), tuple(left_out))


def cells_of(data: dict[str, Any]) -> dict[str, str]:
    """A frame JSON object (``Frame.to_dict``) as the text of every column."""
    return {column.name: column.cell(data) for column in _COLUMNS}


def frames_table(rows: Sequence[dict[str, str]], layout: TableLayout) -> Table:
    """A rich table of ``rows`` (``cells_of``) with exactly the layout's columns and widths."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold", expand=False)
    for name, size in zip(layout.names, layout.widths, strict=True):
        column = _BY_NAME[name]
        table.add_column(
            name,
            justify="right" if column.justify == "right" else "left",
            width=size,
            min_width=size,
            max_width=size,
            no_wrap=True,
            overflow="ellipsis",
        )
    for row in rows:
        # Text, not markup: a prompt's "[red]" is words, not a style.
        table.add_row(*(Text(row[name]) for name in layout.names))
    return table


def print_frames_table(
    console: Console, rows: Sequence[dict[str, str]], requested: Sequence[str] | None = None
) -> TableLayout:
    """Lay out ``rows`` for ``console``'s width and print them."""
    layout = layout_columns(rows, console.width, requested)
    console.print(frames_table(rows, layout), soft_wrap=False, crop=True)
    return layout
