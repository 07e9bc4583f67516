"""Commands for named parameter presets: preset save|list|show|delete."""

from __future__ import annotations

import click

from kino_catalog.cli.app import Settings, cli, dumps, format_option, is_terminal, pass_settings

__all__ = ["preset", "preset_delete", "preset_list", "preset_save", "preset_show"]

root_option = click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=None,
    help="The library folder whose presets/ to use (needed when the catalogue has several).",
)


@cli.group()
def preset() -> None:
    """Named parameter presets, kept as JSON files in the library's presets/ folder.

    \b
    kino-catalog preset save portrait 17 --open seed --open prompt
    kino-catalog preset list
    kino-catalog preset show portrait --format json
    kino-catalog preset delete portrait
    """


@preset.command("save")
@click.argument("name")
@click.argument("frame", required=False)
@click.option(
    "--from",
    "from_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Take the parameters from a JSON file (a sidecar, preset or bare object).",
)
@click.option(
    "--open",
    "open_keys",
    multiple=True,
    metavar="KEY",
    help="Leave KEY out: a request from this preset must then --set it.",
)
@click.option("--force", "is_force", is_flag=True, help="Replace an existing preset.")
@root_option
@pass_settings
def preset_save(
    settings: Settings,
    name: str,
    frame: str | None,
    from_file: str | None,
    open_keys: tuple[str, ...],
    is_force: bool,
    root: str | None,
) -> None:
    """Save FRAME's parameters (or --from FILE's) as preset NAME.

    \b
    kino-catalog preset save portrait 17 --open seed
    kino-catalog preset save wan-base --from params.json --root ~/kino/frames
    """
    saved = settings.catalog().save_preset(
        name, frame, from_file=from_file, open_keys=open_keys, root=root, overwrite=is_force
    )
    click.echo(saved.path)


@preset.command("list")
@root_option
@format_option("text", "json")
@pass_settings
def preset_list(settings: Settings, root: str | None, fmt: str | None) -> None:
    """List presets: name, plugin, open keys and file.

    \b
    kino-catalog preset list
    kino-catalog preset list --format json
    """
    found = settings.catalog().presets(root)
    if (fmt or ("text" if is_terminal() else "json")) == "json":
        click.echo(dumps([p.to_dict() for p in found]))
        return
    for p in found:
        opened = f"  open: {', '.join(p.open_keys)}" if p.open_keys else ""
        click.echo(f"{p.name}\t{p.plugin or '-'}\t{len(p.parameters)} keys{opened}\t{p.path}")


@preset.command("show")
@click.argument("name")
@root_option
@format_option("text", "json", default="json")
@pass_settings
def preset_show(settings: Settings, name: str, root: str | None, fmt: str) -> None:
    """Show preset NAME with its exact parameters.

    \b
    kino-catalog preset show portrait
    """
    found = settings.catalog().load_preset(name, root)
    if fmt == "json":
        click.echo(dumps(found.to_dict()))
        return
    click.echo(f"{found.name} ({found.plugin or 'any plugin'}) from {found.source or '?'}")
    for key, value in found.parameters.items():
        click.echo(f"  {key}: {dumps(value)}")
    for key in found.open_keys:
        click.echo(f"  {key}: <open: give it with --set {key}=...>")


@preset.command("delete")
@click.argument("name")
@root_option
@pass_settings
def preset_delete(settings: Settings, name: str, root: str | None) -> None:
    """Delete preset NAME (its file in presets/).

    \b
    kino-catalog preset delete portrait
    """
    click.echo(f"deleted {settings.catalog().delete_preset(name, root)}")
