"""Regeneration requests: exact round trip, every override rule, batches, --from."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kino_catalog import Catalog, UsageError
from kino_catalog.query.frame import Frame
from kino_catalog.regen.overrides import Edits, apply_edits, convert
from kino_catalog.regen.requests import request_from_document
from kino_catalog.sidecar import loads_exact
from kino_catalog.testing.corpus import generate_corpus
from tests.factories import make_sidecar

MAX_SEED = 2**64 - 1


def exact(value: Any) -> str:
    """Type-aware equality: 7 != 7.0 and True != 1 once dumped."""
    return json.dumps(value, sort_keys=False, ensure_ascii=False)


def on_disk(frame: Frame) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path(frame.sidecar_path).read_bytes())
    return doc


# ---------------------------------------------------------------- round trip
def test_round_trip_every_example(any_catalog: Catalog, example_library):
    any_catalog.sync(example_library.root)
    frames = any_catalog.search("", limit=None)
    assert len(frames) == 14
    for frame in frames:
        request = any_catalog.regen(frame)
        sidecar = on_disk(frame)
        assert exact(request["data"]["parameters"]) == exact(sidecar["parameters"])
        assert request["type"] == sidecar["plugin"]
        assert request["source"]["sidecar"] == frame.sidecar_path
        assert request["source"]["plugin_version"] == sidecar.get("plugin_version")
        assert request["data"]["project_id"] == frame.project_id


def test_round_trip_generated_corpus_through_the_cli(run_cli, tmp_path):
    root = tmp_path / "corpus"
    generate_corpus(root, 400, projects=4, seed=11)
    assert run_cli("sync", str(root)).code == 0
    result = run_cli("regen", "--query", "")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert len(lines) == 400
    big_seeds = 0
    for line in lines:
        request = json.loads(line)  # the stdlib keeps big ints exact
        sidecar = json.loads(Path(request["source"]["sidecar"]).read_bytes())
        assert exact(request["data"]["parameters"]) == exact(sidecar["parameters"])
        big_seeds += sidecar["parameters"].get("seed", 0) >= 2**63
    assert big_seeds  # the corpus has seeds beyond signed 64 bits; they survived


def test_request_body_shape(catalog, library):
    library.frame(12, 7)
    catalog.sync(library.root)
    request = catalog.regen(library.root / "frames/project_12_frame_7_variant_0.png")
    assert set(request) == {"name", "type", "data", "source"}
    assert request["type"] == "sdxl"
    assert request["data"]["project_id"] == 12
    assert request["source"]["frame_id"] == 7  # Kino's frame number, from the file name
    assert (
        request["source"]["catalog_id"]
        == catalog.get(library.root / "frames/project_12_frame_7_variant_0.json").id
    )
    assert request["name"] == "Regenerate frame 7 for project 12"  # as Kino's UI names it


@pytest.mark.parametrize(
    ("rel", "over", "name"),
    [
        ("frames/project_12_frame_7_variant_1.json", {},
         "Regenerate frame 7 variant 1 for project 12"),
        ("frames/project_5_frame_2_variant_0.json", {"frame_id": 9, "project_id": ...},
         "Regenerate frame 9 for project 5"),  # Kino's own id, recorded by an in-place run
        ("loose/portrait.json", {"project_id": ...}, "Regenerate portrait"),
    ],
)  # fmt: skip
def test_request_names(catalog, library, rel, over, name):
    library.write(rel, make_sidecar(**over))
    catalog.sync(library.root)
    assert catalog.regen(1)["name"] == name


def test_regenerated_sidecar_takes_project_from_file_name(catalog, library):
    library.frame(5, 2, project_id=..., task_id=..., timestamp="regenerated", frame_id=2)
    catalog.sync(library.root)
    request = catalog.regen(1)
    assert request["data"]["project_id"] == 5
    assert request["source"]["frame_id"] == 2


# ---------------------------------------------------------------- overrides
PARAMS = {
    "steps": 30,
    "cfg_scale": 7.0,
    "prompt": "a cat",
    "seed": 1234,
    "flag": True,
    "sizes": [1, 2],
    "extra": None,
    "loras": [],
}


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("steps", "40", 40),
        ("steps", " -3 ", -3),
        ("cfg_scale", "6.5", 6.5),
        ("cfg_scale", "7", 7.0),  # stays a float: 7.0, not 7
        ("prompt", "a dog, 85mm", "a dog, 85mm"),
        ("prompt", "40", "40"),  # a string stays a string
        ("seed", "99", 99),
        ("seed", "18446744073709551615", MAX_SEED),
        ("flag", "false", False),
        ("flag", "yes", True),
        ("sizes", "[3, 4]", [3, 4]),
        ("extra", "12", 12),  # null before: a JSON literal is taken as one
        ("extra", "castle", "castle"),
    ],
)
def test_set_types_follow_the_original(key, text, expected):
    params = apply_edits(PARAMS, "sdxl", Edits({key: text}))
    assert exact(params[key]) == exact(expected)


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("steps", "abc", "steps must be an integer"),
        ("steps", "4.5", "steps must be an integer"),
        ("cfg_scale", "abc", "cfg_scale must be a number"),
        ("cfg_scale", "nan", "cfg_scale must be a finite number"),
        ("flag", "maybe", "flag must be true or false"),
        ("sizes", "{}", "sizes must be a JSON list"),
        ("seed", "lucky", "seed must be an integer"),
    ],
)
def test_set_value_that_does_not_fit_is_an_error(key, text, message):
    with pytest.raises(UsageError, match=message) as info:
        apply_edits(PARAMS, "sdxl", Edits({key: text}))
    assert text in str(info.value)


def test_python_values_are_checked_too():
    assert exact(convert("steps", 30, 40)) == "40"
    assert exact(convert("cfg_scale", 7.0, 6)) == "6.0"
    with pytest.raises(UsageError, match="integer"):
        convert("steps", 30, 4.5)
    with pytest.raises(UsageError, match="string"):
        convert("prompt", "a", 3)


def test_unknown_key_is_an_error_unless_allowed():
    with pytest.raises(UsageError, match=r"no parameter 'denoise'.*--allow-new-keys"):
        apply_edits(PARAMS, "sdxl", Edits({"denoise": "0.5"}))
    params = apply_edits(
        PARAMS, "sdxl", Edits({"denoise": "0.5", "tag": "x", "n": "3"}, allow_new_keys=True)
    )
    assert exact([params["denoise"], params["tag"], params["n"]]) == exact([0.5, "x", 3])


def test_edits_leave_the_original_alone():
    params = {"steps": 30, "loras": [{"lora_name": "a", "strength_model": 1.0}]}
    before = exact(params)
    apply_edits(params, "sdxl", Edits({"steps": "4"}, {"a": 0.5}))
    assert exact(params) == before


@pytest.mark.parametrize(
    ("seed", "text", "expected"),
    [
        (1234, "+1", 1235),
        (1234, "-1", 1233),
        (1234, "+10", 1244),
        (MAX_SEED, "+1", 0),  # wraps inside ComfyUI's range
        (0, "-1", MAX_SEED),
    ],
)
def test_seed_increments_wrap_in_the_plugin_range(seed, text, expected):
    params = apply_edits({"seed": seed}, "sdxl", Edits({"seed": text}))
    assert params["seed"] == expected


def test_seed_random_draws_in_the_plugin_range():
    rng = random.Random(5)
    seeds = [
        apply_edits({"seed": 1}, "sdxl", Edits({"seed": "random"}, rng=rng))["seed"]
        for _ in range(200)
    ]
    assert all(isinstance(s, int) and 0 <= s <= MAX_SEED for s in seeds)
    assert max(seeds) > 2**63  # the whole 64-bit range, not just 32 bits
    other = [
        apply_edits({"seed": 1}, "someplugin", Edits({"seed": "random"}, rng=rng))["seed"]
        for _ in range(50)
    ]
    assert all(0 <= s < 2**32 for s in other)
    wide = apply_edits({"seed": 2**40}, "someplugin", Edits({"seed": "random"}, rng=rng))
    assert 0 <= wide["seed"] <= MAX_SEED


SDXL_LORAS = [
    {"lora_name": "Add_Detail", "strength_model": 0.8, "strength_clip": 0.7},
    {"lora_name": "neon_glow.safetensors", "strength_model": 1.0, "strength_clip": 1.0},
]
WAN_LORAS = {
    "high_loras": [{"lora_name": "loras/add-detail.pt", "strength_model": 1.0}],
    "low_loras": [
        {"lora_name": "add_detail.safetensors", "strength_model": 0.5},
        {"lora_name": "wan_motion", "strength_model": 0.9},
    ],
}


def test_set_lora_matches_normalised_names_and_sets_both_strengths():
    params = apply_edits(
        {"loras": SDXL_LORAS}, "sdxl", Edits(set_loras={"add-detail.safetensors": 0.4})
    )
    assert params["loras"][0] == {
        "lora_name": "Add_Detail",
        "strength_model": 0.4,
        "strength_clip": 0.4,
    }
    assert params["loras"][1] == SDXL_LORAS[1]


def test_set_lora_applies_to_every_list_and_keeps_items_without_clip():
    params = apply_edits(WAN_LORAS, "wan22_i2v", Edits(set_loras={"ADD_DETAIL": 0.75}))
    assert params["high_loras"] == [{"lora_name": "loras/add-detail.pt", "strength_model": 0.75}]
    assert params["low_loras"][0] == {"lora_name": "add_detail.safetensors", "strength_model": 0.75}
    assert params["low_loras"][1]["strength_model"] == 0.9


def test_drop_lora_removes_it_from_every_list():
    params = apply_edits(WAN_LORAS, "wan22_i2v", Edits(drop_loras=("Add Detail",)))
    assert params["high_loras"] == []
    assert [i["lora_name"] for i in params["low_loras"]] == ["wan_motion"]


def test_unknown_lora_is_an_error_unless_allowed():
    with pytest.raises(UsageError, match="no such LoRA"):
        apply_edits({"loras": SDXL_LORAS}, "sdxl", Edits(set_loras={"film_grain": 0.5}))
    with pytest.raises(UsageError, match="no such LoRA"):
        apply_edits({"loras": SDXL_LORAS}, "sdxl", Edits(drop_loras=("film_grain",)))
    added = apply_edits(
        {"loras": SDXL_LORAS}, "sdxl", Edits(set_loras={"film_grain": 0.5}, allow_new_keys=True)
    )
    assert added["loras"][-1] == {
        "lora_name": "film_grain",
        "strength_model": 0.5,
        "strength_clip": 0.5,
    }
    with pytest.raises(UsageError, match="which list"):
        apply_edits(WAN_LORAS, "wan22_i2v", Edits(set_loras={"x": 1}, allow_new_keys=True))


# ---------------------------------------------------------------- CLI
def test_cli_single_frame_with_overrides(run_cli, example_library):
    run_cli("sync", str(example_library.root))
    image = example_library.root / "project_3/project_3_frame_2_variant_0.png"
    result = run_cli(
        "regen",
        str(image),
        "--set",
        "steps=40",
        "--set",
        "cfg_scale=6",
        "--set",
        "seed=+1",
        "--set-lora",
        "add_detail=0.3",
    )
    assert result.code == 0, result.err
    request = result.json()
    params = request["data"]["parameters"]
    assert exact([params["steps"], params["cfg_scale"], params["seed"]]) == exact([40, 6.0, 0])
    assert params["loras"][0]["strength_model"] == 0.3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "steps=abc"], "steps=abc: steps must be an integer"),
        (["--set", "denoise=1"], "no parameter 'denoise'"),
        (["--set", "steps"], "expected KEY=VALUE"),
        (["--set-lora", "add_detail=strong"], "must be a number"),
        (["--drop-lora", "nothing_like_it"], "no such LoRA"),
    ],
)
def test_cli_bad_overrides_exit_2_with_one_line(run_cli, example_library, args, message):
    run_cli("sync", str(example_library.root))
    frame = str(example_library.root / "project_3/project_3_frame_1_variant_0.json")
    result = run_cli("regen", frame, *args)
    assert result.code == 2
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert result.out == ""


def test_cli_needs_exactly_one_source(run_cli, example_library):
    run_cli("sync", str(example_library.root))
    assert run_cli("regen").code == 2
    assert run_cli("regen", "1", "--query", "project:3").code == 2
    assert run_cli("regen", "--from").code == 2
    assert run_cli("regen", "99999").code == 2


def test_cli_query_batch_to_file(run_cli, example_library, tmp_path):
    run_cli("sync", str(example_library.root))
    out = tmp_path / "batch.jsonl"
    result = run_cli(
        "regen",
        "--query",
        "lora:add_detail",
        "--set-lora",
        "add_detail=0.6",
        "--set",
        "seed=random",
        "-o",
        str(out),
    )
    assert result.code == 0, result.err
    requests = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(requests) == 6
    for request in requests:
        strengths = [
            i["strength_model"]
            for i in request["data"]["parameters"]["loras"]
            if "detail" in i["lora_name"].lower()
        ]
        assert strengths == [0.6]


def test_cli_batch_error_names_the_frame_and_leaves_no_file(run_cli, example_library, tmp_path):
    run_cli("sync", str(example_library.root))
    out = tmp_path / "batch.jsonl"
    # wan22 frames have no steps: the batch stops there, naming the frame
    result = run_cli("regen", "--query", "project:7", "--set", "steps=20", "-o", str(out))
    assert result.code == 2
    assert "_seq_000.json" in result.err
    assert "no parameter 'steps'" in result.err
    assert not out.exists()
    assert list(tmp_path.glob(".kino-*")) == []


def test_batch_streams_rows(catalog, tmp_path, monkeypatch):
    generate_corpus(tmp_path / "corpus", 2500, projects=2, seed=3, indent=None)
    catalog.sync(tmp_path / "corpus")
    made = []
    original = Frame.from_row.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Frame], row: Any, places: Any) -> Frame:
        made.append(1)
        return original(cls, row, places)

    monkeypatch.setattr(Frame, "from_row", classmethod(counting))
    stream = catalog.iter_regen("", {"steps": "12"}, allow_new_keys=True)
    first = next(stream)
    assert first["data"]["parameters"]["steps"] == 12
    assert len(made) <= 1000  # one fetch batch, not 2,500 frames in memory
    assert sum(1 for _ in stream) == 2499


def test_cli_from_saved_sidecars_and_request_files(run_cli, example_library, tmp_path):
    sidecars = sorted(str(p) for p in example_library.root.glob("project_7/*.json"))
    result = run_cli("regen", "--from", *sidecars, "--set", "seed=7")
    assert result.code == 0, result.err
    requests = [json.loads(line) for line in result.out.splitlines()]
    assert len(requests) == 4
    for path, request in zip(sidecars, requests, strict=True):
        sidecar = json.loads(Path(path).read_bytes())
        expected = {**sidecar["parameters"], "seed": 7}
        assert exact(request["data"]["parameters"]) == exact(expected)
        assert request["source"]["sidecar"] == path
        assert request["data"]["project_id"] == 7

    saved = tmp_path / "requests.jsonl"
    saved.write_text(result.out)
    single = tmp_path / "one.json"
    single.write_text(json.dumps(requests[0], indent=2))
    again = run_cli("regen", "--from", str(saved), str(single), "--set", "seed=+1")
    assert again.code == 0, again.err
    replayed = [json.loads(line) for line in again.out.splitlines()]
    assert [r["data"]["parameters"]["seed"] for r in replayed] == [8] * 5
    assert replayed[0]["source"] == requests[0]["source"]


def test_cli_from_rejects_other_json(run_cli, example_library, tmp_path):
    result = run_cli("regen", "--from", str(example_library.root / "project_3/notes.json"))
    assert result.code == 2
    assert "not a Kino sidecar or regeneration request" in result.err
    broken = example_library.root / "project_3/project_3_frame_6_variant_0.json"
    assert run_cli("regen", "--from", str(broken)).code == 2
    lines = tmp_path / "bad.jsonl"
    lines.write_text('{"type": "sdxl", "data": {"parameters": {}}}\n{oops\n')
    result = run_cli("regen", "--from", str(lines))
    assert result.code == 2
    assert "line 2" in result.err


# ---------------------------------------------------------------- properties

scalars = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.booleans()
    | st.none()
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.dictionaries(st.text(min_size=1, max_size=12), json_values, max_size=8))
def test_parameters_survive_the_request_exactly(parameters):
    text = json.dumps({"plugin": "sdxl", "parameters": parameters})
    request = request_from_document(loads_exact(text.encode()))
    assert exact(json.loads(json.dumps(request))["data"]["parameters"]) == exact(parameters)


@given(
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.booleans()
)
def test_setting_a_value_to_its_printed_form_changes_nothing(value):
    printed = value if isinstance(value, str) else json.dumps(value)
    assert exact(convert("key", value, printed)) == exact(value)
