"""The click group, the settings every command shares, and output helpers."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import click

from kino_catalog.cli.lazy import LazyGroup
from kino_catalog.errors import KinoError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kino_catalog.catalog import Catalog
    from kino_catalog.catalog.edits import EditResult
    from kino_catalog.index.result import SyncResult

__all__ = [
    "WRITING_INDEX",
    "ProgressLine",
    "Settings",
    "atomic_output",
    "cli",
    "dumps",
    "echo_line",
    "format_option",
    "hint_if_empty",
    "is_terminal",
    "known_roots",
    "no_wait_option",
    "notice",
    "pass_settings",
    "progress_reporter",
    "report_edit",
    "sync_summary",
    "warn_unknown_fields",
]


@dataclass
class Settings:
    """What the global options decided; built once in `cli` and passed down."""

    db: str
    verbose: int = 0
    is_default_db: bool = False  # neither --db nor KINO_CATALOG_DB
    _catalog: Catalog | None = field(default=None, repr=False)

    def catalog(self, *, create: bool = False) -> Catalog:
        """The catalogue, opened (and migrated) on first use.

        Only the commands that fill a catalogue (sync, rebuild, watch, import,
        roots add) pass ``create=True``; every other command refuses a
        catalogue that does not exist, so a mistyped --db is one line, not a
        new empty catalogue answering 0.  A new catalogue's folder is made
        only for the default location: another one must exist already.

        Raises:
            CatalogMissingError: no catalogue there and ``create`` is False.
            UsageError: ``create`` and the folder of a --db file does not exist.
        """
        if self._catalog is None:
            # Imported here: `--help` and bad usage never load the library (lazy.py).
            from kino_catalog.catalog import Catalog
            from kino_catalog.schema.database import sqlite_file

            path = sqlite_file(self.db) if create and not self.is_default_db else None
            if path is not None and not path.parent.is_dir():
                raise UsageError(
                    f"no folder {path.parent} for the catalogue {path}: create it first"
                )
            self._catalog = Catalog.open(self.db, create=create)
        return self._catalog

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()


pass_settings = click.make_pass_decorator(Settings)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    envvar="KINO_CATALOG_DB",
    metavar="PATH_OR_URL",
    help="Catalogue: a SQLite file path or a postgresql:// URL "
    "[env KINO_CATALOG_DB; default: a file in the user data folder].",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="kino-catalog")
@click.pass_context
def cli(ctx: click.Context, db: str | None, verbose: int) -> None:
    """Search, regenerate and report on Kino generation-parameter sidecars.

    \b
    kino-catalog sync ~/kino/backend/data/frames
    kino-catalog search 'lora:add_detail steps:20..30'
    kino-catalog show 17
    """
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2),
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    is_default_db = db is None
    if db is None:
        from kino_catalog.schema.database import default_database

        db = str(default_database())
    settings = Settings(db=db, verbose=verbose, is_default_db=is_default_db)
    ctx.obj = settings
    ctx.call_on_close(settings.close)


def format_option(*choices: str, default: str | None = None) -> Callable[..., Any]:
    """A shared ``--format`` option; without a default, a table on a terminal."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=default,
        help=f"Output format [default: {default or choices[0] + ' on a terminal, else json'}].",
    )


#: ``--no-wait`` for commands that write a root another process may be writing.
no_wait_option = click.option(
    "--no-wait",
    is_flag=True,
    help="Exit 1 (instead of waiting) if another process, here or on another "
    "machine, is writing a root.",
)


def notice(message: str) -> None:
    """A message for the person at the terminal (stderr), e.g. what a command waits for."""
    click.echo(message, err=True)


def warn_unknown_fields(catalog: Catalog, query: str | None) -> None:
    """Name the fields of ``query`` that no frame has, with the nearest one (stderr).

    Advice only, the command goes on: a script may ask for a key that appears
    later.  Every command that takes a query says it, so that a typo in a
    bulk edit (``rate 1 --query 'sampeler:euler'``) is not just "0 frames".
    """
    if query:
        for warning in catalog.field_warnings(query):
            notice(f"kino-catalog: warning: {warning}")


def is_terminal() -> bool:
    return sys.stdout.isatty()


def hint_if_empty(settings: Settings) -> None:
    """On a terminal, say why an empty catalogue answers nothing, and what to run.

    Called after a command found nothing, so a full catalogue pays nothing.
    """
    if is_terminal() and settings.catalog().count() == 0:
        from kino_catalog.schema.database import shown_target

        shown = shown_target(settings.db)
        notice(f"the catalogue {shown} is empty: run `kino-catalog sync FOLDER` first")


def dumps(value: Any) -> str:
    """JSON for output: exact big integers, UTF-8 text, stable keys."""
    return json.dumps(value, ensure_ascii=False, default=str)


#: The bar's note while an indexer writes the index after reading the last file.
WRITING_INDEX = "writing the index"


class ProgressLine:
    """A one-line rich progress bar on stderr; ``echo`` prints a stdout line beside it.

    Call it with ``(done, expected)`` as the library's progress callback.
    On a terminal where stdout and stderr are the same screen, a line written
    to stdout would land on the bar's line: ``echo`` erases the bar first and
    draws it again below (issue 15: verify's findings ran into the bar).
    """

    def __init__(self, bar: Any, label: str, finishing: str | None) -> None:
        self._bar = bar
        self._task = bar.add_task(label, total=None)
        self._label = label
        self._finishing = finishing
        self._shown = 0.0

    def __call__(self, done: int, expected: int | None) -> None:
        total = max(expected, done) if expected else None
        description = self._label
        if self._finishing and done and done == total:
            description = f"{self._label} ({self._finishing})"
        self._bar.update(self._task, completed=done, total=total, description=description)
        if time.monotonic() - self._shown >= 0.1:
            self._shown = time.monotonic()
            self._bar.refresh()

    def echo(self, line: str) -> None:
        """Print ``line`` on stdout, above the bar."""
        if sys.stdout.isatty():
            sys.stderr.write("\r\x1b[2K")  # erase the bar's line (rich redraws it below)
            sys.stderr.flush()
        click.echo(line)
        sys.stdout.flush()
        self._bar.refresh()


def echo_line(progress: ProgressLine | None, line: str) -> None:
    """A result line on stdout, beside the progress bar if there is one."""
    if progress is None:
        click.echo(line)
    else:
        progress.echo(line)


@contextlib.contextmanager
def progress_reporter(label: str, finishing: str | None = None) -> Iterator[ProgressLine | None]:
    """A rich progress bar (rate, ETA) on a terminal's stderr; nothing in a pipe or CI log.

    Refreshed from the callback, not by rich's refresh thread: the indexer
    forks its reader processes only while no other thread runs.  An indexer
    keeps calling back while it writes the index after the last file, so
    ``finishing`` (e.g. "writing the index") then says so and the clock keeps
    running; commands that write nothing leave it None.  stdout is never
    redirected: results stay on stdout (``ProgressLine.echo``).
    """
    if not sys.stderr.isatty() or os.environ.get("CI"):
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed:,.0f} files/s" if task.speed else "")

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=True,
        auto_refresh=False,
        redirect_stdout=False,
        redirect_stderr=False,
        console=Console(file=sys.stderr, force_terminal=True),
    ) as bar:
        yield ProgressLine(bar, label, finishing)


@contextlib.contextmanager
def atomic_output(path: str | None) -> Iterator[IO[str] | None]:
    """A text file that appears at ``path`` only once complete (None: use stdout).

    A batch that stops half way (bad override on frame 900) must not leave a
    half-written request file that looks like a finished one.
    """
    if path is None:
        yield None
        return
    from kino_catalog.sidecar.files import atomic_text_file

    with atomic_text_file(path) as fh:
        yield fh


def report_edit(result: EditResult, verb: str, fmt: str) -> None:
    """Print what changed; failures go to stderr and make the exit code 1."""
    if fmt == "json":
        click.echo(dumps(result.as_dict()))
    else:
        frames = "frame" if result.changed == 1 else "frames"
        click.echo(
            f"{verb} {result.changed} {frames} ({result.unchanged} already so, "
            f"{len(result.failed)} failed)"
        )
    for skipped in result.skipped:
        click.echo(f"kino-catalog: skipped {skipped['path']}: {skipped['reason']}", err=True)
    for failure in result.failed:
        click.echo(f"kino-catalog: {failure['path']}: {failure['reason']}", err=True)
    if result.failed:
        raise KinoError(f"{len(result.failed)} sidecar(s) could not be changed")


def sync_summary(result: SyncResult, verb: str) -> str:
    """The one-line summary of a sync or rebuild."""
    parts = [
        f"{result.added} added",
        f"{result.updated} updated",
        f"{result.removed} removed",
        f"{result.unchanged} unchanged",
    ]
    if result.errors:
        parts.append(f"{result.errors} in error (see `kino-catalog errors`)")
    if result.warned:
        parts.append(f"{result.warned} with warnings (see `kino-catalog errors`)")
    if result.ignored:
        parts.append(f"{result.ignored} other JSON ignored")
    return f"{verb} {result.root}: {', '.join(parts)} in {result.seconds:.2f} s"


def known_roots(settings: Settings, roots: tuple[str, ...], verb: str) -> list[str]:
    """The folders ROOT arguments name (paths or root names), or every root this host has.

    Roots this host has not mapped are skipped with a note.

    Raises:
        UsageError: an argument is neither a folder nor a root mapped here, or
            there are no arguments and no roots.
    """
    catalog = settings.catalog()
    if roots:
        return [catalog.root_path(root) for root in roots]
    known = catalog.roots()
    for info in catalog.list_roots():
        if info.path is None:
            notice(
                f"skipped root {info.name!r}: not mapped on this host "
                f"(kino-catalog roots map {info.name} PATH)"
            )
    if not known:
        raise UsageError(
            "no library folder known on this host yet: give one, "
            f"e.g. `kino-catalog {verb} ~/frames`"
        )
    return known
