"""The `tasks` command, and how it and `regen --submit` show Kino tasks as they go."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from kino_catalog.cli.app import cli, dumps, is_terminal
from kino_catalog.errors import UsageError

if TYPE_CHECKING:
    from types import TracebackType

    from kino_catalog.regen.tasks import TaskBatch, TaskResult

__all__ = [
    "TaskDisplay",
    "finish_batch",
    "report_format",
    "task_format_option",
    "tasks",
    "timeout_option",
]

EXIT_INTERRUPTED = 130


timeout_option = click.option(
    "--timeout",
    "timeout_seconds",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="With --wait: give up waiting for a task after this long (it keeps running).",
)

task_format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "jsonl"]),
    help="How tasks are reported: text on a terminal, else JSON lines (one object per task).",
)


def report_format(fmt: str | None) -> str:
    return fmt or ("text" if is_terminal() else "jsonl")


def task_line(result: TaskResult, fmt: str) -> str:
    """One task, as text (id, status, source, detail) or as a JSON object."""
    if fmt == "jsonl":
        return dumps(result.to_dict())
    status = result.status
    if result.progress is not None and status in ("pending", "running"):
        status += f" {result.progress:.0f}%"
    task_id = result.task_id if result.task_id is not None else "-"
    parts = [f"{task_id:>6}", f"{status:<12}", result.label, result.detail()]
    return "  ".join(part for part in parts if part)


class TaskDisplay:
    """Prints each task's line once settled, in order; a rich bar on a terminal only.

    The bar shows the task under way and Kino's ``progress`` for it; in a
    pipe or a CI log nothing but the lines is written.
    """

    def __init__(self, total: int, fmt: str) -> None:
        self.total = total
        self.fmt = fmt
        self.printed: set[int] = set()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> TaskDisplay:
        if sys.stderr.isatty() and not os.environ.get("CI"):
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                transient=True,
                console=Console(stderr=True),
                # lines for a pipe must not be pulled onto the terminal
                redirect_stdout=sys.stdout.isatty(),
                redirect_stderr=False,
            )
            self._bar.start()
            self._task = self._bar.add_task("Kino", total=100)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, result: TaskResult) -> None:
        if self._bar is not None:
            task = f"task {result.task_id}" if result.task_id is not None else "request"
            self._bar.update(
                self._task,
                description=f"{task} ({result.index + 1}/{self.total}) {result.status}",
                completed=result.progress or 0.0,
            )
        if result.is_settled and result.index not in self.printed:
            self._print(result)

    def finish(self, results: list[TaskResult]) -> None:
        """Print the lines not printed yet (tasks never reached), in order."""
        for result in results:
            if result.index not in self.printed:
                self._print(result)

    def _print(self, result: TaskResult) -> None:
        self.printed.add(result.index)
        # sys.stdout as it is now: under the bar, rich's proxy prints above the bar
        # (click's own default stream would write past it and tear the bar).
        click.echo(task_line(result, self.fmt), file=sys.stdout)


def finish_batch(batch: TaskBatch, display: TaskDisplay, url: str, *, is_new: bool) -> int:
    """Print the remaining lines and the stderr summary; the exit code (0, 1 or 130).

    ``is_new``: the batch created the tasks (regen --submit) rather than
    looked them up (tasks).
    """
    display.finish(batch.results)
    counts = ", ".join(f"{n} {status}" for status, n in batch.counts().items())
    summary = f"{len(batch.results)} task(s) on {url}"
    click.echo(f"{summary}: {counts}" if counts else summary, err=True)
    for result in batch.results:
        if result.status == "failed":
            click.echo(f"kino-catalog: task {result.task_id} failed: {result.error}", err=True)
    if batch.stopped is not None and not batch.is_ok:
        click.echo(f"kino-catalog: stopped: {batch.stopped}", err=True)
    ids = [str(r.task_id) for r in batch.results if r.task_id is not None and not r.is_finished]
    if ids and (is_new or batch.stopped):
        is_default = os.environ.get("KINO_URL", "").rstrip("/") == url
        where = "" if is_default else f" --url {url}"
        wait = "" if batch.waited else " (or use --wait)"
        click.echo(f"check them with: kino-catalog tasks{where} {' '.join(ids)}{wait}", err=True)
    if batch.interrupted:
        return EXIT_INTERRUPTED
    return 0 if batch.is_ok else 1


@cli.command()
@click.argument("task_ids", nargs=-1, type=click.IntRange(min=0), metavar="TASK_ID...")
@click.option(
    "--url",
    envvar="KINO_URL",
    metavar="URL",
    help="Kino's server, e.g. http://127.0.0.1:8000 [env KINO_URL].",
)
@click.option("--wait", is_flag=True, help="Wait until each task completed or failed.")
@timeout_option
@task_format_option
@click.pass_context
def tasks(
    ctx: click.Context,
    task_ids: tuple[int, ...],
    url: str | None,
    wait: bool,
    timeout_seconds: float | None,
    fmt: str | None,
) -> None:
    """Show what Kino did with tasks (as printed by `regen --submit`), in order.

    Exit 0 when every task exists and none failed (with --wait: all
    completed), 1 otherwise, 130 when Ctrl-C stopped the waiting (nothing is
    cancelled).

    \b
    kino-catalog tasks --url http://127.0.0.1:8000 101 102
    KINO_URL=http://127.0.0.1:8000 kino-catalog tasks 101 --wait --timeout 600
    """
    from kino_catalog.regen.tasks import follow_tasks

    if not task_ids:
        raise UsageError("give one or more task ids")
    if url is None:
        raise UsageError("give Kino's address: --url URL or KINO_URL")
    if timeout_seconds is not None and not wait:
        raise UsageError("--timeout needs --wait")
    with TaskDisplay(len(task_ids), report_format(fmt)) as display:
        batch = follow_tasks(
            url, task_ids, wait=wait, timeout_seconds=timeout_seconds, on_update=display.update
        )
    ctx.exit(finish_batch(batch, display, url.rstrip("/"), is_new=False))
