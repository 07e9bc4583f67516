"""Project reports: what was made, with which models and LoRAs, and when, aggregated in SQL.

Every figure is a GROUP BY in the database (the queries are queries.py's), so
a report over a million frames reads indexes and narrow columns instead of
loading frames into Python.  This module owns the report's shape: its
sections, their keys and order, and the one snapshot they are read from; it
rolls the few wide GROUP BYs up into the per-column distributions.  The
result is plain JSON-ready data with stable keys (``REPORT_VERSION`` bumps
when a key changes meaning); ``report_render`` turns it into text, CSV,
Markdown and HTML.

Keys (lists are ordered by frames, most first, unless said otherwise)::

    report_version, created_at, scope {project_id, database}
    summary {frames, projects, first_generated_at, last_generated_at, days_active,
             plugins, models, loras, frames_with_loras, frames_with_seed,
             distinct_seeds, reused_seeds, frames_with_reused_seed,
             missing_images, sidecars_in_error}
    per_day [{day, frames}]                (oldest first)
    per_week [{week, starts, frames}]      (ISO weeks, oldest first)
    plugins [{plugin, plugin_version, frames}]
    models [{model, key, frames}]          (top N; model null = no model_name)
    loras [{lora, key, frames, uses, mean_strength, min_strength, max_strength}]  (top N)
    lora_lists [{lora, key, list, frames, uses, mean_strength, min_strength,
                 max_strength}]            (the top N LoRAs split by list)
    samplers [{sampler, frames}]   schedulers [{scheduler, frames}]
    steps [{steps, frames}]   cfg_scale [{cfg_scale, frames}]   (by value)
    resolutions [{width, height, frames}]
    seeds_reused [{seed, frames}]          (top N seeds used by more than one frame)
    missing_images [{id, root, sidecar, image}]  (first N, in catalogue order; paths null
                   where this host has not mapped the root)
    errors [{path, reason}]                (first N)

Strengths are ``strength_model``.  A value missing in the sidecar is null.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from kino_catalog.report.queries import ReportQueries, iso_seconds, ordered_rows
from kino_catalog.schema import frames_table
from kino_catalog.schema.host import this_host

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["REPORT_VERSION", "SECTIONS", "build_report"]

REPORT_VERSION = 1
SECTIONS = (
    "summary",
    "per_day",
    "per_week",
    "plugins",
    "models",
    "loras",
    "lora_lists",
    "samplers",
    "schedulers",
    "steps",
    "cfg_scale",
    "resolutions",
    "seeds_reused",
    "missing_images",
    "errors",
)

f = frames_table.c


def _rollup(rows: list[tuple[Any, ...]], *indices: int) -> list[tuple[Any, ...]]:
    """Sum the frame counts of GROUP BY rows over the chosen columns."""
    totals: dict[tuple[Any, ...], int] = {}
    for row in rows:
        key = tuple(row[i] for i in indices)
        totals[key] = totals.get(key, 0) + row[-1]
    return [(*key, n) for key, n in totals.items()]


def _per_week(per_day: list[dict[str, Any]]) -> list[dict[str, Any]]:
    weeks: dict[str, dict[str, Any]] = {}
    for item in per_day:
        day = dt.date.fromisoformat(item["day"])
        year, week, weekday = day.isocalendar()
        label = f"{year}-W{week:02d}"
        entry = weeks.setdefault(
            label,
            {
                "week": label,
                "starts": (day - dt.timedelta(days=weekday - 1)).isoformat(),
                "frames": 0,
            },
        )
        entry["frames"] += item["frames"]
    return list(weeks.values())


def build_report(
    engine: Engine,
    project_id: int | None = None,
    *,
    top: int = 20,
    list_limit: int = 100,
    host: str | None = None,
) -> dict[str, Any]:
    """The report data for one project (``project_id``) or the whole catalogue.

    Listed files are located with ``host``'s mappings of their roots (default:
    this host); a root not mapped there lists its files with a null path.

    ``top`` bounds the ranked lists (models, LoRAs, reused seeds);
    ``list_limit`` bounds the listed frames with a missing image and errors
    (their full counts are in ``summary``).
    """
    if top < 1 or list_limit < 0:
        raise ValueError("top must be >= 1 and list_limit >= 0")
    with engine.connect() as conn:
        # One snapshot for every figure (SQLite reads in one transaction; on
        # PostgreSQL REPEATABLE READ), so totals agree while an index runs.
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            r = ReportQueries(conn, project_id, top, list_limit, host or this_host())
            # Two GROUP BYs give every per-frame distribution: one full pass over
            # the wide frames rows per group, not one per section (columns are
            # split so the number of groups stays small).
            facets = r.grouped(f.plugin, f.plugin_version, f.sampler, f.scheduler)
            shapes = r.grouped(f.steps, f.cfg_scale, f.width, f.height)
            summary = r.summary(facets)
            per_day = r.per_day()
            lora_top, lora_lists = r.loras()
            seed_counts, seeds_reused = r.seeds()
            error_count, errors = r.errors()
            plugins = ordered_rows(_rollup(facets, 0, 1))

            def table(
                name: str, rows: list[tuple[Any, ...]], *, is_by_value: bool = False
            ) -> list[dict[str, Any]]:
                return [
                    {name: v, "frames": n} for v, n in ordered_rows(rows, is_by_value=is_by_value)
                ]

            data: dict[str, Any] = {
                "report_version": REPORT_VERSION,
                "created_at": iso_seconds(dt.datetime.now().replace(microsecond=0)),
                "scope": {
                    "project_id": project_id,
                    "database": engine.url.render_as_string(hide_password=True),
                },
                "summary": {
                    **summary,
                    "days_active": len(per_day),
                    "plugins": len({p for p, _v, _n in plugins}),
                    **seed_counts,
                    "sidecars_in_error": error_count,
                },
                "per_day": per_day,
                "per_week": _per_week(per_day),
                "plugins": [{"plugin": p, "plugin_version": v, "frames": n} for p, v, n in plugins],
                "models": r.models(),
                "loras": lora_top,
                "lora_lists": lora_lists,
                "samplers": table("sampler", _rollup(facets, 2)),
                "schedulers": table("scheduler", _rollup(facets, 3)),
                "steps": table("steps", _rollup(shapes, 0), is_by_value=True),
                "cfg_scale": table("cfg_scale", _rollup(shapes, 1), is_by_value=True),
                "resolutions": [
                    {"width": w, "height": h, "frames": n}
                    for w, h, n in ordered_rows(_rollup(shapes, 2, 3))
                ],
                "seeds_reused": seeds_reused,
                "missing_images": r.missing_images(summary["missing_images"]),
                "errors": errors,
            }
    return data
