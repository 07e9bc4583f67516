"""Commands that fill and inspect the catalogue: sync, rebuild, errors, stats."""

from __future__ import annotations

import os

import click

from kino_catalog.cli.app import (
    Settings,
    cli,
    dumps,
    format_option,
    pass_settings,
    progress_reporter,
    sync_summary,
)
from kino_catalog.errors import UsageError

__all__ = ["errors", "rebuild", "stats", "sync"]


def _roots(settings: Settings, roots: tuple[str, ...]) -> list[str]:
    if roots:
        return list(roots)
    known = settings.catalog().roots()
    if not known:
        raise UsageError("no library folder known yet: give one, e.g. `kino-catalog sync ~/frames`")
    return known


def _index(
    settings: Settings, roots: tuple[str, ...], fmt: str | None, *, is_rebuild: bool
) -> None:
    catalog = settings.catalog()
    results = []
    for root in _roots(settings, roots):
        with progress_reporter(f"{'rebuilding' if is_rebuild else 'syncing'} {root}") as progress:
            run = catalog.rebuild if is_rebuild else catalog.sync
            result = run(root, progress)
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
@pass_settings
def sync(settings: Settings, roots: tuple[str, ...], fmt: str) -> None:
    """Index new and changed sidecars, drop deleted ones (no ROOT: every known root).

    Only files whose size or modification time changed are read, so a sync
    with nothing new costs little more than listing the folders.

    \b
    kino-catalog sync ~/kino/backend/data/frames
    """
    _index(settings, roots, fmt, is_rebuild=False)


@cli.command()
@click.argument("roots", nargs=-1, type=click.Path(file_okay=False))
@format_option("text", "json", default="text")
@pass_settings
def rebuild(settings: Settings, roots: tuple[str, ...], fmt: str) -> None:
    """Re-read every sidecar from disk (no ROOT: every known root).

    Searches keep seeing the old index until the new one is complete; an
    interrupted rebuild leaves the old index as it was.

    \b
    kino-catalog rebuild ~/kino/backend/data/frames
    """
    _index(settings, roots, fmt, is_rebuild=True)


@cli.command()
@format_option("text", "json", default="text")
@pass_settings
def errors(settings: Settings, fmt: str) -> None:
    """List sidecars that could not be indexed, with the reason.

    \b
    kino-catalog errors --format json
    """
    found = settings.catalog().errors()
    if fmt == "json":
        click.echo(dumps(found))
        return
    for item in found:
        click.echo(f"{item['path']}: {item['reason']}")
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
        "frames",
        "projects",
        "loras",
        "missing_images",
        "errors",
        "ignored_files",
    ):
        click.echo(f"{key.replace('_', ' ')}: {data[key]}")
    for root in data["roots"]:
        click.echo(f"root: {root['path']} ({root['frames']} frames, synced {root['synced_at']})")
