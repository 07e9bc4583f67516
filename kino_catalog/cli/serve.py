"""The serve command (gallery + JSON API under uvicorn) and thumbs (thumbnails ahead of time)."""

from __future__ import annotations

import re
import secrets
import threading
import webbrowser
from pathlib import Path

import click

from kino_catalog.cli.app import (
    WRITING_INDEX,
    Settings,
    cli,
    pass_settings,
    progress_reporter,
    sync_summary,
    warn_unknown_fields,
)
from kino_catalog.errors import UsageError
from kino_catalog.query.sql import to_ast
from kino_catalog.web.thumbnails import DEFAULT_SIZE, SIZES, ThumbnailCache

__all__ = ["serve", "thumbs"]

_TOKEN_RE = re.compile(r"^[A-Za-z0-9._~-]{16,}$")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--watch", "is_watching", is_flag=True, help="Keep the catalogue live while serving.")
@click.option("--poll", "use_polling", is_flag=True, help="With --watch: poll (network mounts).")
@click.option("--kino", "kino_url", metavar="URL", help="Kino server for 'Send to Kino'.")
@click.option("--read-only", "is_read_only", is_flag=True, help="No edits and no sending to Kino.")
@click.option("--allow-edits", is_flag=True, help="Allow edits when listening beyond this machine.")
@click.option(
    "--token",
    metavar="TOKEN",
    help="Access token every request must carry (generated when listening beyond this machine).",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="Another Host name the server answers to (e.g. its DNS name).",
)
@click.option(
    "--thumbnails",
    "thumbnail_folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Thumbnail cache folder [default: the user cache folder].",
)
@click.option("--open", "is_opening", is_flag=True, help="Open the gallery in a browser.")
@pass_settings
def serve(
    settings: Settings,
    host: str,
    port: int,
    is_watching: bool,
    use_polling: bool,
    kino_url: str | None,
    is_read_only: bool,
    allow_edits: bool,
    token: str | None,
    allow_hosts: tuple[str, ...],
    thumbnail_folder: Path | None,
    is_opening: bool,
) -> None:
    """Browse and search the catalogue in a web browser, and serve the JSON API.

    Listens on 127.0.0.1 only unless --host says otherwise; beyond this
    machine every request needs the access token, and edits stay off unless
    --allow-edits. Images are served only for indexed frames, by frame id.

    \b
    kino-catalog serve --open
    kino-catalog serve --watch --kino http://127.0.0.1:8000
    kino-catalog serve --host 0.0.0.0 --read-only
    """
    import uvicorn

    from kino_catalog.web import AccessRules, ServeConfig, create_app
    from kino_catalog.web.security import is_loopback

    is_local = is_loopback(host)
    if token is not None and not _TOKEN_RE.match(token):
        raise UsageError("--token: at least 16 characters of A-Z a-z 0-9 . _ ~ -")
    if not is_local and token is None:
        token = secrets.token_urlsafe(24)
    catalog = settings.catalog()
    if is_watching:
        for root in catalog.roots():  # before any thread exists: a big sync forks readers
            with progress_reporter(f"syncing {root}", WRITING_INDEX) as progress:
                click.echo(sync_summary(catalog.sync(root, progress), "synced"), err=True)
    rules = AccessRules(
        bind_host=host,
        token=token,
        allow_edits=not is_read_only and (is_local or allow_edits),
        extra_hosts=allow_hosts,
    )
    config = ServeConfig(rules, kino_url, thumbnail_folder, is_watching, use_polling)
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown_host}:{port}/"
    click.echo(f"kino-catalog: serving {url}" + (f"?token={token}" if token else ""), err=True)
    if not rules.allow_edits:
        click.echo("kino-catalog: read-only (no edits, no sending to Kino)", err=True)
    if is_opening:
        threading.Timer(1.0, webbrowser.open, [url + (f"?token={token}" if token else "")]).start()
    uvicorn.run(
        create_app(catalog, config),
        host=host,
        port=port,
        log_level="warning" if settings.verbose == 0 else "info",
        server_header=False,
    )


@cli.command()
@click.argument("query", nargs=-1)
@click.option(
    "--size",
    type=click.Choice([str(s) for s in SIZES]),
    default=str(DEFAULT_SIZE),
    show_default=True,
    help="Longest side in pixels (the gallery's grid uses the default).",
)
@click.option(
    "--jobs", type=click.IntRange(min=1), default=None, help="Processes [default: cores]."
)
@click.option(
    "--thumbnails",
    "thumbnail_folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Thumbnail cache folder [default: the user cache folder].",
)
@pass_settings
def thumbs(
    settings: Settings,
    query: tuple[str, ...],
    size: str,
    jobs: int | None,
    thumbnail_folder: Path | None,
) -> None:
    """Make the gallery's thumbnails ahead of time (every frame, or a query's frames).

    \b
    kino-catalog thumbs
    kino-catalog thumbs 'project:12 date:2025-10'
    """
    text = " ".join(query)
    to_ast(text)  # a bad query fails before anything starts
    catalog = settings.catalog()
    warn_unknown_fields(catalog, text)
    total = catalog.count(text)
    cache = ThumbnailCache(thumbnail_folder)
    images = (
        catalog.image_file(frame) for frame in catalog.iter_search(text, limit=None, sort="oldest")
    )
    with progress_reporter("thumbnails") as progress:
        counts = cache.make_many(images, int(size), workers=jobs, progress=progress, total=total)
    click.echo(
        f"{counts['made']} made, {counts['cached']} already cached, "
        f"{counts['broken']} unreadable, {counts['missing']} missing images "
        f"(in {cache.folder})",
        err=True,
    )
