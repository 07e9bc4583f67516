"""A stand-in for Kino's HTTP server, written from DESIGN.md §9 and Kino's backend code.

It answers as Kino's aiohttp handlers do (routes.py, handlers/generator.py,
models/task.py, services/generator_service.py, the frames and projects
handlers, the sdxl plugin's run):

- ``POST /api/v1/generator/tasks`` validates like Kino's pydantic model: a
  missing or empty ``name``/``type`` or a non-object ``data`` is 400
  ``{"error": "Validation error", "details": [...]}``; a name of blanks is a
  500 in plain text (Kino's validator error cannot be serialised); an
  unknown plugin is 400 ``{"error": "Bad request", "message": "Plugin type 'x'
  is not registered"}``; unknown keys are ignored; 201 with the task object.
- ``POST .../{id}/generate`` answers 200 at once (status ``running``) and the
  "plugin" runs in a thread: progress 5 -> 95 in steps, then ``completed``
  (100, ``result``) or ``failed`` with Kino's error text: a missing model
  checkpoint, a project Kino does not have (new frames only: frames are
  recorded in a project), or an in-place ``frame_id`` Kino does not have.
- A completed run writes a PNG and the sidecar Kino's
  ``save_generation_params`` writes: beside a new ``project_P_frame_N_variant_K.png``,
  or over the frame's own path for ``data.frame_id`` (``timestamp``
  "regenerated", ``frame_id``, no ``task_id``/``project_id``), with a plain
  (non-atomic) write as Kino does.
- ``GET /api/v1/frames?project_id=P`` lists frames without their variant
  (Kino's query does not select it: ``variant_id`` is always 0).
- Unknown routes are 404 in plain text (aiohttp's own answer).

Test controls: ``hold`` keeps running tasks from finishing, ``delay_seconds``
slows every answer of a route (``close()`` ends a delay: that request is
dropped unanswered, so no thread outlives its test), ``start_error`` makes
``/generate`` fail as Kino's handler does on an exception (500 with the
message), ``vanish()`` takes the server away.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

PNG_HEADER = b"\x89PNG\r\n\x1a\n"
TASKS = "/api/v1/generator/tasks"
MODELS_DIR = "/home/kino/backend/models_storage"


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()


class KinoDouble:
    """Kino's API on 127.0.0.1 (a free port), with its state open to the test."""

    def __init__(self, frames_dir: Path, *, plugins: tuple[str, ...] = ("sdxl", "wan22_i2v")):
        self.frames_dir = frames_dir
        self.plugins = set(plugins)
        self.models = {"sd_xl_base_1.0.safetensors"}
        self.projects: dict[int, dict[str, Any]] = {}
        self.frames: dict[int, dict[str, Any]] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self.run_seconds = 0.3  # how long one plugin run takes
        self.hold = threading.Event()  # set: running tasks do not finish until cleared
        self.delay_seconds: dict[str, float] = {}  # "GET /api/v1/generator/tasks/{id}" -> s
        self.start_error: str | None = None  # /generate answers 500 with this message
        self.lock = threading.RLock()
        self._runs: list[threading.Thread] = []
        self._closed = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._is_up = False

    # ------------------------------------------------------------ test controls
    def start(self) -> KinoDouble:
        self._thread.start()
        self._is_up = True
        return self

    def vanish(self) -> None:
        """Stop answering and close the port: new connections are refused."""
        if self._is_up:
            self._is_up = False
            self._server.shutdown()
            self._server.server_close()

    def close(self) -> None:
        self._closed.set()
        self.hold.clear()
        self.vanish()
        for run in self._runs:
            run.join(timeout=10)

    def add_project(self, project_id: int, name: str = "") -> None:
        now = _now()
        self.projects[project_id] = {
            "id": project_id,
            "name": name or f"Project {project_id}",
            "width": 1024,
            "height": 1024,
            "fps": 24,
            "created_at": now,
            "updated_at": now,
        }

    def add_frame(self, project_id: int, path: str | Path, frame_id: int | None = None) -> int:
        with self.lock:
            new_id = frame_id if frame_id is not None else max(self.frames, default=0) + 1
            now = _now()
            self.frames[new_id] = {
                "id": new_id,
                "path": str(path),
                "generator": "sdxl",
                "project_id": project_id,
                "variant_id": 0,
                "created_at": now,
                "updated_at": now,
            }
            return new_id

    def created_bodies(self) -> list[dict[str, Any]]:
        return [task["_body"] for task in sorted(self.tasks.values(), key=lambda t: t["id"])]

    def wait_finished(self, timeout_seconds: float = 30.0) -> None:
        """Wait until every run started so far has finished (AssertionError if one has not)."""
        deadline = time.monotonic() + timeout_seconds
        for run in self._runs:
            run.join(timeout=max(0.0, deadline - time.monotonic()))
            assert not run.is_alive(), f"a run still going after {timeout_seconds:g} s"

    # ------------------------------------------------------------ HTTP
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        kino = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Any, *, text: bool = False) -> None:
                data = body.encode() if text else json.dumps(body).encode()
                self.send_response(code)
                kind = "text/plain; charset=utf-8" if text else "application/json; charset=utf-8"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                path = urlsplit(self.path).path
                kino.calls.append((method, self.path))
                route = re.sub(r"/\d+(?=/|$)", "/{id}", path)
                delay = kino.delay_seconds.get(f"{method} {route}", 0.0)
                if delay and kino._closed.wait(delay):
                    self.close_connection = True
                    return  # closed meanwhile: no answer, and nothing done
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                answer = kino.answer(method, self.path, raw)
                if answer is None:
                    self._send(404, "404: Not Found", text=True)
                else:
                    code, body, is_text = answer
                    self._send(code, body, text=is_text)

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

        return Handler

    def answer(self, method: str, target: str, raw: bytes) -> tuple[int, Any, bool] | None:
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        with self.lock:
            if method == "GET" and (m := re.fullmatch(r"/api/v1/projects/([^/]+)", path)):
                return self._by_id(self.projects, m.group(1), "Project", "project")
            if method == "GET" and path == "/api/v1/generator/plugins":
                info = {name: {"name": name, "version": "1.0.0"} for name in sorted(self.plugins)}
                return 200, {"total": len(info), "plugins": info}, False
            if method == "GET" and path == "/api/v1/frames":
                return self._frames(query)
            if method == "GET" and (m := re.fullmatch(r"/api/v1/frames/([^/]+)", path)):
                return self._by_id(self.frames, m.group(1), "Frame", "frame")
            if method == "POST" and path == TASKS:
                return self._create(raw)
            if method == "GET" and (m := re.fullmatch(TASKS + r"/([^/]+)", path)):
                found = self._by_id(self.tasks, m.group(1), "Task", "task")
                return found[0], _public(found[1]), False
            if method == "POST" and (m := re.fullmatch(TASKS + r"/([^/]+)/generate", path)):
                return self._generate(m.group(1))
        return None

    @staticmethod
    def _by_id(
        table: dict[int, dict[str, Any]], text: str, kind: str, word: str
    ) -> tuple[int, Any, bool]:
        try:
            key = int(text)
        except ValueError:
            return 400, {"error": "Bad request", "message": f"Invalid {word} ID"}, False
        if key not in table:
            message = f"{kind} with id {key} not found"
            return 404, {"error": "Not found", "message": message}, False
        return 200, table[key], False

    def _frames(self, query: dict[str, list[str]]) -> tuple[int, Any, bool]:
        frames = list(self.frames.values())
        if query.get("project_id"):
            try:
                project_id = int(query["project_id"][0])
            except ValueError:
                message = "Invalid project_id parameter"
                return 400, {"error": "Bad request", "message": message}, False
            frames = [f for f in frames if f["project_id"] == project_id]
        return 200, {"total": len(frames), "frames": frames}, False

    def _create(self, raw: bytes) -> tuple[int, Any, bool]:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return 400, {"error": "Bad request", "message": str(exc)}, False
        if not isinstance(body, dict):
            return 500, {"error": "Internal server error", "message": "not a mapping"}, False
        details = []
        for key in ("name", "type"):
            value = body.get(key)
            if not isinstance(value, str):
                details.append({"type": "missing", "loc": [key], "msg": "Field required"})
            elif not value or len(value) > (255 if key == "name" else 100):
                details.append({"type": "string_too_short", "loc": [key], "msg": "bad length"})
        if "data" in body and not isinstance(body["data"], dict):
            msg = "Input should be a valid dictionary"
            details.append({"type": "dict_type", "loc": ["data"], "msg": msg})
        if details:
            return 400, {"error": "Validation error", "details": details}, False
        if not body["name"].strip() or not body["type"].strip():
            # Kino's validator raises ValueError, which its JSON answer cannot hold.
            return 500, "500 Internal Server Error\n\nServer got itself in trouble", True
        if body["type"].strip() not in self.plugins:
            message = f"Plugin type '{body['type'].strip()}' is not registered"
            return 400, {"error": "Bad request", "message": message}, False
        now = _now()
        task_id = max(self.tasks, default=0) + 1
        self.tasks[task_id] = {
            "id": task_id,
            "name": body["name"].strip(),
            "type": body["type"].strip(),
            "data": body.get("data", {}),
            "status": "pending",
            "progress": 0.0,
            "result": None,
            "error": None,
            "created_at": now,
            "updated_at": now,
            "started_at": None,
            "completed_at": None,
            "_body": body,
        }
        return 201, _public(self.tasks[task_id]), False

    def _generate(self, text: str) -> tuple[int, Any, bool]:
        code, task, _ = self._by_id(self.tasks, text, "Task", "task")
        if code != 200:
            return code, task, False
        if self.start_error is not None:
            return 500, {"error": "Internal server error", "message": self.start_error}, False
        if task["status"] != "pending":
            status = f"TaskStatus.{task['status'].upper()}"
            message = f"Task cannot be started (current status: {status})"
            return 400, {"error": "Bad request", "message": message}, False
        task.update(status="running", progress=0.0, started_at=_now(), updated_at=_now())
        run = threading.Thread(target=self._run, args=(task,), daemon=True)
        self._runs.append(run)
        run.start()
        return 200, {"message": "Generation started", "task_id": task["id"]}, False

    # ------------------------------------------------------------ the "plugin"
    def _run(self, task: dict[str, Any]) -> None:
        try:
            result = self._generate_frames(task)
        except _Failed as exc:
            self._update(task, status="failed", error=str(exc), completed_at=_now())
            return
        self._update(task, status="completed", progress=100.0, result=result, completed_at=_now())

    def _update(self, task: dict[str, Any], **changes: Any) -> None:
        with self.lock:
            task.update(changes, updated_at=_now())

    def _generate_frames(self, task: dict[str, Any]) -> dict[str, Any]:
        data = task["data"]
        params = data.get("parameters", {})
        if not params.get("prompt"):
            raise _Failed("Parameter 'prompt' is required")
        model = params.get("model_name")
        if not model:
            raise _Failed("Parameter 'model_name' is required")
        self._update(task, progress=5.0)
        if model not in self.models:
            raise _Failed(f"Model checkpoint not found: {MODELS_DIR}/StableDiffusion/{model}")
        steps = 4
        for step in range(1, steps + 1):
            time.sleep(self.run_seconds / steps)
            while self.hold.is_set() and self._is_up:
                time.sleep(0.02)
            self._update(task, progress=5.0 + 90.0 * step / steps)
        project_id = data.get("project_id")
        frame_id = data.get("frame_id")
        if frame_id:
            frame = self.frames.get(frame_id)
            if frame is None:
                raise _Failed(
                    "Failed to generate variant 1: Variant generation error: "
                    "'NoneType' object has no attribute 'path'"
                )
            self._write(Path(frame["path"]), task, params, in_place_of=frame_id)
            return {"generated_frames": [frame_id], "num_variants": 1, "project_id": project_id}
        if project_id not in self.projects:
            raise _Failed(
                "Failed to generate variant 1: Variant generation error: "
                f"Project with id {project_id} does not exist"
            )
        base = self.add_frame(project_id, "temp.png")
        path = self.frames_dir / f"project_{project_id}_frame_{base}_variant_0.png"
        self.frames[base]["path"] = str(path)
        self._write(path, task, params, project_id=project_id)
        return {"generated_frames": [base], "num_variants": 1, "project_id": project_id}

    def _write(
        self,
        image: Path,
        task: dict[str, Any],
        params: dict[str, Any],
        *,
        project_id: int | None = None,
        in_place_of: int | None = None,
    ) -> None:
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(PNG_HEADER + f"task {task['id']}".encode())
        saved = {k: v for k, v in params.items() if k != "project_id"}
        doc: dict[str, Any] = {
            "plugin": task["type"],
            "plugin_version": "1.0.0",
            "parameters": saved,
            "output": {"filename": image.name, "path": str(image)},
        }
        if in_place_of is not None:
            doc.update(frame_id=in_place_of, timestamp="regenerated")
        else:
            doc.update(timestamp=None, task_id=0, project_id=project_id)
        with open(image.with_suffix(".json"), "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, ensure_ascii=False)


class _Failed(Exception):
    """The plugin run failed; the message is the task's ``error``."""


def _public(task: Any) -> Any:
    if isinstance(task, dict) and "_body" in task:
        return {k: v for k, v in task.items() if not k.startswith("_")}
    return task
