"""regen --submit against a small Kino-like HTTP server on 127.0.0.1 run by the test."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from kino_catalog.regen.submit import SubmitError, submit_requests

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TASKS = "/api/v1/generator/tasks"


@dataclass
class FakeKino:
    """Records what it was sent; fails the Nth create or generate call when told to."""

    url: str = ""
    created: list[bytes] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    fail_create_at: int | None = None  # 1-based
    fail_generate_at: int | None = None


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def kino() -> Iterator[FakeKino]:
    state = FakeKino()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def reply(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers["Content-Type"] != "application/json":
                self.reply(415, {"error": "json only"})
            elif self.path == TASKS:
                if state.fail_create_at == len(state.created) + 1:
                    self.reply(500, {"error": "plugin sdxl is not loaded"})
                    return
                request = json.loads(body)
                if not {"name", "type", "data"} <= set(request):
                    self.reply(400, {"error": "bad task"})
                    return
                state.created.append(body)
                self.reply(201, {"id": 100 + len(state.created), "status": "pending"})
            elif self.path.startswith(TASKS + "/") and self.path.endswith("/generate"):
                if state.fail_generate_at == len(state.started) + 1:
                    self.reply(409, {"error": "busy"})
                    return
                state.started.append(self.path.split("/")[-2])
                self.reply(200, {"status": "running"})
            else:
                self.reply(404, {"error": "not found"})

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


@pytest.fixture
def synced(run_cli, example_library):
    assert run_cli("sync", str(example_library.root)).code == 0
    return example_library


def test_submit_creates_and_starts_every_task(run_cli, synced, kino):
    expected = run_cli("regen", "--query", "project:3").out.splitlines()
    result = run_cli("regen", "--query", "project:3", "--submit", kino.url)
    assert result.code == 0, result.err
    assert result.out.split() == [str(101 + i) for i in range(len(expected))]
    assert kino.started == result.out.split()
    assert f"submitted {len(expected)} task(s)" in result.err
    # the server got exactly the request regen prints, big seeds digit for digit
    assert [json.loads(b) for b in kino.created] == [json.loads(x) for x in expected]
    assert any(b"18446744073709551615" in body for body in kino.created)


def test_submit_single_frame_with_overrides_and_output(run_cli, synced, kino, tmp_path):
    out = tmp_path / "sent.jsonl"
    frame = str(synced.root / "project_7/project_7_frame_2_variant_0.json")
    result = run_cli(
        "regen", frame, "--set", "steps=12", "--submit", kino.url + "/", "-o", str(out)
    )
    assert result.code == 0, result.err
    assert result.out.split() == ["101"]
    sent = json.loads(kino.created[0])
    assert sent["data"]["parameters"]["steps"] == 12
    assert json.loads(out.read_text()) == sent


def test_http_error_reports_what_was_submitted(run_cli, synced, kino):
    kino.fail_create_at = 3
    result = run_cli("regen", "--query", "project:3", "--submit", kino.url)
    assert result.code == 1
    assert result.out.split() == ["101", "102"]  # printed as they were started
    err = result.err.strip()
    assert len(err.splitlines()) == 1
    assert "HTTP 500" in err
    assert "plugin sdxl is not loaded" in err
    assert "2 request(s) submitted before this (task ids 101, 102)" in err


def test_failed_generate_names_the_created_task(synced, kino, catalog_with_examples):
    kino.fail_generate_at = 2
    requests = list(catalog_with_examples.iter_regen("project:12"))
    with pytest.raises(SubmitError) as info:
        submit_requests(requests, kino.url)
    assert info.value.submitted == [101]
    assert info.value.created_not_started == 102
    assert "HTTP 409" in str(info.value)
    assert "task 102 was created but not started" in str(info.value)


def test_unreachable_server_is_one_line_exit_1(run_cli, synced):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_cli("regen", "1", "--submit", f"http://127.0.0.1:{port}")
    assert result.code == 1
    assert "cannot reach the server" in result.err
    assert "0 request(s) submitted" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_bad_submit_url_is_a_usage_error(run_cli, synced):
    result = run_cli("regen", "1", "--submit", "127.0.0.1:8000")
    assert result.code == 2
    assert "http://" in result.err


@pytest.fixture
def catalog_with_examples(db_path: Path, synced):
    from kino_catalog import Catalog

    with Catalog.open(db_path) as cat:
        yield cat
