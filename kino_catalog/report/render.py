"""Rendering report data as text, CSV, Markdown and self-contained HTML (inline SVG charts)."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

from kino_catalog.report.aggregates import SECTIONS
from kino_catalog.report.tables import STRENGTH_COLUMNS, ReportTable, report_tables

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["FORMATS", "csv_cell", "render_report"]

FORMATS = ("text", "json", "csv", "html", "md")
TEXT_WEEKS = 26  # the text view is for a terminal: recent weeks; other formats have all
TEXT_LISTED = 20  # listed frames (missing images, errors) shown in text; others list more

# section -> (label column(s), value column) of its bar chart in HTML
_CHARTS = {
    "per_week": (("week",), "frames"),
    "plugins": (("plugin", "plugin_version"), "frames"),
    "models": (("model",), "frames"),
    "loras": (("lora",), "frames"),
    "samplers": (("sampler",), "frames"),
    "schedulers": (("scheduler",), "frames"),
    "steps": (("steps",), "frames"),
    "cfg_scale": (("cfg_scale",), "frames"),
    "resolutions": (("width", "height"), "frames"),
}


def _cell(value: Any, column: str = "") -> str:
    if value is None:
        return "(none)"
    if isinstance(value, float) and column in STRENGTH_COLUMNS:
        return f"{value:.3f}"
    return str(value)


def _heading(data: dict[str, Any]) -> str:
    scope = data["scope"]
    what = f"project {scope['project_id']}" if scope["project_id"] is not None else "all projects"
    return f"Kino catalogue report: {what}"


def render_report(
    data: dict[str, Any], fmt: str, section: str | None = None, console: Console | None = None
) -> str:
    """The report in ``fmt``; text goes to ``console`` when given (colours on a terminal).

    Raises:
        ValueError: unknown format or section.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}")
    if section is not None and section not in SECTIONS:
        raise ValueError(f"unknown report section {section!r}")
    sections = (section,) if section else SECTIONS
    if fmt == "json":
        # json, not orjson: seeds beyond 64 bits stay exact integers.
        chosen = data if section is None else {section: data[section]}
        return json.dumps(chosen, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return _csv(report_tables(data, sections), is_single=section is not None)
    if fmt == "md":
        return _markdown(data, report_tables(data, sections))
    if fmt == "html":
        from kino_catalog.report.html import render_html

        return render_html(data, report_tables(data, sections), _heading(data), _CHARTS)
    return _text(data, report_tables(data, sections), console, is_single=section is not None)


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: null is empty, booleans are JSON's ``true``/``false``.

    Python's ``True`` is what csv would write otherwise; spreadsheets, pandas
    and the JSON outputs all read ``true``.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _csv(tables: list[ReportTable], *, is_single: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for i, table in enumerate(tables):
        if not is_single:  # several tables in one stream: a comment line names each
            out.write(("\n" if i else "") + f"# {table.section}\n")
        writer.writerow(table.columns)
        writer.writerows([csv_cell(v) for v in row] for row in table.rows)
    return out.getvalue()


def _md_cell(value: Any, column: str) -> str:
    return _cell(value, column).replace("|", "\\|").replace("\n", " ")


def _markdown(data: dict[str, Any], tables: list[ReportTable]) -> str:
    lines = [f"# {_heading(data)}", "", f"Created {data['created_at']}.", ""]
    for table in tables:
        lines += [f"## {table.title}", ""]
        if not table.rows:
            lines += ["None.", ""]
            continue
        lines.append("| " + " | ".join(table.columns) + " |")
        lines.append(
            "|"
            + "|".join(
                " ---: " if _is_numeric(table, i) else " --- " for i in range(len(table.columns))
            )
            + "|"
        )
        lines += [
            "| "
            + " | ".join(_md_cell(v, c) for v, c in zip(row, table.columns, strict=True))
            + " |"
            for row in table.rows
        ]
        lines.append("")
    return "\n".join(lines)


def _is_numeric(table: ReportTable, index: int) -> bool:
    values = [row[index] for row in table.rows if row[index] is not None]
    return bool(values) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    )


def _text(
    data: dict[str, Any], tables: list[ReportTable], console: Console | None, *, is_single: bool
) -> str:
    from rich.console import Console
    from rich.table import Table

    out = io.StringIO()
    target = console or Console(file=out, width=110, no_color=True, highlight=False)
    if not is_single:
        target.print(f"[bold]{_heading(data)}[/bold]  (created {data['created_at']})")
    for table in tables:
        rows = table.rows
        note = ""
        if table.section == "per_week" and not is_single and len(rows) > TEXT_WEEKS:
            note = f" (last {TEXT_WEEKS} of {len(rows)} weeks)"
            rows = rows[-TEXT_WEEKS:]
        if table.section == "per_day" and not is_single:
            continue  # a line per day is for json/csv/html, or --section per_day
        if table.section in ("missing_images", "errors") and len(rows) > TEXT_LISTED:
            note = f" (first {TEXT_LISTED}; see the summary for the count)"
            rows = rows[:TEXT_LISTED]
        shown = Table(box=None, header_style="bold", pad_edge=False, show_header=bool(rows))
        for i, column in enumerate(table.columns):
            shown.add_column(
                column, justify="right" if _is_numeric(table, i) else "left", overflow="fold"
            )
        for row in rows:
            shown.add_row(*(_cell(v, c) for v, c in zip(row, table.columns, strict=True)))
        if not rows:
            shown.add_row("none")
        target.print()
        # The title goes on its own line: as a table title rich would wrap it
        # to the width of a narrow table.
        target.print(f"[bold underline]{table.title}[/]{note}", highlight=False)
        target.print(shown)
    return out.getvalue()
