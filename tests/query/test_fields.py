"""A field no frame has gets a warning naming the nearest field (issue 15, item 5).

The answer never changes: a script asking for a key that may appear later
must keep working, so the warning is advice on stderr (or in the API's
``warnings``), never an error.
"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from kino_catalog.query.fields import parameter_keys, query_fields
from kino_catalog.query.sql import to_ast
from kino_catalog.web import create_app


@pytest.fixture
def examples(any_catalog, example_library):
    any_catalog.sync(example_library.root)
    return any_catalog


@pytest.mark.parametrize(
    ("query", "warnings"),
    [
        ("lroa:add_detail", ["no frame has 'lroa'; did you mean lora:?"]),
        ("frobnicate:1", ["no frame has 'frobnicate'"]),
        ("num_frame:81", ["no frame has 'num_frame'; did you mean num_frames:?"]),
        ("stpes:20..30", ["no frame has 'stpes'; did you mean steps:?"]),
        (
            "castle -(modle:x OR lroa:y)",
            [
                "no frame has 'modle'; did you mean model:?",
                "no frame has 'lroa'; did you mean lora:?",
            ],
        ),
        ("lroa:a lroa:b", ["no frame has 'lroa'; did you mean lora:?"]),  # once per name
        # Known fields, with or without a match, and keys some frame has: no word.
        ("", []),
        ("castle steps:999 lora:nothing_like_it", []),
        ("num_frames:81", []),
        ("num_frames:12345", []),
        ("model_name:x cfg_scale:>3", []),
    ],
)
def test_fields_no_frame_has(examples, query, warnings):
    before = examples.count(query)
    assert examples.field_warnings(query) == warnings
    assert examples.count(query) == before  # advice only


def test_query_fields_walks_every_term():
    node = to_ast("a:1 (b:x OR -c:>2) steps:3 -(d:1..2) lora:x model:y")
    assert list(query_fields(node)) == ["a", "b", "c", "d"]


def test_parameter_keys_lists_each_key_once(examples):
    keys = parameter_keys(examples.engine.connect())
    assert keys == sorted(set(keys))
    assert "num_frames" in keys
    assert "steps" not in keys  # typed columns are not `parameters` rows


def test_the_cli_warns_on_stderr_and_answers_as_before(run_cli, example_library):
    assert run_cli("sync", str(example_library.root)).code == 0
    result = run_cli("search", "lroa:add_detail", "--count")
    assert (result.code, result.out) == (0, "0\n")
    assert result.err == "kino-catalog: warning: no frame has 'lroa'; did you mean lora:?\n"
    listed = run_cli("search", "frobnicate:1", "--format", "json")
    assert (listed.code, listed.json()) == (0, [])
    assert "no frame has 'frobnicate'" in listed.err
    quiet = run_cli("search", "lora:add_detail", "--count")
    assert (quiet.out, quiet.err) == ("6\n", "")


def test_the_api_gives_the_warnings_with_the_first_page(examples):
    client = TestClient(create_app(examples), base_url="http://127.0.0.1:8765")
    found = client.get("/api/search", params={"q": "lroa:add_detail"}).json()
    assert (found["frames"], found["count"]) == ([], 0)
    assert found["warnings"] == ["no frame has 'lroa'; did you mean lora:?"]
    plain = client.get("/api/search", params={"q": "lora:add_detail"}).json()
    assert (plain["count"], plain["warnings"]) == (6, [])
    counted = client.get("/api/count", params={"q": "lroa:add_detail"}).json()
    assert counted == {"count": 0, "warnings": ["no frame has 'lroa'; did you mean lora:?"]}
    assert client.get("/api/count", params={"q": "lora:add_detail"}).json() == {
        "count": 6,
        "warnings": [],
    }


@pytest.mark.parametrize(
    "command",
    [
        ("rate", "1", "--query", "sampeler:euler"),
        ("tag", "add", "keeper", "--query", "sampeler:euler"),
        ("tag", "remove", "keeper", "--query", "sampeler:euler"),
        ("regen", "--query", "sampeler:euler"),
        ("hash", "sampeler:euler"),
        ("verify", "sampeler:euler"),
        ("thumbs", "sampeler:euler"),
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_every_command_that_takes_a_query_warns_of_a_misspelt_field(
    run_cli, example_library, command
):
    """A typo in a bulk edit's query is named, not just "0 frames" (the command goes on)."""
    assert run_cli("sync", str(example_library.root)).code == 0
    result = run_cli(*command)
    assert result.code == 0, result.err
    assert "kino-catalog: warning: no frame has 'sampeler'; did you mean sampler:?" in result.err
    assert run_cli("search", "rating:1", "--count").out == "0\n"  # nothing was edited
