"""Waiting on Kino (the double): timeouts, a server that goes away, Ctrl-C, `tasks`, progress."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from kino_catalog.regen.submit import submit_requests
from kino_catalog.regen.tasks import NOT_SENT, UNKNOWN
from tests.kino_double import TASKS

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.factories import Library
    from tests.kino_double import KinoDouble


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the double never got there"
        time.sleep(0.01)


def is_running(kino: KinoDouble, task_id: int = 1) -> bool:
    return kino.tasks.get(task_id, {}).get("status") == "running"


@pytest.fixture
def three(library: Library, kino: KinoDouble, run_cli: Any) -> Library:
    kino.add_project(12)
    for frame in (1, 2, 3):
        library.frame(12, frame)
    assert run_cli("sync", str(library.root)).code == 0
    return library


BATCH = ("regen", "--query", "project:12", "--format", "jsonl")
# --timeout also bounds every HTTP exchange of the batch (the create and the start of
# each task): a fraction of a second is no bound for a busy machine's loopback.
TIMEOUT = "2"


# ---------------------------------------------------------------- timeouts
def test_a_task_still_running_at_the_timeout_is_left_running(run_cli, three, kino):
    kino.hold.set()
    result = run_cli(*BATCH, "--submit", kino.url, "--wait", "--timeout", TIMEOUT)
    assert result.code == 1
    first, second, third = lines(result.out)
    assert (first["task_id"], first["status"]) == (1, "running")
    assert first["note"] == f"still running after {TIMEOUT} s; not cancelled"
    assert second["status"] == third["status"] == NOT_SENT
    assert "stopped: timed out waiting for task 1" in result.err
    assert f"check them with: kino-catalog tasks --url {kino.url} 1" in result.err
    assert is_running(kino)  # nothing was cancelled ...
    assert not any(path.endswith("/stop") for _, path in kino.calls)  # ... or asked to stop


def test_keep_going_past_a_timeout(run_cli, three, kino):
    kino.hold.set()
    result = run_cli(*BATCH, "--submit", kino.url, "--wait", "--timeout", TIMEOUT, "--keep-going")
    assert result.code == 1
    assert [(r["task_id"], r["status"]) for r in lines(result.out)] == [
        (1, "running"),
        (2, "running"),
        (3, "running"),
    ]


def test_a_slow_server_is_given_up_on_at_the_timeout(run_cli, three, kino):
    kino.delay_seconds["GET /api/v1/generator/tasks/{id}"] = 60.0  # ends with the test
    result = run_cli(*BATCH, "--submit", kino.url, "--wait", "--timeout", TIMEOUT)
    assert result.code == 1
    first = lines(result.out)[0]
    assert first["task_id"] == 1
    assert first["note"].startswith(f"still running after {TIMEOUT} s")


def test_a_create_without_answer_is_unknown_not_lost(run_cli, three, kino):
    kino.delay_seconds["POST /api/v1/generator/tasks"] = 60.0  # ends with the test
    result = run_cli(*BATCH, "--submit", kino.url, "--wait", "--timeout", "0.5")
    assert result.code == 1
    first = lines(result.out)[0]
    assert first["status"] == UNKNOWN  # Kino may have created it: say so
    assert "no answer within 0.5 s" in first["error"]
    assert "stopped: lost contact with Kino" in result.err


# ---------------------------------------------------------------- a server that goes away
def test_server_disappears_while_a_task_runs(run_cli, three, kino):
    kino.hold.set()
    threading.Thread(target=lambda: (until(lambda: is_running(kino)), kino.vanish())).start()
    result = run_cli(*BATCH, "--submit", kino.url, "--wait")
    assert result.code == 1
    assert [(r["task_id"], r["status"]) for r in lines(result.out)] == [
        (1, UNKNOWN),
        (None, NOT_SENT),
        (None, NOT_SENT),
    ]
    assert lines(result.out)[0]["note"] == "lost contact with Kino while the task was running"
    assert "stopped: lost contact with Kino" in result.err
    assert f"kino-catalog tasks --url {kino.url} 1" in result.err


def test_server_disappears_between_tasks(three, kino, catalog):
    def vanish_after_first(result: Any) -> None:
        if result.index == 0 and result.is_settled:
            kino.vanish()

    submission = submit_requests(
        catalog.iter_regen("project:12"), kino.url, wait=True, on_update=vanish_after_first
    )
    first, second, third = submission.results
    assert first.status == "completed"
    assert second.status == NOT_SENT  # refused: it never reached Kino
    assert "Connection refused" in second.error
    assert third.status == NOT_SENT
    assert submission.stopped.startswith("lost contact with Kino")
    assert not submission.is_ok


# ---------------------------------------------------------------- Ctrl-C
def _cli(db: Path, *args: str, **popen: Any) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k != "CI"}
    return subprocess.Popen(
        [sys.executable, "-m", "kino_catalog", "--db", str(db), *args], env=env, **popen
    )


def test_ctrl_c_stops_waiting_and_cancels_nothing(three, kino, db_path):
    kino.hold.set()
    proc = _cli(
        db_path,
        *BATCH,
        "--submit",
        kino.url,
        "--wait",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Running in the double is not yet waiting in the CLI (/generate's answer may
        # still be on its way): interrupt once the CLI has polled the task twice.
        until(lambda: kino.calls.count(("GET", f"{TASKS}/1")) >= 2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    first, second, third = lines(out.decode())
    assert (first["task_id"], first["status"]) == (1, "running")
    assert first["note"] == "interrupted: nothing was cancelled"
    assert second["status"] == third["status"] == NOT_SENT
    assert b"Traceback" not in err
    assert b"stopped: interrupted" in err
    assert is_running(kino)
    assert len(kino.tasks) == 1
    assert not any(path.endswith("/stop") for _, path in kino.calls)


def test_a_stop_event_ends_the_waiting_from_another_thread(three, kino, catalog):
    kino.hold.set()
    stop = threading.Event()
    threading.Thread(target=lambda: (until(lambda: is_running(kino)), stop.set())).start()
    submission = submit_requests(catalog.iter_regen("project:12"), kino.url, wait=True, stop=stop)
    assert submission.stopped == "stopped waiting"
    assert submission.results[0].note == "stopped waiting; not cancelled"
    assert is_running(kino)


# ---------------------------------------------------------------- tasks ID...
def test_tasks_reports_kinos_status(run_cli, three, kino, catalog, monkeypatch):
    kino.models.clear()  # every run fails: "Model checkpoint not found"
    submit_requests(list(catalog.iter_regen("project:12"))[:1], kino.url)
    # Task 1's run looks for its model in a thread of its own: only once it has failed
    # may the model come back (restored any earlier, the run finds it and then holds).
    until(lambda: kino.tasks.get(1, {}).get("status") == "failed")
    kino.models.add("sd_xl_base_1.0.safetensors")
    kino.hold.set()
    submit_requests(list(catalog.iter_regen("project:12"))[1:2], kino.url)
    until(lambda: is_running(kino, 2))
    monkeypatch.setenv("KINO_URL", kino.url)
    result = run_cli("tasks", "1", "2", "7", "--format", "jsonl")
    assert result.code == 1  # 1 failed, 7 is not Kino's
    assert [(r["task_id"], r["status"], r["error"]) for r in lines(result.out)] == [
        (1, "failed", "Model checkpoint not found: /home/kino/backend/models_storage/"
                      "StableDiffusion/sd_xl_base_1.0.safetensors"),
        (2, "running", None),
        (7, UNKNOWN, "Kino has no task 7"),
    ]  # fmt: skip
    assert run_cli("tasks", "2").code == 0  # running is fine when not waiting
    waited = run_cli("tasks", "2", "--wait", "--timeout", "0.3", "--format", "text")
    assert waited.code == 1
    assert "still running after 0.3 s; not cancelled" in waited.out
    kino.hold.clear()
    done = run_cli("tasks", "2", "--wait", "--format", "text")
    assert done.code == 0, done.err
    assert done.out.split()[:2] == ["2", "completed"]


def test_tasks_usage(run_cli, kino):
    assert run_cli("tasks", "1").code == 2  # no URL
    assert run_cli("tasks", "--url", kino.url).code == 2  # no id
    assert run_cli("tasks", "--url", kino.url, "1", "--timeout", "3").code == 2
    unreachable = run_cli("tasks", "--url", "http://127.0.0.1:9", "1")
    assert unreachable.code == 1
    assert "cannot connect" in unreachable.err


# ---------------------------------------------------------------- progress
def test_quiet_in_a_pipe(run_cli, three, kino):
    result = run_cli(*BATCH, "--submit", kino.url, "--wait")
    assert result.code == 0
    assert "\x1b" not in result.err
    assert "%" not in result.err
    assert len(result.err.splitlines()) == 1  # the summary


def test_a_progress_bar_on_a_terminal(three, kino, db_path):
    # Task 1 runs until the bar has shown it running (a run of fixed length could end
    # before a slow CLI first asks for it, or between two redraws of the bar).
    kino.hold.set()
    leader, follower = pty.openpty()
    proc = _cli(
        db_path,
        *BATCH,
        "--submit",
        kino.url,
        "--wait",
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + 60
    try:
        while True:
            if b"task 1 (1/3) running" in screen:
                kino.hold.clear()
            ready, _, _ = select.select([leader], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"nothing more on the terminal: {screen[-500:]!r}"
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        out = proc.communicate(timeout=60)[0]
    finally:
        proc.kill()
        os.close(leader)
    assert proc.returncode == 0
    text = screen.decode("utf-8", "replace")
    assert "task 1 (1/3) running" in text
    assert "task 3 (3/3)" in text
    assert "%" in text
    assert [r["status"] for r in lines(out.decode())] == ["completed"] * 3  # lines stay clean
