"""The regen command: Kino task bodies for frames, queries or saved files; optional submit."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

import click

from kino_catalog.cli.app import (
    Settings,
    atomic_output,
    cli,
    dumps,
    is_terminal,
    pass_settings,
    warn_unknown_fields,
)
from kino_catalog.cli.tasks import (
    TaskDisplay,
    finish_batch,
    report_format,
    task_format_option,
    timeout_option,
)
from kino_catalog.errors import SubmitError, UsageError
from kino_catalog.query.sql import to_ast
from kino_catalog.regen.overrides import Edits, parse_assignments, parse_strengths
from kino_catalog.regen.requests import read_request_files, request_from_preset

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["regen"]

MAX_PROBLEMS_SHOWN = 20


def _requests(
    settings: Settings,
    refs: tuple[str, ...],
    query: str | None,
    is_from: bool,
    preset: str | None,
    edits: Edits,
    plugin: str | None,
) -> tuple[Iterable[dict[str, Any]], bool]:
    """(requests, is_single): the one source the options chose, as a stream."""
    chosen = sum((query is not None, is_from, preset is not None, bool(refs) and not is_from))
    if (query is not None or preset is not None) and refs:
        raise UsageError("give FRAME..., --query Q, --from FILE... or --preset NAME, not several")
    if chosen != 1 or (is_from and not refs):
        raise UsageError("give FRAME..., --query Q, --from FILE... or --preset NAME (see --help)")
    if preset is not None:
        return [request_from_preset(settings.catalog().load_preset(preset), edits)], True
    if is_from:
        return read_request_files(refs, edits), False
    catalog = settings.catalog()
    if query is not None:
        node = to_ast(query)  # a bad query fails before anything is written or sent
        warn_unknown_fields(catalog, query)
        return catalog.iter_regen(
            node,
            edits.overrides,
            set_loras=edits.set_loras,
            drop_loras=edits.drop_loras,
            allow_new_keys=edits.allow_new_keys,
            plugin=plugin,
        ), False
    return (
        catalog.regen(
            ref,
            edits.overrides,
            set_loras=edits.set_loras,
            drop_loras=edits.drop_loras,
            allow_new_keys=edits.allow_new_keys,
            plugin=plugin,
        )
        for ref in refs
    ), len(refs) == 1


@cli.command()
@click.argument("refs", nargs=-1, metavar="[FRAME...|FILE...]")
@click.option("-q", "--query", help="Every frame matching this query (JSON lines, oldest first).")
@click.option(
    "--from",
    "is_from",
    is_flag=True,
    help="The arguments are saved sidecars or request files (.json or JSON lines).",
)
@click.option(
    "--preset",
    metavar="NAME",
    help="Start from a saved preset (see `kino-catalog preset`); open keys need --set.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a parameter, typed like the original; seed=random, seed=+1.",
)
@click.option(
    "--set-lora",
    "set_loras",
    multiple=True,
    metavar="NAME=STRENGTH",
    help="Set a LoRA's strength in every list that holds it.",
)
@click.option(
    "--drop-lora",
    "drop_loras",
    multiple=True,
    metavar="NAME",
    help="Remove a LoRA from every list that holds it.",
)
@click.option(
    "--allow-new-keys",
    is_flag=True,
    help="Let --set add keys (and --set-lora add LoRAs) the frame never had.",
)
@click.option(
    "--plugin",
    metavar="NAME",
    help="Build the request for this Kino plugin (e.g. sdxl for an imported A1111 frame); "
    "keys it does not take are listed on stderr.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the requests to FILE (complete or not at all).",
)
@click.option(
    "--submit", metavar="URL", help="Create and start a Kino task per request on the server at URL."
)
@click.option(
    "--project",
    "project_id",
    type=click.IntRange(min=1),
    metavar="ID",
    help="With --submit: file the new frames in this Kino project (imported frames have none).",
)
@click.option("--wait", is_flag=True, help="With --submit: wait for each task's outcome.")
@click.option(
    "--in-place",
    is_flag=True,
    help="With --submit: overwrite the frame itself (its PNG and sidecar), as Kino's UI does.",
)
@click.option(
    "--keep-going",
    is_flag=True,
    help="With --submit: go on after a task that failed (or was refused).",
)
@timeout_option
@task_format_option
@click.pass_context
@pass_settings
def regen(
    settings: Settings,
    ctx: click.Context,
    refs: tuple[str, ...],
    query: str | None,
    is_from: bool,
    preset: str | None,
    sets: tuple[str, ...],
    set_loras: tuple[str, ...],
    drop_loras: tuple[str, ...],
    allow_new_keys: bool,
    plugin: str | None,
    output: str | None,
    submit: str | None,
    project_id: int | None,
    wait: bool,
    in_place: bool,
    keep_going: bool,
    timeout_seconds: float | None,
    fmt: str | None,
) -> None:
    """Print the Kino request that regenerates a frame (FRAME: id, sidecar or image path).

    One FRAME prints one JSON object; several frames, --query and --from print
    JSON lines (one request per line, streamed). Parameters are the sidecar's
    exactly (same keys, types, big seeds) unless overridden.

    --submit URL first checks that Kino has each plugin and project (and,
    with --in-place, which of its frames each one is), then creates and
    starts one task per request and prints a line per task. Without --wait
    the tasks are only started: `kino-catalog tasks ID...` tells what became
    of them. With --wait each task is followed until it completed or failed
    before the next is sent; a failure stops the batch unless --keep-going.
    Ctrl-C stops waiting and cancels nothing. Exit 0 when every task
    started (--wait: completed), 1 otherwise, 130 after Ctrl-C.

    \b
    kino-catalog regen 17 --set steps=40 --set cfg_scale=6.5 --set seed=random
    kino-catalog regen --query 'project:12 lora:add_detail' --set-lora add_detail=0.6 -o p12.jsonl
    kino-catalog regen 17 --set seed=+1 --submit http://127.0.0.1:8000 --in-place --wait
    kino-catalog regen --from p12.jsonl --submit http://127.0.0.1:8000 --wait --keep-going
    kino-catalog regen --preset portrait --set seed=random --set prompt='a knight'
    kino-catalog regen --query 'plugin:a1111 lora:add_detail' --plugin sdxl
    """
    edits = Edits(
        parse_assignments(sets, "--set"), parse_strengths(set_loras), drop_loras, allow_new_keys
    )
    if plugin is not None and (is_from or preset is not None):
        raise UsageError("--plugin converts catalogued frames: give FRAME... or --query")
    needs_submit = wait or in_place or keep_going
    needs_submit |= any(value is not None for value in (timeout_seconds, fmt, project_id))
    if submit is None and needs_submit:
        raise UsageError(
            "--wait, --in-place, --keep-going, --timeout, --format and --project need --submit"
        )
    if timeout_seconds is not None and not wait:
        raise UsageError("--timeout needs --wait")
    if project_id is not None and in_place:
        raise UsageError("--in-place keeps each frame's own project: drop --project")
    options = {
        "in_place": in_place,
        "project_id": project_id,
        "wait": wait,
        "keep_going": keep_going,
        "timeout_seconds": timeout_seconds,
    }
    requests, is_single = _requests(settings, refs, query, is_from, preset, edits, plugin)
    if plugin is not None:
        requests = _report_not_sent(requests)
    try:
        code, written = _run(settings, requests, is_single, is_from, output, submit, fmt, options)
    except SubmitError as exc:
        for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
            click.echo(f"kino-catalog: {problem}", err=True)
        if len(exc.problems) > MAX_PROBLEMS_SHOWN:
            click.echo(f"kino-catalog: ... {len(exc.problems) - MAX_PROBLEMS_SHOWN} more", err=True)
        click.echo(f"kino-catalog: nothing was submitted to {exc.url}", err=True)
        ctx.exit(1)
    if output is not None:
        click.echo(f"wrote {written} request(s) to {output}", err=True)
    ctx.exit(code)


def _run(
    settings: Settings,
    requests: Iterable[dict[str, Any]],
    is_single: bool,
    is_from: bool,
    output: str | None,
    submit: str | None,
    fmt: str | None,
    options: dict[str, Any],
) -> tuple[int, int]:
    """(exit code, requests written): print the requests, or submit them."""
    from kino_catalog.regen.submit import submit_requests  # urllib loads only for Kino

    code = 0
    with atomic_output(output) as fh:
        if submit is None:
            written = _print_requests(requests, fh, is_single)
        else:
            batch = list(_tee(requests, fh))  # every edit is checked before anything is sent
            written = len(batch)
            # Frames from the catalogue are re-read there once regenerated in place.
            catalog = None if is_from else settings.catalog()
            with TaskDisplay(len(batch), report_format(fmt)) as display:
                run = catalog.submit if catalog is not None else submit_requests
                submission = run(batch, submit, on_update=display.update, **options)
            code = finish_batch(submission, display, submission.client.url, is_new=True)
    return code, written


def _print_requests(requests: Iterable[dict[str, Any]], fh: IO[str] | None, is_single: bool) -> int:
    pretty = is_single and is_terminal() and fh is None
    written = 0
    for request in requests:
        click.echo(_pretty(request) if pretty else dumps(request), file=fh)
        written += 1
    return written


def _report_not_sent(requests: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Say on stderr which keys a converted request leaves out (they are in source too)."""
    for request in requests:
        source = request.get("source", {})
        if source.get("not_sent"):
            click.echo(
                f"{source.get('sidecar')}: not sent to {request['type']}: "
                + ", ".join(source["not_sent"]),
                err=True,
            )
        for note in source.get("notes", ()):
            click.echo(f"{source.get('sidecar')}: {note}", err=True)
        yield request


def _tee(requests: Iterable[dict[str, Any]], fh: IO[str] | None) -> Iterator[dict[str, Any]]:
    for request in requests:
        if fh is not None:
            fh.write(dumps(request) + "\n")
        yield request


def _pretty(request: dict[str, Any]) -> str:
    import json

    return json.dumps(request, ensure_ascii=False, indent=2)
