"""Following Kino tasks: what became of each, and waiting until they finish.

Kino's ``/generate`` answers at once and runs the plugin in the background,
so a task's outcome is only known by asking for the task until its status
is ``completed`` or ``failed`` (or ``stopped``).  Waiting never cancels
anything: a timeout, Ctrl-C or a lost connection leaves Kino's tasks running
and the results say so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kino_catalog.errors import KinoServerError, KinoUnreachableError
from kino_catalog.regen.kino_api import KinoClient

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterable

__all__ = [
    "FINISHED",
    "FIRST_POLL_SECONDS",
    "NOT_SENT",
    "NOT_STARTED",
    "REJECTED",
    "STARTED",
    "UNKNOWN",
    "TaskBatch",
    "TaskResult",
    "WaitEnd",
    "follow_tasks",
    "poll_task",
]

# Our statuses, for what Kino's own (pending, running, completed, failed, stopped) cannot say.
NOT_SENT = "not sent"  # never reached Kino
REJECTED = "rejected"  # Kino refused to create it (its error says why)
NOT_STARTED = "not started"  # created, but /generate failed
STARTED = "started"  # started and not waited for
UNKNOWN = "unknown"  # Kino has no such task, or contact was lost
FINISHED = frozenset({"completed", "failed", "stopped"})

#: The first pause between two looks at a task; it grows to ``poll_seconds``.
FIRST_POLL_SECONDS = 0.2


@dataclass
class TaskResult:
    """What became of one request (or one task id): Kino's view plus ours."""

    index: int
    request: dict[str, Any] = field(repr=False)
    body: dict[str, Any] | None = field(default=None, repr=False)
    task_id: int | None = None
    status: str = NOT_SENT
    progress: float | None = None
    error: str | None = None  # Kino's error text, or why it never ran
    note: str | None = None  # why we stopped looking: timeout, interrupted, lost contact
    kino_frame_id: int | None = None  # the frame an in-place run overwrites
    result: Any = None  # Kino's task result (e.g. generated_frames)
    is_settled: bool = False  # the batch has moved past it: its line can be shown

    @property
    def label(self) -> str:
        """The sidecar it came from, else the task name."""
        source = self.request.get("source")
        if isinstance(source, dict) and isinstance(source.get("sidecar"), str):
            return str(source["sidecar"])
        return str((self.body or self.request).get("name") or "")

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    def detail(self) -> str:
        """The error and the note, as one line."""
        text = "; ".join(part for part in (self.error, self.note) if part)
        return " ".join(text.split())

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "task_id": self.task_id,
            "status": self.status,
            "progress": self.progress,
            "error": self.error,
            "note": self.note,
            "kino_frame_id": self.kino_frame_id,
            "source": self.label,
            "result": self.result,
        }

    def take(self, task: dict[str, Any]) -> bool:
        """Copy Kino's task state in; tell whether anything shown changed."""
        before = (self.status, self.progress, self.error)
        if isinstance(task.get("status"), str):
            self.status = task["status"]
        progress = task.get("progress")
        if isinstance(progress, (int, float)) and not isinstance(progress, bool):
            self.progress = float(progress)
        if isinstance(task.get("error"), str) and task["error"]:
            self.error = task["error"]
        if task.get("result") is not None:
            self.result = task["result"]
        return before != (self.status, self.progress, self.error)


@dataclass(frozen=True)
class WaitEnd:
    """Why waiting for a task ended before it finished.

    A timeout concerns that task only (``--keep-going`` goes on to the
    next); a lost connection, a stop request or an unknown task end the batch.
    """

    reason: str
    is_fatal: bool = True


class TaskBatch:
    """Results in order, plus why the batch ended early (``stopped``), if it did."""

    def __init__(self, results: list[TaskResult]) -> None:
        self.results = results
        self.stopped: str | None = None
        self.interrupted = False  # Ctrl-C ended the waiting
        self.waited = False

    def is_good(self, result: TaskResult) -> bool:
        """Completed when waited for; else Kino has it and it has not gone wrong."""
        if self.waited:
            return result.status == "completed"
        return result.status in ("pending", "running", "completed")

    @property
    def is_ok(self) -> bool:
        return not self.interrupted and all(self.is_good(r) for r in self.results)

    def counts(self) -> dict[str, int]:
        """How many results have each status, in order of first appearance."""
        found: dict[str, int] = {}
        for result in self.results:
            found[result.status] = found.get(result.status, 0) + 1
        return found

    def mark_interrupted(
        self, current: TaskResult | None, notify: Callable[[TaskResult], None]
    ) -> None:
        """Ctrl-C ended the batch while ``current`` was under way; nothing was cancelled."""
        self.interrupted = True
        self.stopped = "interrupted"
        if current is not None and not current.is_settled:
            if current.status == NOT_SENT:  # Ctrl-C during the POST: it may exist now
                current.status = UNKNOWN
            current.note = "interrupted: nothing was cancelled"
            current.is_settled = True
            notify(current)


def _nothing(_result: TaskResult) -> None:
    pass


def poll_task(
    client: KinoClient,
    result: TaskResult,
    timeout_seconds: float | None = None,
    poll_seconds: float = 2.0,
    on_update: Callable[[TaskResult], None] = _nothing,
    stop: threading.Event | None = None,
) -> WaitEnd | None:
    """Ask Kino for the task until it finishes; None then, else why the waiting ended.

    A slow answer is waited for (Kino runs its plugins in-process and can be
    busy) until ``timeout_seconds``; a refused or broken connection ends it.
    """
    assert result.task_id is not None
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds

    def left() -> float | None:
        return None if deadline is None else deadline - time.monotonic()

    pause = min(FIRST_POLL_SECONDS, poll_seconds)
    while True:
        try:
            task = client.get_task(result.task_id, timeout_seconds=left())
        except KinoUnreachableError as exc:
            if not exc.is_timeout:
                result.note = f"lost contact with Kino while the task was {result.status}"
                result.status = UNKNOWN
                return WaitEnd(f"lost contact with Kino ({exc.reason})")
            task = {}  # busy: look again, within the deadline
        except KinoServerError as exc:
            result.status, result.note = UNKNOWN, f"Kino cannot say ({exc.reason})"
            return WaitEnd(f"Kino answered with an error ({exc.reason})")
        if task is None:
            result.status, result.error = UNKNOWN, f"Kino has no task {result.task_id}"
            return WaitEnd(f"Kino has no task {result.task_id}")
        if task and result.take(task):
            on_update(result)
        if result.is_finished:
            return None
        remaining = left()
        if remaining is not None and remaining <= 0:
            result.note = f"still {result.status} after {timeout_seconds:g} s; not cancelled"
            return WaitEnd(f"timed out waiting for task {result.task_id}", is_fatal=False)
        pause_now = pause if remaining is None else min(pause, remaining)
        if stop is not None and stop.wait(pause_now):
            result.note = "stopped waiting; not cancelled"
            return WaitEnd("stopped waiting")
        if stop is None:
            time.sleep(pause_now)
        pause = min(pause * 1.5, poll_seconds)


def follow_tasks(
    kino: KinoClient | str,
    task_ids: Iterable[int],
    *,
    wait: bool = False,
    timeout_seconds: float | None = None,
    poll_seconds: float = 2.0,
    on_update: Callable[[TaskResult], None] | None = None,
    stop: threading.Event | None = None,
) -> TaskBatch:
    """Kino's status of each task (``unknown``, with an error, when Kino has none).

    With ``wait``, each unfinished task is then waited for in turn
    (``timeout_seconds`` each); the waiting ends at the first timeout, lost
    connection or Ctrl-C (``interrupted``), and nothing is cancelled.

    Raises:
        UsageError: ``kino`` is not an http(s) URL.
        KinoServerError: Kino could not be asked.
    """
    client = kino if isinstance(kino, KinoClient) else KinoClient(kino)
    notify = on_update or _nothing
    batch = TaskBatch([TaskResult(i, {}, task_id=task_id) for i, task_id in enumerate(task_ids)])
    batch.waited = wait
    for result in batch.results:
        assert result.task_id is not None
        task = client.get_task(result.task_id)
        if task is None:
            result.status, result.error = UNKNOWN, f"Kino has no task {result.task_id}"
        else:
            result.body = task
            result.take(task)
    current = None
    try:
        for current in batch.results:
            if wait and batch.stopped is None and current.status != UNKNOWN:
                if not current.is_finished:
                    notify(current)
                    ended = poll_task(client, current, timeout_seconds, poll_seconds, notify, stop)
                    batch.stopped = ended.reason if ended is not None else None
            current.is_settled = True
            notify(current)
    except KeyboardInterrupt:
        batch.mark_interrupted(current, notify)
    return batch
