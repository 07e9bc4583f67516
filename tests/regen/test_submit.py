"""regen --submit against the Kino double (tests/kino_double.py): bodies, checks, outcomes."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any

import pytest

from kino_catalog import SubmitError
from kino_catalog.regen.submit import Submission, submit_requests, task_body
from kino_catalog.regen.tasks import NOT_SENT, NOT_STARTED, REJECTED, STARTED

if TYPE_CHECKING:
    from tests.factories import Library
    from tests.kino_double import KinoDouble

TASKS = "/api/v1/generator/tasks"
MISSING_MODEL = "missing_model.safetensors"


def posts(kino: KinoDouble) -> list[str]:
    return [path for method, path in kino.calls if method == "POST"]


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def frames(library: Library, kino: KinoDouble, run_cli: Any) -> Library:
    """Project 12 with frames 7, 8 and 9 (variant 0), known to the catalogue and to Kino."""
    kino.add_project(12)
    for frame in (7, 8, 9):
        path = library.frame(12, frame, parameters={"seed": 1000 + frame})
        kino.add_frame(12, path.with_suffix(".png"), frame_id=frame)
    assert run_cli("sync", str(library.root)).code == 0
    return library


def test_body_is_what_kinos_ui_sends(run_cli, frames, kino):
    sidecar = frames.root / "frames/project_12_frame_7_variant_0.json"
    printed = json.loads(run_cli("regen", str(sidecar)).out)
    result = run_cli("regen", str(sidecar), "--submit", kino.url)
    assert result.code == 0, result.err
    [body] = kino.created_bodies()
    assert body["name"] == "Regenerate frame 7 for project 12"
    assert body["type"] == "sdxl"
    assert body["data"]["project_id"] == 12
    # the sidecar's parameters exactly, plus project_id repeated inside, as the UI does
    on_disk = json.loads(sidecar.read_text())["parameters"]
    assert body["data"]["parameters"] == {**on_disk, "project_id": 12}
    assert "frame_id" not in body["data"]  # not in place unless asked
    assert body["source"] == printed["source"]  # Kino ignores it; kept for the record
    assert "project_id" not in printed["data"]["parameters"]  # regen's output stays exact


def test_started_is_not_done(run_cli, frames, kino):
    result = run_cli("regen", "--query", "project:12", "--submit", kino.url, "--format", "jsonl")
    assert result.code == 0, result.err
    reported = lines(result.out)
    assert [r["task_id"] for r in reported] == [1, 2, 3]
    assert {r["status"] for r in reported} == {STARTED}
    assert posts(kino) == [TASKS, f"{TASKS}/1/generate", TASKS, f"{TASKS}/2/generate", TASKS,
                           f"{TASKS}/3/generate"]  # fmt: skip
    assert "3 started" in result.err
    assert "done" not in result.err
    assert "completed" not in result.err
    assert f"kino-catalog tasks --url {kino.url} 1 2 3 (or use --wait)" in result.err


def test_wait_reports_completion_and_progress(run_cli, frames, kino):
    result = run_cli(
        "regen", "--query", "project:12", "--submit", kino.url, "--wait", "--format", "jsonl"
    )
    assert result.code == 0, result.err
    reported = lines(result.out)
    assert [(r["task_id"], r["status"], r["progress"]) for r in reported] == [
        (1, "completed", 100.0),
        (2, "completed", 100.0),
        (3, "completed", 100.0),
    ]
    assert reported[0]["result"]["generated_frames"] == [10]  # a new Kino frame each
    assert "3 task(s) on" in result.err
    assert "3 completed" in result.err
    assert sorted(p.name for p in kino.frames_dir.glob("*.json")) == [
        "project_12_frame_10_variant_0.json",
        "project_12_frame_11_variant_0.json",
        "project_12_frame_12_variant_0.json",
    ]


def test_a_task_that_fails_after_generate_succeeded(run_cli, library, kino):
    kino.add_project(12)
    library.frame(12, 7, parameters={"model_name": MISSING_MODEL})
    run_cli("sync", str(library.root))
    started = run_cli("regen", "1", "--submit", kino.url)
    assert started.code == 0  # /generate said 200: all we know without --wait
    assert "started" in started.out
    waited = run_cli("regen", "1", "--submit", kino.url, "--wait", "--format", "text")
    assert waited.code == 1
    [line] = waited.out.splitlines()
    assert line.split()[:2] == ["2", "failed"]
    assert f"Model checkpoint not found: /home/kino/backend/models_storage/StableDiffusion/" \
           f"{MISSING_MODEL}" in line  # fmt: skip
    assert "task 2 failed: Model checkpoint not found" in waited.err
    assert kino.tasks[2]["status"] == "failed"


def test_a_failure_stops_the_batch_unless_keep_going(run_cli, library, kino):
    kino.add_project(12)
    library.frame(12, 1)
    library.frame(12, 2, parameters={"model_name": MISSING_MODEL})
    library.frame(12, 3)
    run_cli("sync", str(library.root))
    args = ("regen", "--query", "project:12", "--submit", kino.url, "--wait", "--format", "jsonl")
    stopped = run_cli(*args)
    assert stopped.code == 1
    assert [(r["task_id"], r["status"]) for r in lines(stopped.out)] == [
        (1, "completed"),
        (2, "failed"),
        (None, NOT_SENT),
    ]
    assert len(kino.tasks) == 2  # the third was never created
    assert "stopped: task 2 failed" in stopped.err
    going = run_cli(*args, "--keep-going")
    assert going.code == 1
    assert [(r["task_id"], r["status"]) for r in lines(going.out)] == [
        (3, "completed"),
        (4, "failed"),
        (5, "completed"),
    ]
    assert "2 completed, 1 failed" in going.err


def test_checks_stop_a_bad_batch_before_anything_is_created(run_cli, library, kino):
    kino.plugins.discard("wan22_i2v")
    kino.add_project(12)
    library.frame(12, 1)
    library.frame(14, 1)  # Kino has no project 14
    library.write("frames/project_12_frame_2_variant_0.json", {
        "plugin": "wan22_i2v", "parameters": {"prompt": "a wave"}, "project_id": 12,
    })  # fmt: skip
    library.write("loose/sketch.json", {"plugin": "sdxl", "parameters": {"prompt": "x"}})
    run_cli("sync", str(library.root))
    result = run_cli("regen", "--query", "", "--submit", kino.url, "--wait")
    assert result.code == 1
    assert result.out == ""
    err = result.err.splitlines()
    assert err == [
        f"kino-catalog: {library.root}/loose/sketch.json: no project_id "
        "(Kino files every frame in one: choose one with --project)",
        "kino-catalog: Kino has no plugin 'wan22_i2v' loaded (it has: sdxl)",
        "kino-catalog: Kino has no project 14 (GET /api/v1/projects/14)",
        f"kino-catalog: nothing was submitted to {kino.url}",
    ]
    assert posts(kino) == []


def test_unreachable_server_is_one_line_and_exit_1(run_cli, frames):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_cli("regen", "1", "--submit", f"http://127.0.0.1:{port}", "--wait")
    assert result.code == 1
    assert (
        result.err.splitlines()[-1]
        == f"kino-catalog: nothing was submitted to http://127.0.0.1:{port}"
    )
    assert "Connection refused" in result.err


def test_usage_errors_exit_2(run_cli, frames, kino):
    for args in (
        ("regen", "1", "--submit", "127.0.0.1:8000"),
        ("regen", "1", "--wait"),
        ("regen", "1", "--in-place"),
        ("regen", "1", "--submit", kino.url, "--timeout", "5"),
        ("regen", "1", "--submit", kino.url, "--wait", "--timeout", "0"),
        ("regen", "1", "--project", "12"),
        ("regen", "1", "--submit", kino.url, "--project", "12", "--in-place"),
    ):
        result = run_cli(*args)
        assert result.code == 2, args
        assert "Traceback" not in result.err
    assert kino.calls == []


def test_project_files_frames_that_have_none(run_cli, library, kino):
    """Imported frames (or any sidecar outside a Kino project) go where --project says."""
    kino.add_project(5)
    params = {"prompt": "a portrait", "model_name": "sd_xl_base_1.0.safetensors", "seed": 7}
    library.write("imports/portrait.json", {"plugin": "sdxl", "parameters": params})
    library.frame(12, 3)
    run_cli("sync", str(library.root))
    refused = run_cli("regen", "--query", "", "--submit", kino.url)
    assert refused.code == 1
    assert "choose one with --project" in refused.err
    result = run_cli("regen", "--query", "", "--submit", kino.url, "--project", "5", "--wait")
    assert result.code == 0, result.err
    bodies = kino.created_bodies()
    assert [b["data"]["project_id"] for b in bodies] == [5, 5]
    assert [b["data"]["parameters"]["project_id"] for b in bodies] == [5, 5]
    assert [b["name"] for b in bodies] == [  # oldest first
        "Regenerate frame 3 for project 5",
        "Regenerate portrait for project 5",
    ]
    assert sorted(p.name for p in kino.frames_dir.glob("*.json")) == [
        "project_5_frame_1_variant_0.json",
        "project_5_frame_2_variant_0.json",
    ]


def test_a_request_filed_in_another_project_carries_no_stale_project_id():
    """A request file may repeat its old project inside the parameters, as Kino's UI does."""
    request = {
        "type": "sdxl",
        "name": "Regenerate frame 3 for project 12",
        "data": {"project_id": 12, "parameters": {"prompt": "a fox", "project_id": 12}},
    }
    body = task_body(request, 5)
    assert body["data"]["project_id"] == 5
    assert body["data"]["parameters"]["project_id"] == 5
    assert request["data"]["parameters"]["project_id"] == 12  # the request itself is left alone


def test_blank_or_missing_name_is_filled_in(run_cli, frames, kino, tmp_path):
    # Kino answers 500 to a blank name: a request file must not get that far.
    request = json.loads(run_cli("regen", "1").out)
    request["name"] = "   "
    saved = tmp_path / "blank.json"
    saved.write_text(json.dumps(request))
    del request["name"]
    (tmp_path / "none.json").write_text(json.dumps(request))
    result = run_cli(
        "regen", "--from", str(saved), str(tmp_path / "none.json"), "--submit", kino.url
    )
    assert result.code == 0, result.err
    assert [b["name"] for b in kino.created_bodies()] == ["Regenerate frame 7 for project 12"] * 2


def test_the_double_answers_as_kino_does(kino):
    """Kino's own answers (DESIGN.md §9), so that the tests above mean something."""
    from kino_catalog.regen.kino_api import KinoClient

    client = KinoClient(kino.url)
    kino.add_project(1)

    def create(body: Any) -> tuple[int, Any]:
        answer = client._exchange("POST", TASKS, body, None)
        return answer.status, answer.value if answer.error is None else answer.error

    assert create({"name": "", "type": "sdxl"})[0] == 400
    assert create({"name": "x", "type": "sdxl", "data": []}) == (
        400,
        "Validation error: data: Input should be a valid dictionary",
    )
    assert create({"name": "  ", "type": "sdxl"})[0] == 500
    assert create({"name": "x", "type": "flux"}) == (
        400,
        "Bad request: Plugin type 'flux' is not registered",
    )
    params = {"prompt": "a", "model_name": "sd_xl_base_1.0.safetensors"}
    body = {"name": "x", "type": "sdxl", "data": {"parameters": params}, "extra": 1}
    status, task = create(body)
    assert status == 201
    assert isinstance(task["id"], int)
    assert task["status"] == "pending"
    kino.hold.set()
    started = client._exchange("POST", f"{TASKS}/{task['id']}/generate", None, None)
    assert started.value == {"message": "Generation started", "task_id": task["id"]}
    assert client.get_task(task["id"])["status"] == "running"  # at once: the run is behind it
    kino.hold.clear()
    kino.wait_finished()
    # no project: the run fails only when it records its frame
    failed = client.get_task(task["id"])
    assert failed["status"] == "failed"
    assert failed["error"].endswith("Project with id None does not exist")
    del params["prompt"]
    status, task = create(body)
    client.start_task(task["id"])
    kino.wait_finished()
    assert client.get_task(task["id"])["error"] == "Parameter 'prompt' is required"
    assert client.get_task(999) is None
    assert client.get_project(2) is None


# ---------------------------------------------------------------- the library
def test_library_reports_every_task_and_big_seeds_arrive_exactly(example_library, catalog, kino):
    catalog.sync(example_library.root)
    kino.add_project(3)
    kino.models.add("juggernautXL_v9Rdphoto2Lightning.safetensors")
    requests = list(catalog.iter_regen("project:3 plugin:sdxl"))
    submission = submit_requests(requests, kino.url, wait=True, poll_seconds=0.05)
    assert submission.is_ok
    assert [r.status for r in submission.results] == ["completed"] * len(requests)
    seeds = [b["data"]["parameters"]["seed"] for b in kino.created_bodies()]
    assert 2**64 - 1 in seeds  # digit for digit, through Kino and back
    assert all(r.request is requests[r.index] for r in submission.results)


def test_a_refusal_at_create_and_a_refused_start(frames, catalog, kino):
    requests = list(catalog.iter_regen("project:12"))
    submission = Submission(requests, kino.url)
    submission.check()
    kino.plugins.discard("sdxl")  # unloaded between the check and the run
    submission.run(wait=True)
    assert [r.status for r in submission.results] == [REJECTED, NOT_SENT, NOT_SENT]
    assert submission.results[0].error.endswith("Plugin type 'sdxl' is not registered")
    assert not submission.is_ok

    kino.plugins.add("sdxl")
    kino.start_error = "database is locked"
    broken = submit_requests(requests, kino.url, keep_going=True)
    assert [(r.task_id, r.status) for r in broken.results] == [
        (1, NOT_STARTED),
        (2, NOT_STARTED),
        (3, NOT_STARTED),
    ]
    assert broken.results[0].error == (
        f"POST {TASKS}/1/generate: HTTP 500: Internal server error: database is locked"
    )


def test_check_problems_are_data(frames, catalog, kino):
    kino.projects.clear()
    with pytest.raises(SubmitError) as info:
        submit_requests(catalog.iter_regen("project:12"), kino.url)
    assert info.value.problems == ["Kino has no project 12 (GET /api/v1/projects/12)"]
    assert str(info.value) == (
        f"nothing was submitted to {kino.url}: Kino has no project 12 (GET /api/v1/projects/12)"
    )
