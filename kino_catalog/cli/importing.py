"""The import command: sidecars for images made by A1111, ComfyUI, InvokeAI, ..."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from kino_catalog.cli.app import (
    WRITING_INDEX,
    Settings,
    cli,
    dumps,
    format_option,
    pass_settings,
    progress_reporter,
    sync_summary,
)

if TYPE_CHECKING:
    from kino_catalog.catalog.importing import ImportResult


__all__ = ["import_"]


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--dry-run", is_flag=True, help="Read and report; write and index nothing.")
@click.option(
    "--overwrite-imported", is_flag=True, help="Redo images imported before (never Kino's own)."
)
@click.option(
    "--stealth", is_flag=True, help="Also read A1111 metadata hidden in the pixels (slower)."
)
@format_option("text", "json", default="text")
@pass_settings
def import_(
    settings: Settings,
    paths: tuple[str, ...],
    dry_run: bool,
    overwrite_imported: bool,
    stealth: bool,
    fmt: str,
) -> None:
    """Write a Kino sidecar beside each image made by another tool, and index it.

    Reads A1111/Forge/SD.Next, Civitai, ComfyUI, InvokeAI, NovelAI, Fooocus and
    SwarmUI metadata from PNG chunks and JPEG/WebP EXIF without decoding
    pixels or changing the image.  A sidecar not written by an import is
    never replaced.  Metadata that cannot be parsed is listed by `errors`.

    \b
    kino-catalog import ~/Pictures/a1111-outputs ~/ComfyUI/output
    """
    with progress_reporter("importing", WRITING_INDEX) as progress:
        result = settings.catalog(create=True).import_images(
            paths,
            dry_run=dry_run,
            overwrite_imported=overwrite_imported,
            stealth=stealth,
            progress=progress,
        )
    click.echo(dumps(result.as_dict()) if fmt == "json" else _summary(result))
    if fmt != "json":
        for error in result.report.errors:
            click.echo(f"error: {error['path']}: {error['reason']}", err=True)


def _summary(result: ImportResult) -> str:
    report = result.report
    written = ", ".join(f"{fmt} {n}" for fmt, n in sorted(report.written.items())) or "none"
    verb = "would write" if report.dry_run else "wrote"
    lines = [
        f"{report.images} images: {verb} {sum(report.written.values())} sidecars ({written}); "
        f"{report.unchanged} unchanged, {report.already_imported} imported before, "
        f"{report.kept_existing} with a sidecar of their own, {report.no_metadata} without "
        f"metadata, {len(report.errors)} errors"
    ]
    lines.extend(sync_summary(r, "indexed") for r in result.indexed)
    return "\n".join(lines)
