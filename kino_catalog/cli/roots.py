"""The `roots` group: the library folders of a catalogue and where this host has them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from kino_catalog.cli.app import (
    Settings,
    cli,
    dumps,
    format_option,
    no_wait_option,
    notice,
    pass_settings,
)

if TYPE_CHECKING:
    from kino_catalog.index.roots import WriteTarget

__all__ = ["roots"]


@cli.group(invoke_without_command=True)
@format_option("text", "json", default="text")
@click.pass_context
def roots(ctx: click.Context, fmt: str) -> None:
    """List the roots (library folders): frames, where this host has them, last sync.

    A root has a name and an identity of its own; each machine maps it to
    its local path, so one share mounted at different places on different
    workstations is one root.  The host is $KINO_CATALOG_HOST, else the
    hostname.

    \b
    kino-catalog roots
    kino-catalog roots add studio /mnt/studio/frames
    kino-catalog roots map studio /Volumes/studio/frames     (on another machine)
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = ctx.find_object(Settings)
    assert settings is not None
    catalog = settings.catalog()
    found = catalog.list_roots()
    if fmt == "json":
        click.echo(dumps({"host": catalog.host, "roots": [r.as_dict() for r in found]}))
        return
    if not found:
        click.echo("no roots yet: `kino-catalog roots add NAME PATH` or `sync PATH`", err=True)
        return
    for info in found:
        where = info.path or f"(not mapped on {catalog.host})"
        synced = (
            f"synced {info.synced_at.isoformat(sep=' ', timespec='seconds')} by {info.synced_by}"
            if info.synced_at
            else "never synced"
        )
        click.echo(f"{info.name}\t{info.frames} frames\t{where}\t{synced}")
        for host, path in info.mounts.items():
            if host != catalog.host:
                click.echo(f"\t{host}: {path}")


@roots.command("add")
@click.argument("name")
@click.argument("path", type=click.Path(file_okay=False))
@pass_settings
def add(settings: Settings, name: str, path: str) -> None:
    """Make the folder PATH a root called NAME, mapped on this host (then `sync NAME`).

    Writes a small marker file (.kino-catalog-root) into the folder, by which
    other machines recognise it wherever they mount it.

    \b
    kino-catalog roots add studio /mnt/studio/frames && kino-catalog sync studio
    """
    target = settings.catalog(create=True).add_root(path, name)
    _report(target, f"root {target.name!r} at {target.path}")


@roots.command("map")
@click.argument("name")
@click.argument("path", type=click.Path(file_okay=False))
@pass_settings
def map_(settings: Settings, name: str, path: str) -> None:
    """Tell the catalogue that this host has root NAME at PATH.

    \b
    kino-catalog roots map studio /Volumes/studio/frames
    """
    target = settings.catalog().map_root(name, path)
    _report(target, f"root {target.name!r} is at {target.path} on {settings.catalog().host}")


@roots.command()
@click.argument("name")
@pass_settings
def unmap(settings: Settings, name: str) -> None:
    """Forget where this host has root NAME (its frames stay in the catalogue).

    \b
    kino-catalog roots unmap studio
    """
    settings.catalog().unmap_root(name)


@roots.command()
@click.argument("name")
@click.argument("new_name")
@pass_settings
def rename(settings: Settings, name: str, new_name: str) -> None:
    """Rename root NAME to NEW_NAME (on every host: names are the catalogue's).

    \b
    kino-catalog roots rename frames studio
    """
    settings.catalog().rename_root(name, new_name)


@roots.command()
@click.argument("name")
@no_wait_option
@pass_settings
def remove(settings: Settings, name: str, no_wait: bool) -> None:
    """Drop root NAME and all its frames from the catalogue (no file is touched).

    \b
    kino-catalog roots remove old-renders
    """
    removed = settings.catalog().remove_root(name, wait=not no_wait, on_wait=notice)
    click.echo(f"removed root {name!r} and its {removed} frames", err=True)


def _report(target: WriteTarget, done: str) -> None:
    for warning in target.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(done)
