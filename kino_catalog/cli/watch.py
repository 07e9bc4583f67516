"""The `watch` command: sync, then keep the catalogue live until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

import click

from kino_catalog.cli.app import (
    WRITING_INDEX,
    Settings,
    cli,
    known_roots,
    no_wait_option,
    notice,
    pass_settings,
    progress_reporter,
    sync_summary,
)

__all__ = ["watch"]


@cli.command()
@click.argument("roots", nargs=-1, type=click.Path(file_okay=False))
@click.option(
    "--poll",
    is_flag=True,
    help="Poll the folders instead of using inotify (network shares, some mounts).",
)
@click.option(
    "--debounce-ms",
    type=click.IntRange(0, 60_000),
    default=200,
    show_default=True,
    help="Quiet time a file needs before it is indexed.",
)
@click.option(
    "--reconcile-interval",
    type=click.FloatRange(min=1.0),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="How often a full stat-diff sync repairs anything the events missed.",
)
@no_wait_option
@pass_settings
def watch(
    settings: Settings,
    roots: tuple[str, ...],
    poll: bool,
    debounce_ms: int,
    reconcile_interval: float,
    no_wait: bool,
) -> None:
    """Sync, then index new, changed, moved and deleted sidecars as they happen.

    Runs until Ctrl-C or SIGTERM, then stops cleanly (exit 0). One log line
    per batch; warnings when events were lost and a reconcile repairs them,
    or when a root disappears (its index is kept until it comes back).
    No ROOT: every root this host has (ROOT: a folder or a root's name).
    Several machines may watch one root: each write waits for the others'
    (--no-wait: exit 1 if the first sync finds the root busy).

    \b
    kino-catalog watch ~/kino/backend/data/frames
    kino-catalog watch --poll /mnt/studio/frames
    """
    catalog = settings.catalog(create=True)
    targets = known_roots(settings, roots, "watch")
    package_log, level = logging.getLogger("kino_catalog"), logging.getLogger("kino_catalog").level
    if package_log.getEffectiveLevel() > logging.INFO:  # a watcher's batches are its output
        package_log.setLevel(logging.INFO)
    watcher = catalog.watch(
        *targets,
        use_polling=poll,
        debounce_seconds=debounce_ms / 1000,
        reconcile_interval_seconds=reconcile_interval,
    )
    for root in watcher.roots:
        # Before the watcher's threads exist: a big first sync then reads in
        # two processes (the indexer never forks while other threads run).
        # The watcher's own start-up reconcile catches what changes meanwhile.
        if os.path.isdir(root):
            with progress_reporter(f"syncing {root}", WRITING_INDEX) as progress:
                result = catalog.sync(root, progress, wait=not no_wait, on_wait=notice)
            click.echo(sync_summary(result, "synced"), err=True)
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, _stopper(stop, sig)) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with watcher:
            click.echo(f"watching {', '.join(watcher.roots)} (Ctrl-C to stop)", err=True)
            while not stop.wait(1.0):
                pass
            click.echo("stopping...", err=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        package_log.setLevel(level)
    click.echo("stopped", err=True)


def _stopper(stop: threading.Event, sig: int) -> Any:
    """A signal handler that asks for a clean stop; a second signal acts as usual."""

    def handle(_signum: int, _frame: Any) -> None:
        stop.set()
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)

    return handle
