"""Commands that read frames: search and show."""

from __future__ import annotations

import click

from kino_catalog.cli.app import (
    Settings,
    cli,
    dumps,
    format_option,
    hint_if_empty,
    is_terminal,
    pass_settings,
    warn_unknown_fields,
)
from kino_catalog.cli.render import FRAME_FORMATS, render_frame_text, render_frames
from kino_catalog.cli.table import COLUMN_NAMES, parse_columns
from kino_catalog.errors import UsageError
from kino_catalog.query.sql import SORTS, to_ast

__all__ = ["search", "show"]

TERMINAL_LIMIT = 50


@cli.command()
@click.argument("query", nargs=-1)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FRAME_FORMATS),
    default=None,
    help="Output format [default: table on a terminal, jsonl in a pipe].",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=None,
    help=f"At most N frames; 0 = all [default: {TERMINAL_LIMIT} on a terminal, all in a pipe].",
)
@click.option("--sort", type=click.Choice(SORTS), default="newest", show_default=True)
@click.option("--count", "is_count", is_flag=True, help="Print only the number of matches.")
@click.option(
    "--columns",
    metavar="NAMES",
    default=None,
    help=f"The table's columns, comma-separated, from: {','.join(COLUMN_NAMES)} "
    "[default: what fits the terminal; the full row is in `show`].",
)
@pass_settings
def search(
    settings: Settings,
    query: tuple[str, ...],
    fmt: str | None,
    limit: int | None,
    sort: str,
    is_count: bool,
    columns: str | None,
) -> None:
    """Find frames with the query language (an empty query matches every frame).

    Terms are AND-ed; `a OR b` and `( ... )` group; `-term` negates (put `--`
    before a query whose first term starts with `-`: search -- -sketch).

    \b
    castle "red dragon" drag*   words, phrase, prefix in the prompt; neg:word
    lora:add_detail@0.5..1      a LoRA in any list (case, folder, extension
                                folded), optionally with a strength range
    model: sampler: scheduler: plugin: version: path: tag: hash:
                                names, with * and ? globs
    seed: steps: cfg: width: height: project: task: rating:
                                numbers: 30  20..30  >=6.5  <1024
    date:2025-10  date:2025-10-01..2025-10-15  date:today  date:-7d..
    num_frames:81 style:anime   any other key of the sidecar's parameters
    All of it: the README's "Query language" section.

    \b
    kino-catalog search 'lora:add_detail steps:20..30'
    kino-catalog search 'model:juggernaut* cfg:>=6.5 date:2025-10' --format jsonl
    kino-catalog search '"red dragon" -sketch' --format paths | xargs feh
    kino-catalog search 'project:7' --columns id,seed,model,prompt
    """
    text = " ".join(query)
    to_ast(text)  # parse first: a bad query fails before opening anything
    picked = parse_columns(columns) if columns is not None else None
    if picked and fmt not in (None, "table"):
        raise UsageError("--columns picks the table's columns; it needs --format table")
    catalog = settings.catalog()
    warn_unknown_fields(catalog, text)
    if is_count:
        found = catalog.count(text)
        click.echo(found)
        if not found:
            hint_if_empty(settings)
        return
    fmt = fmt or ("table" if is_terminal() or picked else "jsonl")
    if limit is None:
        limit = TERMINAL_LIMIT if is_terminal() else 0
    shown = render_frames(catalog.iter_search(text, limit=limit or None, sort=sort), fmt, picked)
    if is_terminal() and fmt == "table":
        # exact when quick, else "about N" (--count is always exact)
        total = catalog.count_estimate(text) if limit and shown == limit else None
        matched = total.value if total is not None else shown
        more = f" (showing {shown}; --limit 0 for all)" if matched > shown else ""
        label = str(total) if total is not None else str(shown)
        click.echo(f"{label} frame{'s' if matched != 1 else ''}{more}", err=True)
    if not shown:
        hint_if_empty(settings)


@cli.command()
@click.argument("frame")
@format_option("text", "json", default="text")
@pass_settings
def show(settings: Settings, frame: str, fmt: str) -> None:
    """Show one frame in full: FRAME is an id, a sidecar path or an image path.

    \b
    kino-catalog show 17
    kino-catalog show frames/project_12_frame_7_variant_0.png --format json
    """
    found = settings.catalog().get(frame)
    if fmt == "json":
        click.echo(dumps(found.to_dict()))
    else:
        render_frame_text(found)
