"""Report data as tables (section, title, columns, rows): what every format renders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kino_catalog.report.aggregates import SECTIONS

__all__ = ["STRENGTH_COLUMNS", "ReportTable", "report_tables"]

_TITLES = {
    "summary": "Summary",
    "per_day": "Frames per day",
    "per_week": "Frames per week",
    "plugins": "Plugins",
    "models": "Top models",
    "loras": "Top LoRAs",
    "lora_lists": "Top LoRAs by list",
    "samplers": "Samplers",
    "schedulers": "Schedulers",
    "steps": "Steps",
    "cfg_scale": "CFG scale",
    "resolutions": "Resolutions",
    "seeds_reused": "Seeds used more than once",
    "missing_images": "Frames with missing images (a sequence: any of its PNGs)",
    "errors": "Sidecars in error",
}
STRENGTH_COLUMNS = ("mean_strength", "min_strength", "max_strength")


@dataclass(frozen=True)
class ReportTable:
    """One section as a table: its key in the JSON, a title, columns and rows."""

    section: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def report_tables(data: dict[str, Any], sections: tuple[str, ...] = SECTIONS) -> list[ReportTable]:
    """Every requested section of ``data`` as a table (summary as key/value rows)."""
    found = []
    for section in sections:
        value = data[section]
        if section == "summary":
            rows: list[tuple[Any, ...]] = list(value.items())
            columns: tuple[str, ...] = ("figure", "value")
        else:
            columns = tuple(value[0]) if value else _EMPTY_COLUMNS.get(section, ("frames",))
            rows = [tuple(item[c] for c in columns) for item in value]
        found.append(ReportTable(section, _TITLES[section], columns, rows))
    return found


_EMPTY_COLUMNS = {
    "per_day": ("day", "frames"),
    "per_week": ("week", "starts", "frames"),
    "plugins": ("plugin", "plugin_version", "frames"),
    "models": ("model", "key", "frames"),
    "loras": ("lora", "key", "frames", "uses", *STRENGTH_COLUMNS),
    "lora_lists": ("lora", "key", "list", "frames", "uses", *STRENGTH_COLUMNS),
    "samplers": ("sampler", "frames"),
    "schedulers": ("scheduler", "frames"),
    "steps": ("steps", "frames"),
    "cfg_scale": ("cfg_scale", "frames"),
    "resolutions": ("width", "height", "frames"),
    "seeds_reused": ("seed", "frames"),
    "missing_images": ("id", "sidecar", "image"),
    "errors": ("path", "reason"),
}
