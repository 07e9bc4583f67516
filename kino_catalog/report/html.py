"""The HTML report: one self-contained page (inline CSS and SVG, no scripts, no network)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kino_catalog.report.tables import ReportTable

__all__ = ["bar_chart", "render_html"]

CHART_BARS = 40  # more bars than this stop being readable; the table below has them all

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;
max-width:72rem;padding:0 1rem;color:#1d1d1f;background:#fff}
h1{font-size:1.6rem}h2{font-size:1.15rem;margin-top:2.2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6rem 0}td,th{padding:.2rem .7rem;text-align:left;
border-bottom:1px solid #eee;vertical-align:top}th{background:#f6f6f8}
td.n{text-align:right;font-variant-numeric:tabular-nums}
svg{display:block;margin:.5rem 0;max-width:100%}svg text{font:11px system-ui,sans-serif}
.bar{fill:#4a7bd0}.axis{stroke:#999}.muted{color:#777}
details summary{cursor:pointer;color:#345}
@media (prefers-color-scheme:dark){body{background:#16161a;color:#ddd}
th{background:#24242a}td,th{border-color:#333}svg text{fill:#ddd}}
"""


def _esc(value: Any) -> str:
    return html.escape("(none)" if value is None else str(value), quote=True)


def bar_chart(labels: list[str], values: list[float], *, title: str) -> str:
    """Horizontal bars, one per label, as an inline SVG element (no scripts, no fonts)."""
    labels, values = labels[:CHART_BARS], values[:CHART_BARS]
    if not values:
        return ""
    bar_h, gap, label_w, plot_w = 16, 4, 260, 480
    height = len(values) * (bar_h + gap) + 8
    top = max(values) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 90}" '
        f'height="{height}" role="img" aria-label="{_esc(title)}">',
        f"<title>{_esc(title)}</title>",
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 4 + i * (bar_h + gap)
        width = max(1.0, plot_w * value / top) if value else 0.0
        short = label if len(label) <= 40 else label[:39] + "\u2026"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{_esc(short)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y}" width="{width:.1f}" height="{bar_h}">'
            f"<title>{_esc(label)}: {value:g}</title></rect>"
            f'<text x="{label_w + width + 4:.1f}" y="{y + 12}">{value:g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(labels: list[str], values: list[float], *, title: str) -> str:
    """Vertical columns over time (frames per week), labelled every few columns."""
    if not values:
        return ""
    col_w = max(3, min(24, 900 // len(values)))
    plot_h, width = 160, col_w * len(values) + 60
    top = max(values) or 1
    step = max(1, len(values) // 12)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{plot_h + 40}" '
        f'role="img" aria-label="{_esc(title)}"><title>{_esc(title)}</title>',
        f'<line class="axis" x1="40" y1="{plot_h + 4}" x2="{width}" y2="{plot_h + 4}"/>',
        f'<text x="36" y="12" text-anchor="end">{top:g}</text>',
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top
        x = 40 + i * col_w
        parts.append(
            f'<rect class="bar" x="{x}" y="{plot_h + 4 - h:.1f}" '
            f'width="{max(1, col_w - 1)}" height="{h:.1f}">'
            f"<title>{_esc(label)}: {value:g}</title></rect>"
        )
        if i % step == 0:
            parts.append(f'<text x="{x}" y="{plot_h + 20}">{_esc(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(table: ReportTable) -> str:
    if not table.rows:
        return '<p class="muted">None.</p>'
    head = "".join(f"<th>{_esc(c)}</th>" for c in table.columns)
    body = []
    for row in table.rows:
        cells = []
        for value, column in zip(row, table.columns, strict=True):
            is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
            shown = f"{value:.3f}" if isinstance(value, float) and "strength" in column else value
            cells.append(
                f'<td class="n">{_esc(shown)}</td>' if is_num else f"<td>{_esc(shown)}</td>"
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    rows = "\n".join(body)
    if len(table.rows) > 60:  # long tables fold away so the charts stay in view
        return (
            f"<details><summary>{len(table.rows)} rows</summary><table><tr>{head}</tr>"
            f"\n{rows}</table></details>"
        )
    return f"<table><tr>{head}</tr>\n{rows}</table>"


def _chart(table: ReportTable, spec: tuple[tuple[str, ...], str]) -> str:
    label_cols, value_col = spec
    idx = [table.columns.index(c) for c in label_cols if c in table.columns]
    if value_col not in table.columns or not idx:
        return ""
    v = table.columns.index(value_col)
    labels = [
        " ".join("(none)" if row[i] is None else str(row[i]) for i in idx) for row in table.rows
    ]
    if table.section == "resolutions":
        labels = [label.replace(" ", "\u00d7") for label in labels]
    values = [float(row[v]) for row in table.rows]
    make = column_chart if table.section == "per_week" else bar_chart
    return make(labels, values, title=table.title)


def render_html(
    data: dict[str, Any],
    tables: list[ReportTable],
    heading: str,
    charts: dict[str, tuple[tuple[str, ...], str]],
) -> str:
    """One HTML page: headings, charts and tables; opens from disk with no network."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(heading)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_esc(heading)}</h1>",
        f'<p class="muted">Created {_esc(data["created_at"])} from '
        f"{_esc(data['scope']['database'])}.</p>",
    ]
    for table in tables:
        parts.append(f'<section id="{_esc(table.section)}"><h2>{_esc(table.title)}</h2>')
        if table.section in charts and table.rows:
            parts.append(_chart(table, charts[table.section]))
        parts.append(_table(table) + "</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
