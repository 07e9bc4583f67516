"""Commands that write user annotations into sidecars: tag add|remove, rate, note."""

from __future__ import annotations

import click

from kino_catalog.cli.app import (
    Settings,
    cli,
    dumps,
    format_option,
    is_terminal,
    pass_settings,
    report_edit,
    warn_unknown_fields,
)
from kino_catalog.errors import UsageError
from kino_catalog.sidecar.added_keys import MAX_RATING

__all__ = ["note", "rate", "tag", "tag_add", "tag_list", "tag_remove"]

query_option = click.option(
    "--query",
    "-q",
    "query",
    metavar="QUERY",
    default=None,
    help="Every frame matching QUERY instead of one FRAME.",
)


def _split_frame(
    args: tuple[str, ...], query: str | None, what: str
) -> tuple[list[str], list[str]]:
    """``TAG... FRAME`` or ``TAG... --query Q``: the last argument is the frame unless -q."""
    if query is not None:
        return list(args), []
    if len(args) < 2:
        raise UsageError(f"give {what} and then FRAME, or --query QUERY")
    return list(args[:-1]), [args[-1]]


@cli.group()
def tag() -> None:
    """Add or remove tags; they are written into the sidecars, so a rebuild keeps them.

    \b
    kino-catalog tag add hero keeper project_12_frame_7_variant_0.png
    kino-catalog tag remove reject --query 'lora:add_detail date:2025-10'
    kino-catalog search 'tag:hero -tag:reject'
    """


@tag.command("list")
@format_option("text", "json")
@pass_settings
def tag_list(settings: Settings, fmt: str | None) -> None:
    """List the tags in use with their number of frames.

    \b
    kino-catalog tag list
    """
    found = settings.catalog().tags()
    if (fmt or ("text" if is_terminal() else "json")) == "json":
        click.echo(dumps([{"tag": tag, "frames": n} for tag, n in found]))
        return
    for tag_name, count in found:
        click.echo(f"{count}\t{tag_name}")


@tag.command("add")
@click.argument("args", nargs=-1, required=True, metavar="TAG... [FRAME]")
@query_option
@format_option("text", "json", default="text")
@pass_settings
def tag_add(settings: Settings, args: tuple[str, ...], query: str | None, fmt: str) -> None:
    """Add tags to FRAME (an id, sidecar or image path) or to every frame of --query.

    \b
    kino-catalog tag add hero 17
    kino-catalog tag add hero keeper --query 'seed:1234'
    """
    tags, refs = _split_frame(args, query, "TAG...")
    catalog = settings.catalog()
    warn_unknown_fields(catalog, query)
    report_edit(catalog.tag(tags, refs, query=query), "tagged", fmt)


@tag.command("remove")
@click.argument("args", nargs=-1, required=True, metavar="TAG... [FRAME]")
@query_option
@format_option("text", "json", default="text")
@pass_settings
def tag_remove(settings: Settings, args: tuple[str, ...], query: str | None, fmt: str) -> None:
    """Remove tags (any letter case) from FRAME or from every frame of --query.

    \b
    kino-catalog tag remove draft 17
    kino-catalog tag remove draft --query 'tag:final'
    """
    tags, refs = _split_frame(args, query, "TAG...")
    catalog = settings.catalog()
    warn_unknown_fields(catalog, query)
    report_edit(catalog.tag(tags, refs, query=query, remove=True), "untagged", fmt)


@cli.command()
@click.argument("args", nargs=-1, metavar="[N] [FRAME]")
@query_option
@click.option("--clear", "is_clear", is_flag=True, help="Remove the rating instead.")
@format_option("text", "json", default="text")
@pass_settings
def rate(
    settings: Settings, args: tuple[str, ...], query: str | None, is_clear: bool, fmt: str
) -> None:
    """Rate FRAME (or every frame of --query) from 0 to 5, written into the sidecar.

    \b
    kino-catalog rate 5 17
    kino-catalog rate 1 --query 'tag:reject'
    kino-catalog rate --clear 17
    kino-catalog search 'rating:>=4'
    """
    rest = list(args)
    rating: int | None = None
    if not is_clear:
        if not rest or not rest[0].isdigit() or int(rest[0]) > MAX_RATING:
            raise UsageError(f"give a rating from 0 to {MAX_RATING} (or --clear), then FRAME")
        rating = int(rest.pop(0))
    if len(rest) > 1:
        raise UsageError(f"one FRAME at most (use --query for several): {' '.join(rest)}")
    catalog = settings.catalog()
    warn_unknown_fields(catalog, query)
    report_edit(catalog.rate(rating, rest, query=query), "rated", fmt)


@cli.command()
@click.argument("text")
@click.argument("frame")
@format_option("text", "json", default="text")
@pass_settings
def note(settings: Settings, text: str, frame: str, fmt: str) -> None:
    """Set FRAME's notes (an empty TEXT removes them), written into the sidecar.

    \b
    kino-catalog note 'redo with more light' 17
    kino-catalog note '' 17
    kino-catalog search 'notes:light'
    """
    report_edit(settings.catalog().note(text, frame), "noted", fmt)
