"""Rendering frames for the terminal and for pipes: table, json, jsonl, csv, paths."""

from __future__ import annotations

import csv
import sys
from typing import TYPE_CHECKING, Any

import click

from kino_catalog.cli.app import dumps

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from kino_catalog.query.frame import Frame

__all__ = ["CSV_COLUMNS", "FRAME_FORMATS", "render_frame_text", "render_frames"]

FRAME_FORMATS = ("table", "json", "jsonl", "csv", "paths")
CSV_COLUMNS = (
    "id",
    "sidecar",
    "image",
    "image_exists",
    "project_id",
    "plugin",
    "plugin_version",
    "task_id",
    "timestamp",
    "generated_at",
    "model_name",
    "sampler",
    "scheduler",
    "seed",
    "steps",
    "cfg_scale",
    "width",
    "height",
    "loras",
    "prompt",
    "negative_prompt",
)


def render_frames(frames: Iterable[Frame], fmt: str, columns: Sequence[str] | None = None) -> int:
    """Write frames to stdout as they stream in; returns how many were written.

    ``columns`` picks the table's columns (cli/table.py); the other formats have all fields.
    """
    if fmt == "table":
        return _table(frames, columns)
    writer = {"json": _json, "jsonl": _jsonl, "csv": _csv, "paths": _paths}[fmt]
    return writer(frames)


def _lines(frames: Iterable[Frame], line: Callable[[Frame], str]) -> int:
    count = 0
    for frame in frames:
        click.echo(line(frame))
        count += 1
    return count


def _paths(frames: Iterable[Frame]) -> int:
    """Image paths here; frames of roots this host has not mapped are counted on stderr."""
    unmapped: dict[str, int] = {}

    def mapped() -> Iterator[Frame]:
        for frame in frames:
            if frame.is_mapped:
                yield frame
            else:
                unmapped[frame.root_name] = unmapped.get(frame.root_name, 0) + 1

    count = _lines(mapped(), lambda frame: frame.image_path)
    for name, skipped in sorted(unmapped.items()):
        click.echo(
            f"kino-catalog: {skipped} frame{'s' if skipped != 1 else ''} of root {name!r} not "
            f"listed: not mapped on this host (kino-catalog roots map {name} PATH)",
            err=True,
        )
    return count


def _jsonl(frames: Iterable[Frame]) -> int:
    return _lines(frames, lambda frame: dumps(frame.to_dict()))


def _json(frames: Iterable[Frame]) -> int:
    # Streamed as one array: a million frames never sit in memory at once.
    count = 0
    out = sys.stdout
    out.write("[")
    for count, frame in enumerate(frames, 1):
        out.write(("\n" if count == 1 else ",\n") + dumps(frame.to_dict()))
    out.write("\n]\n" if count else "]\n")
    return count


def _lora_summary(loras: list[dict[str, Any]]) -> str:
    return "; ".join(f"{lora['lora_name']}:{lora['strength_model']}" for lora in loras)


def _csv(frames: Iterable[Frame]) -> int:
    from kino_catalog.report.render import csv_cell  # the report's rule; loaded only for csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for frame in frames:
        count += 1
        data = frame.to_dict()
        data["loras"] = _lora_summary(data["loras"])
        writer.writerow([csv_cell(data[c]) for c in CSV_COLUMNS])
    return count


def _table(frames: Iterable[Frame], columns: Sequence[str] | None = None) -> int:
    """A table that fits the terminal (cli/table.py); requested columns left out are named."""
    from rich.console import Console

    from kino_catalog.cli.table import cells_of, print_frames_table

    rows = [cells_of(frame.to_dict()) for frame in frames]
    if rows:
        layout = print_frames_table(Console(soft_wrap=False), rows, columns)
        if layout.left_out:
            click.echo(
                f"kino-catalog: not shown, the terminal is too narrow: {','.join(layout.left_out)}",
                err=True,
            )
    return len(rows)


def render_frame_text(frame: Frame) -> None:
    """One frame in full, for people."""
    data = frame.to_dict()
    params = data.pop("parameters")
    loras = data.pop("loras")
    if not frame.is_mapped:
        data["sidecar"] = data["image"] = (
            f"(root {frame.root_name!r} is not mapped on this host: "
            f"kino-catalog roots map {frame.root_name} PATH)"
        )
    width = max(len(k) for k in data)
    for key, value in data.items():
        click.echo(f"{key:<{width}}  {'' if value is None else value}")
    for lora in loras:
        strengths = ", ".join(
            f"{k}={lora[k]}" for k in ("strength_model", "strength_clip") if lora[k] is not None
        )
        click.echo(f"{'lora':<{width}}  {lora['lora_name']} ({lora['role']}; {strengths})")
    click.echo("parameters:")
    click.echo(dumps(params) if not sys.stdout.isatty() else _pretty(params))


def _pretty(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, indent=2)
