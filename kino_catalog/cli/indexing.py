"""Commands that fill and inspect the catalogue: sync, rebuild, errors, stats."""

from __future__ import annotations

import os

import click

from kino_catalog.cli.app import (
    WRITING_INDEX,
    Settings,
    cli,
    dumps,
    format_option,
    known_roots,
    no_wait_option,
    notice,
    pass_settings,
    progress_reporter,
    sync_summary,
)

__all__ = ["errors", "rebuild", "stats", "sync"]


def _index(
    settings: Settings, roots: tuple[str, ...], fmt: str | None, *, is_rebuild: bool, no_wait: bool
) -> None:
    catalog = settings.catalog(create=True)
    results = []
    for root in known_roots(settings, roots, "rebuild" if is_rebuild else "sync"):
        with progress_reporter(
            f"{'rebuilding' if is_rebuild else 'syncing'} {root}", WRITING_INDEX
        ) as progress:
            run = catalog.rebuild if is_rebuild else catalog.sync
            result = run(root, progress, wait=not no_wait, on_wait=notice)
        results.append(result)
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        if fmt != "json":
            click.echo(sync_summary(result, "rebuilt" if is_rebuild else "synced"))
    if fmt == "json":
        click.echo(dumps([r.as_dict() for r in results]))


@cli.command()
@click.argument("roots", nargs=-1, type=click.Path(file_okay=False))
@format_option("text", "json", default="text")
@no_wait_option
@pass_settings
def sync(settings: Settings, roots: tuple[str, ...], fmt: str, no_wait: bool) -> None:
    """Index new and changed sidecars, drop deleted ones (no ROOT: every root this host has).

    ROOT is a folder or a root's name.  Only files whose size or modification
    time changed are read, so a sync with nothing new costs little more than
    listing the folders.  A new folder becomes a root (or is recognised as
    one another machine added, by its marker file).  If another process is
    writing the same root, sync waits for it (--no-wait: exit 1 instead).

    \b
    kino-catalog sync ~/kino/backend/data/frames
    kino-catalog sync studio
    """
    _index(settings, roots, fmt, is_rebuild=False, no_wait=no_wait)


@cli.command()
@click.argument("roots", nargs=-1, type=click.Path(file_okay=False))
@format_option("text", "json", default="text")
@no_wait_option
@pass_settings
def rebuild(settings: Settings, roots: tuple[str, ...], fmt: str, no_wait: bool) -> None:
    """Re-read every sidecar from disk (no ROOT: every root this host has).

    Searches keep seeing the old index until the new one is complete; an
    interrupted rebuild leaves the old index as it was.

    \b
    kino-catalog rebuild ~/kino/backend/data/frames
    """
    _index(settings, roots, fmt, is_rebuild=True, no_wait=no_wait)


@cli.command()
@format_option("text", "json", default="text")
@pass_settings
def errors(settings: Settings, fmt: str) -> None:
    """List sidecars that could not be indexed (error) and frames indexed with a warning.

    An error is a file that is not indexed: unreadable, or not a Kino sidecar.
    A warning is a frame that is indexed and searchable, with a value of the
    wrong type left out (`"steps": "30"` cannot be found by `steps:30`).

    \b
    kino-catalog errors
    kino-catalog errors --format json    # each with "kind": "error" or "warning"
    """
    found = settings.catalog().errors()
    if fmt == "json":
        click.echo(dumps(found))
        return
    for item in found:
        where = item["path"] or item["root"] + ":" + item["relpath"]
        click.echo(f"{where}: {item['kind']}: {item['reason']}")
    if not found and os.isatty(1):
        click.echo("no errors", err=True)


@cli.command()
@format_option("text", "json", default="text")
@pass_settings
def stats(settings: Settings, fmt: str) -> None:
    """Catalogue health: frames, projects, errors, missing images, roots.

    \b
    kino-catalog stats --format json
    """
    data = settings.catalog().stats()
    if fmt == "json":
        click.echo(dumps(data))
        return
    for key in (
        "database",
        "host",
        "frames",
        "projects",
        "loras",
        "missing_images",
        "frames_not_mapped_here",
        "errors",
        "warnings",
        "ignored_files",
    ):
        click.echo(f"{key.replace('_', ' ')}: {data[key]}")
    for root in data["roots"]:
        where = root["path"] or "not mapped on this host"
        synced = (
            f"synced {root['synced_at']} by {root['synced_by']}"
            if root["synced_at"]
            else "never synced"
        )
        click.echo(f"root {root['name']}: {where} ({root['frames']} frames, {synced})")
