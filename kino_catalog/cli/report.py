"""The report command: project or catalogue statistics as text, json, csv, html or md."""

from __future__ import annotations

import os

import click

from kino_catalog.cli.app import Settings, atomic_output, cli, is_terminal, pass_settings
from kino_catalog.report.aggregates import SECTIONS
from kino_catalog.report.render import FORMATS, render_report

__all__ = ["report"]

_EXTENSIONS = {
    ".json": "json",
    ".csv": "csv",
    ".html": "html",
    ".htm": "html",
    ".md": "md",
    ".txt": "text",
}


@cli.command()
@click.option(
    "--project",
    "project_id",
    type=int,
    metavar="ID",
    help="Only this project [default: the whole catalogue].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format [default: from -o's extension, else text on a terminal "
    "and json in a pipe].",
)
@click.option(
    "--section",
    type=click.Choice(SECTIONS),
    default=None,
    help="Only this section (csv: one plain table).",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Length of the ranked lists (models, LoRAs, reused seeds).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the report to FILE instead of standard output.",
)
@pass_settings
def report(
    settings: Settings,
    project_id: int | None,
    fmt: str | None,
    section: str | None,
    top: int,
    output: str | None,
) -> None:
    """Report what was made, with which models and LoRAs, and when.

    Frame counts, first/last generation, frames per day and week, plugins and
    versions, top models and LoRAs (frames, strengths, per list), samplers,
    schedulers, steps, cfg, resolutions, reused seeds, missing images and
    sidecars in error. The HTML report is one file with charts that opens
    from disk without network access.

    \b
    kino-catalog report --project 12
    kino-catalog report --project 12 -o project12.html
    kino-catalog report --format csv --section loras > loras.csv
    """
    if fmt is None:
        by_extension = _EXTENSIONS.get(os.path.splitext(output or "")[1].lower())
        fmt = by_extension or ("text" if is_terminal() and output is None else "json")
    data = settings.catalog().report(project_id, top=top)
    if fmt == "text" and output is None and is_terminal():
        from rich.console import Console

        render_report(data, fmt, section, console=Console())
        return
    text = render_report(data, fmt, section)
    with atomic_output(output) as fh:
        click.echo(text, file=fh, nl=not text.endswith("\n"))
