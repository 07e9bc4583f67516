"""A small client for the parts of Kino's HTTP API that regeneration uses (DESIGN.md §9).

The standard library's urllib is enough: one short JSON exchange at a time,
no sessions, no streaming.  ``json`` (not orjson) encodes and decodes the
bodies, because seeds above 2**64-1 must reach Kino and come back exactly.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from kino_catalog.errors import KinoServerError, KinoUnreachableError, UsageError
from kino_catalog.sidecar.record import is_json_int

__all__ = ["TASKS_PATH", "KinoClient"]

TASKS_PATH = "/api/v1/generator/tasks"
_DETAIL_CHARS = 300


def _error_text(body: bytes) -> str:
    """Kino's own words from an error body: ``message``, else validation ``details``."""
    try:
        value = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace")
        return " ".join(text.split())[:_DETAIL_CHARS]
    if not isinstance(value, dict):
        return str(value)[:_DETAIL_CHARS]
    parts = [str(value["error"])] if value.get("error") else []
    if value.get("message"):
        parts.append(str(value["message"]))
    details = value.get("details")
    if isinstance(details, list):  # pydantic: [{"loc": ["name"], "msg": "..."}]
        for item in details[:3]:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc") or ())
                parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
    return ": ".join(parts)[:_DETAIL_CHARS]


class KinoClient:
    """Kino's projects, plugins, frames and generator tasks, over HTTP.

    Every method raises :class:`KinoUnreachableError` when there is no
    answer and :class:`KinoServerError` for an unexpected HTTP error.
    """

    def __init__(self, url: str, *, timeout_seconds: float = 30.0) -> None:
        """Raises: UsageError: ``url`` is not an http(s) URL."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"{url}: expected an http:// or https:// Kino server URL")
        self.url = url.rstrip("/")
        self.timeout_seconds = timeout_seconds

    # ------------------------------------------------------------ transport
    def _exchange(
        self, method: str, path: str, body: Any, timeout_seconds: float | None
    ) -> _Answer:
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        timeout = self.timeout_seconds if timeout_seconds is None else timeout_seconds
        where = f"{method} {path}"
        try:
            with urllib.request.urlopen(request, timeout=max(timeout, 0.05)) as response:
                return _Answer(response.status, self._decode(where, response.read()), None)
        except urllib.error.HTTPError as exc:
            with exc:
                return _Answer(exc.code, None, _error_text(exc.read(64 * 1024)))
        except urllib.error.URLError as exc:
            raise KinoUnreachableError(
                self.url,
                f"{where}: cannot connect ({exc.reason})",
                is_timeout=isinstance(exc.reason, TimeoutError),
                is_refused=isinstance(exc.reason, ConnectionRefusedError),
            ) from exc
        except TimeoutError as exc:
            raise KinoUnreachableError(
                self.url, f"{where}: no answer within {timeout:g} s", is_timeout=True
            ) from exc
        except (OSError, ValueError) as exc:  # reset, closed mid-answer, bad status line
            reason = str(exc) or type(exc).__name__
            raise KinoUnreachableError(self.url, f"{where}: {reason}") from exc

    def _decode(self, where: str, text: bytes) -> Any:
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise KinoServerError(
                self.url, f"{where} answered with something other than JSON"
            ) from None

    def _expect(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        ok: tuple[int, ...] = (200,),
        timeout_seconds: float | None = None,
    ) -> _Answer:
        """The answer, if its status is one of ``ok`` (an error answer has value None).

        Raises:
            KinoServerError: another HTTP status; the message has Kino's own words.
            KinoUnreachableError: no answer.
        """
        answer = self._exchange(method, path, body, timeout_seconds)
        if answer.status not in ok and answer.error is not None:
            raise KinoServerError(
                self.url, f"{method} {path}: HTTP {answer.status}: {answer.error}", answer.status
            )
        return answer

    # ------------------------------------------------------------ API
    def get_project(self, project_id: int) -> dict[str, Any] | None:
        """Kino's project ``project_id``, or None when Kino has none by that id."""
        answer = self._expect("GET", f"/api/v1/projects/{project_id}", ok=(200, 404))
        return answer.value if isinstance(answer.value, dict) else None

    def plugin_names(self) -> set[str] | None:
        """Types of the plugins Kino has loaded; None when it does not list them."""
        answer = self._exchange("GET", "/api/v1/generator/plugins", None, None)
        plugins = answer.value.get("plugins") if isinstance(answer.value, dict) else None
        if isinstance(plugins, dict):  # {"sdxl": {...info...}}, as Kino answers
            return {str(name) for name in plugins}
        if isinstance(plugins, list):  # [{"name": "sdxl", ...}]
            return {str(p["name"]) for p in plugins if isinstance(p, dict) and "name" in p}
        return None

    def project_frames(self, project_id: int) -> list[dict[str, Any]]:
        """Kino's frames of one project (``id``, ``path``, ...)."""
        path = f"/api/v1/frames?project_id={project_id}"
        answer = self._expect("GET", path)
        frames = answer.value.get("frames") if isinstance(answer.value, dict) else None
        if not isinstance(frames, list):
            raise KinoServerError(self.url, f"GET {path} answered without a frame list")
        return [f for f in frames if isinstance(f, dict) and is_json_int(f.get("id"))]

    def create_task(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST the task body; returns Kino's task object (with its integer ``id``)."""
        task = self._expect("POST", TASKS_PATH, body, ok=(200, 201)).value
        if not isinstance(task, dict) or not is_json_int(task.get("id")):
            raise KinoServerError(self.url, f"POST {TASKS_PATH} returned no task id")
        return task

    def start_task(self, task_id: int) -> None:
        """Start a created task; Kino answers at once and runs the plugin in the background."""
        self._expect("POST", f"{TASKS_PATH}/{task_id}/generate")

    def get_task(
        self, task_id: int, *, timeout_seconds: float | None = None
    ) -> dict[str, Any] | None:
        """Kino's task object (``status``, ``progress``, ``error``...), None if it has none."""
        answer = self._expect(
            "GET", f"{TASKS_PATH}/{task_id}", ok=(200, 404), timeout_seconds=timeout_seconds
        )
        return answer.value if isinstance(answer.value, dict) else None


@dataclass(frozen=True)
class _Answer:
    status: int
    value: Any  # the decoded JSON body; None for an empty or an error answer
    error: str | None  # Kino's words for a 4xx/5xx answer
