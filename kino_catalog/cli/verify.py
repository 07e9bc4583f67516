"""Commands for image integrity: hash, verify, duplicates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from kino_catalog.catalog.verify import NOTE_KINDS
from kino_catalog.cli.app import (
    WRITING_INDEX,
    Settings,
    cli,
    dumps,
    echo_line,
    format_option,
    is_terminal,
    pass_settings,
    progress_reporter,
    report_edit,
    warn_unknown_fields,
)
from kino_catalog.errors import KinoError
from kino_catalog.query.sql import to_ast

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["duplicates", "hash_", "verify"]


@cli.command("hash")
@click.argument("query", nargs=-1)
@format_option("text", "json", default="text")
@pass_settings
def hash_(settings: Settings, query: tuple[str, ...], fmt: str) -> None:
    """Record a SHA-256 image hash in each matching sidecar that lacks one (writes sidecars).

    \b
    kino-catalog hash
    kino-catalog hash 'project:12'
    kino-catalog verify && kino-catalog duplicates
    """
    text = " ".join(query)
    to_ast(text)
    catalog = settings.catalog()
    warn_unknown_fields(catalog, text)
    with progress_reporter("hashing", WRITING_INDEX) as progress:
        result = catalog.hash_images(text, progress)
    report_edit(result, "hashed", fmt)


@cli.command()
@click.argument("query", nargs=-1)
@format_option("text", "json")
@pass_settings
def verify(settings: Settings, query: tuple[str, ...], fmt: str | None) -> None:
    """Check images against sidecars: missing, changed (hash), orphan PNGs, wrong filenames.

    Exit 1 if anything is wrong.  With a QUERY only those frames are checked
    (orphan PNGs belong to no frame, so only a full verify lists them).

    \b
    kino-catalog verify
    kino-catalog verify 'project:12' --format json
    """
    text = " ".join(query)
    to_ast(text)
    is_json = (fmt or ("text" if is_terminal() else "json")) == "json"
    count = 0  # problems; notes are listed too (a root not mapped here is not damage)
    catalog = settings.catalog()
    warn_unknown_fields(catalog, text)
    with progress_reporter("verifying") as progress:
        problems = catalog.verify(text, progress)
        lines = _json_lines(problems) if is_json else map(_text_line, problems)
        for line, problem in lines:
            echo_line(progress, line)
            count += problem is not None and problem["kind"] not in NOTE_KINDS
    if count:
        raise KinoError(f"{count} problem{'s' if count != 1 else ''} found")
    if not is_json:
        click.echo("all images verified", err=True)


def _text_line(problem: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return f"{problem['kind']}\t{problem['path'] or '-'}\t{problem['detail']}", problem


def _json_lines(problems: Iterable[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """One JSON array, one problem a line, streamed: every line is written whole
    (a progress bar may be redrawn between two lines)."""
    previous: dict[str, Any] | None = None
    yield "[", None
    for problem in problems:
        if previous is not None:
            yield dumps(previous) + ",", previous
        previous = problem
    if previous is not None:
        yield dumps(previous), previous
    yield "]", None


@cli.command()
@format_option("text", "json")
@pass_settings
def duplicates(settings: Settings, fmt: str | None) -> None:
    """List frames whose images have the same recorded hash (run `hash` first).

    \b
    kino-catalog hash && kino-catalog duplicates
    kino-catalog duplicates --format json
    """
    groups = settings.catalog().duplicates()
    if (fmt or ("text" if is_terminal() else "json")) == "json":
        click.echo(dumps(groups))
        return
    for group in groups:
        click.echo(group["hash"])
        for frame in group["frames"]:
            click.echo(
                f"  {frame['id']}\t{frame['image'] or frame['root'] + ':' + frame['relpath']}"
            )
