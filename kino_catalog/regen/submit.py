"""Running regeneration requests on Kino: check, create, start, and wait for the outcome.

Kino's ``/generate`` answers 200 at once and runs the plugin in the
background, so a task's outcome is only known by asking for the task until
it is ``completed`` or ``failed`` (DESIGN.md §9).  A batch is checked before
anything is created (Kino has the plugins and the projects, and with
``in_place`` every frame's Kino id is known), then sent one task at a time;
when waiting, the next task is created only once the previous one finished,
as Kino's own UI does, so a failure can stop the batch before it spends more
GPU time.  Waiting never cancels anything: a timeout, Ctrl-C or a lost
connection leaves Kino's tasks running and says so.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from kino_catalog.errors import KinoServerError, KinoUnreachableError, SubmitError, UsageError
from kino_catalog.regen.inplace import InPlaceError, kino_frame_id
from kino_catalog.regen.kino_api import KinoClient
from kino_catalog.regen.requests import TASK_NAME_MAX_CHARS, task_name
from kino_catalog.regen.tasks import (
    NOT_SENT,
    NOT_STARTED,
    REJECTED,
    STARTED,
    UNKNOWN,
    TaskBatch,
    TaskResult,
    poll_task,
)
from kino_catalog.sidecar.record import is_json_int

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterable

__all__ = ["RunOptions", "Submission", "submit_requests", "task_body"]


class RunOptions(TypedDict, total=False):
    """The keyword arguments of :meth:`Submission.run`, for the functions that pass them on."""

    wait: bool
    keep_going: bool
    timeout_seconds: float | None
    poll_seconds: float
    on_update: Callable[[TaskResult], None] | None
    stop: threading.Event | None


def _project_id(request: dict[str, Any]) -> int | None:
    data = request.get("data")
    value = data.get("project_id") if isinstance(data, dict) else None
    return value if is_json_int(value) else None


def task_body(
    request: dict[str, Any], project_id: int, kino_frame_id: int | None = None
) -> dict[str, Any]:
    """The body Kino's UI would send for ``request`` (a copy; the request is left alone).

    ``data.parameters.project_id`` repeats ``data.project_id`` as the UI does;
    ``data.frame_id`` makes the run overwrite that frame; the name is never
    blank (Kino answers 500 for one) nor longer than Kino takes.
    """
    body = copy.deepcopy(request)
    data = body["data"]
    data["parameters"]["project_id"] = project_id  # never a stale copy of another project
    data["project_id"] = project_id
    source = body.get("source")
    sidecar = source.get("sidecar") if isinstance(source, dict) else None
    if kino_frame_id is not None:
        data["frame_id"] = kino_frame_id
        body["name"] = task_name(None, body["type"], project_id, kino_frame_id)
    elif (
        not isinstance(body.get("name"), str)
        or not body["name"].strip()
        or _project_id(request) != project_id  # filed elsewhere: the name says where
    ):
        body["name"] = task_name(
            sidecar if isinstance(sidecar, str) else None, body["type"], project_id
        )
    body["name"] = body["name"][:TASK_NAME_MAX_CHARS]
    return body


def _nothing(_result: TaskResult) -> None:
    pass


class Submission(TaskBatch):
    """One batch of requests for one Kino server; ``results`` has one entry per request.

    ``check()`` raises before anything is created; ``run()`` never raises for
    what Kino did: each result says it, and ``stopped`` says why the batch
    ended early (``interrupted`` when Ctrl-C ended it).
    """

    def __init__(
        self,
        requests: Iterable[dict[str, Any]],
        kino: KinoClient | str,
        *,
        in_place: bool = False,
        project_id: int | None = None,
    ) -> None:
        """``project_id`` files every new frame in that Kino project instead of the request's.

        Raises:
            UsageError: ``kino`` is not an http(s) URL, or ``project_id`` with ``in_place``
                (a frame is regenerated in its own project).
        """
        if project_id is not None and in_place:
            raise UsageError("an in-place run keeps each frame's own project: drop the project")
        super().__init__([TaskResult(i, request) for i, request in enumerate(requests)])
        self.client = kino if isinstance(kino, KinoClient) else KinoClient(kino)
        self.in_place = in_place
        self.project_id = project_id
        self._is_checked = False

    def _project_of(self, result: TaskResult) -> int | None:
        return self.project_id if self.project_id is not None else _project_id(result.request)

    def is_good(self, result: TaskResult) -> bool:
        """Completed when waited for, else started."""
        return result.status == ("completed" if self.waited else STARTED)

    # ------------------------------------------------------------ checks
    def check(self) -> None:
        """Check the batch against Kino and build the task bodies; creates nothing.

        Raises:
            SubmitError: a request has no project, Kino lacks a plugin or a
                project, an in-place frame's Kino id cannot be established,
                or Kino could not be asked.
        """
        try:
            problems = self._problems()
        except KinoServerError as exc:
            raise SubmitError(self.client.url, [exc.reason]) from exc
        if problems:
            raise SubmitError(self.client.url, problems)
        for result in self.results:
            project = self._project_of(result)
            assert project is not None  # else _problems() would have said so
            result.body = task_body(result.request, project, result.kino_frame_id)
        self._is_checked = True

    def _problems(self) -> list[str]:
        problems: list[str] = []
        by_project: dict[int, list[TaskResult]] = {}
        for result in self.results:
            project = self._project_of(result)
            data = result.request.get("data")
            if project is None:
                problems.append(
                    f"{result.label}: no project_id (Kino files every frame in one: "
                    "choose one with --project)"
                )
            elif not self.in_place and isinstance(data, dict) and "frame_id" in data:
                problems.append(
                    f"{result.label}: data.frame_id would overwrite Kino frame "
                    f"{data['frame_id']}: ask for an in-place run (--in-place) or remove it"
                )
            else:
                by_project.setdefault(project, []).append(result)
        plugins = self.client.plugin_names()
        if plugins is not None:
            for name in sorted({str(r.request.get("type")) for r in self.results} - plugins):
                loaded = ", ".join(sorted(plugins)) or "none"
                problems.append(f"Kino has no plugin {name!r} loaded (it has: {loaded})")
        for project, results in sorted(by_project.items()):
            if self.client.get_project(project) is None:
                problems.append(f"Kino has no project {project} (GET /api/v1/projects/{project})")
            elif self.in_place:
                frames = self.client.project_frames(project)
                for result in results:
                    try:
                        result.kino_frame_id = kino_frame_id(result.request, project, frames)
                    except InPlaceError as exc:
                        problems.append(f"{result.label}: cannot regenerate in place: {exc}")
        return problems

    # ------------------------------------------------------------ running
    def run(
        self,
        *,
        wait: bool = False,
        keep_going: bool = False,
        timeout_seconds: float | None = None,
        poll_seconds: float = 2.0,
        on_update: Callable[[TaskResult], None] | None = None,
        stop: threading.Event | None = None,
    ) -> list[TaskResult]:
        """Create and start each task in order; with ``wait``, see each finish before the next.

        ``timeout_seconds`` bounds the wait for one task (and every HTTP
        exchange); a task still running then is reported so, not cancelled.
        Without ``keep_going`` the batch stops at the first task that did
        not complete (or, without ``wait``, start); a lost connection stops
        it anyway.  ``on_update`` hears every change; ``stop`` ends the
        waiting from another thread; Ctrl-C ends the batch (``interrupted``).

        Raises:
            SubmitError: the batch was not checked yet and fails its checks.
        """
        if not self._is_checked:
            self.check()
        self.waited = wait
        notify = on_update or _nothing
        if timeout_seconds is not None:
            self.client.timeout_seconds = min(self.client.timeout_seconds, timeout_seconds)
        current: TaskResult | None = None
        try:
            for current in self.results:
                if self.stopped is not None:
                    break
                self._start(current, notify)
                if wait and current.status == STARTED:
                    current.status = "running"  # what Kino set before it answered /generate
                    ended = poll_task(
                        self.client, current, timeout_seconds, poll_seconds, notify, stop
                    )
                    if ended is not None and (ended.is_fatal or not keep_going):
                        self.stopped = ended.reason
                if self.stopped is None and not keep_going and not self.is_good(current):
                    which = f"task {current.task_id}" if current.task_id else "a request"
                    self.stopped = f"{which} {current.status}: {current.label}"
                current.is_settled = True
                notify(current)
        except KeyboardInterrupt:
            self.mark_interrupted(current, notify)
        return self.results

    def _start(self, result: TaskResult, notify: Callable[[TaskResult], None]) -> None:
        assert result.body is not None
        try:
            task = self.client.create_task(result.body)
        except KinoUnreachableError as exc:
            # Refused: it never arrived.  Otherwise Kino may have created it.
            result.status = NOT_SENT if exc.is_refused else UNKNOWN
            result.error = exc.reason
            self.stopped = f"lost contact with Kino ({exc.reason})"
            return
        except KinoServerError as exc:
            result.status, result.error = REJECTED, exc.reason
            return
        result.task_id = int(task["id"])
        result.take(task)
        notify(result)
        try:
            self.client.start_task(result.task_id)
        except KinoUnreachableError as exc:
            result.status, result.error = UNKNOWN, exc.reason
            self.stopped = f"lost contact with Kino ({exc.reason})"
            return
        except KinoServerError as exc:
            result.status, result.error = NOT_STARTED, exc.reason
            return
        result.status = STARTED
        notify(result)


def submit_requests(
    requests: Iterable[dict[str, Any]],
    kino: KinoClient | str,
    *,
    in_place: bool = False,
    project_id: int | None = None,
    **options: Unpack[RunOptions],
) -> Submission:
    """Check the batch, then run it (see :class:`Submission`); returns the finished Submission.

    Raises:
        UsageError: ``kino`` is not an http(s) URL (or see :class:`Submission`).
        SubmitError: the checks failed; nothing was created.
    """
    submission = Submission(requests, kino, in_place=in_place, project_id=project_id)
    submission.check()
    submission.run(**options)
    return submission
