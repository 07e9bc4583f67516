"""Submitting regeneration requests to a running Kino server (stdlib urllib, no new deps)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from kino_catalog.errors import KinoError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["TASKS_PATH", "SubmitError", "submit_requests"]

TASKS_PATH = "/api/v1/generator/tasks"


class SubmitError(KinoError):
    """Submitting failed; says what was submitted before, so nothing is silently lost."""

    def __init__(
        self, url: str, reason: str, submitted: list[Any], created_not_started: Any = None
    ) -> None:
        super().__init__(url, reason, submitted, created_not_started)
        self.url = url
        self.reason = reason
        self.submitted = submitted
        self.created_not_started = created_not_started

    def __str__(self) -> str:
        done = f"{len(self.submitted)} request(s) submitted before this"
        if self.submitted:
            shown = ", ".join(map(str, self.submitted[-10:]))
            done += f" (task ids {'..., ' if len(self.submitted) > 10 else ''}{shown})"
        if self.created_not_started is not None:
            done += f"; task {self.created_not_started} was created but not started"
        return f"submit to {self.url}: {self.reason}; {done}"


class _Failure(Exception):
    """One HTTP exchange failed; the message is the user-facing reason."""


def _post(url: str, body: Any, timeout_seconds: float) -> Any:
    # json, not orjson: seeds above 2**64-1 must reach the server exactly.
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    path = urllib.parse.urlsplit(url).path
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
            text = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip().replace("\n", " ")
        raise _Failure(
            f"HTTP {exc.code} {exc.reason} from POST {path}" + (f": {detail}" if detail else "")
        ) from exc
    except urllib.error.URLError as exc:
        raise _Failure(f"cannot reach the server ({exc.reason})") from exc
    except (OSError, ValueError) as exc:  # timeouts, resets, malformed responses
        raise _Failure(f"POST {path} failed ({exc})") from exc
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise _Failure(f"POST {path} answered with something other than JSON") from None


def _task_id(answer: Any) -> Any:
    """The created task's id: ``{"id"}``, ``{"task_id"}`` or one level down (task/data)."""
    if not isinstance(answer, dict):
        return None
    for key in ("id", "task_id"):
        if isinstance(answer.get(key), (int, str)) and not isinstance(answer.get(key), bool):
            return answer[key]
    for key in ("task", "data"):
        found = _task_id(answer.get(key))
        if found is not None:
            return found
    return None


def submit_requests(
    requests: Iterable[dict[str, Any]],
    url: str,
    *,
    timeout_seconds: float = 30.0,
    on_started: Callable[[Any], None] | None = None,
) -> list[Any]:
    """Create and start one Kino task per request; returns the task ids in order.

    ``on_started`` is told each task id as soon as its task is running, so a
    caller can show progress that survives a later failure.

    Raises:
        UsageError: ``url`` is not an http(s) URL.
        SubmitError: the server is unreachable or answered with an error.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--submit {url}: expected an http:// or https:// server URL")
    base = url.rstrip("/")
    submitted: list[Any] = []
    for request in requests:
        try:
            answer = _post(base + TASKS_PATH, request, timeout_seconds)
        except _Failure as exc:
            raise SubmitError(base, str(exc), submitted) from exc
        task_id = _task_id(answer)
        if task_id is None:
            raise SubmitError(base, f"POST {TASKS_PATH} returned no task id", submitted)
        quoted = urllib.parse.quote(str(task_id), safe="")
        try:
            _post(f"{base}{TASKS_PATH}/{quoted}/generate", {}, timeout_seconds)
        except _Failure as exc:
            raise SubmitError(base, str(exc), submitted, created_not_started=task_id) from exc
        submitted.append(task_id)
        if on_started is not None:
            on_started(task_id)
    return submitted
