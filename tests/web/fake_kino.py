"""A small Kino-like HTTP server on 127.0.0.1 for tests that send requests to Kino."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

TASKS = "/api/v1/generator/tasks"


@dataclass
class FakeKino:
    """Records the task bodies it was sent and the task ids it was asked to start."""

    url: str = ""
    created: list[Any] = field(default_factory=list)
    started: list[str] = field(default_factory=list)


@pytest.fixture(name="fake_kino")
def fake_kino_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKino]:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    state = FakeKino()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == TASKS:
                state.created.append(json.loads(body))
                answer: Any = {"id": len(state.created), "status": "pending"}
                code = 201
            elif self.path.startswith(TASKS + "/") and self.path.endswith("/generate"):
                state.started.append(self.path.split("/")[-2])
                answer, code = {"message": "Generation started"}, 200
            else:
                answer, code = {"error": "not_found", "message": self.path}, 404
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
