"""The Kino-compatible sidecar API and exact JSON reading."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kino_catalog.errors import SidecarParseError
from kino_catalog.sidecar import (
    MAX_SIDECAR_BYTES,
    get_params_path,
    load_generation_params,
    loads_exact,
    params_exist,
    save_generation_params,
    save_generation_params_sync,
)

PARAMS = {
    "prompt": "a castle",
    "steps": 30,
    "cfg_scale": 7.0,
    "seed": 2**64 - 1,
    "loras": [{"lora_name": "add_detail.safetensors", "strength_model": 0.8}],
    "num_variants": 2,
}


def test_kino_call_shape_with_await_writes_kinos_keys(tmp_path):
    image = tmp_path / "project_3_frame_41_variant_0.png"

    async def plugin():  # exactly how a Kino plugin calls it
        return await save_generation_params(str(image), "sdxl", "1.0.0", 0, None, PARAMS, 3)

    sidecar = asyncio.run(plugin())
    assert sidecar == str(tmp_path / "project_3_frame_41_variant_0.json")
    doc = json.loads((tmp_path / "project_3_frame_41_variant_0.json").read_text())
    assert list(doc) == [
        "plugin",
        "plugin_version",
        "parameters",
        "variants",
        "output",
        "timestamp",
        "task_id",
        "project_id",
    ]
    assert doc["variants"] == 2
    assert doc["output"] == {"filename": image.name, "path": str(image)}
    assert re.fullmatch(r"\d{8}_\d{6}", doc["timestamp"])
    assert doc["parameters"]["seed"] == 2**64 - 1


def test_frame_id_and_given_timestamp_are_written(tmp_path):
    image = tmp_path / "a.png"
    save_generation_params_sync(image, "sdxl", "1.0.0", 5, "regenerated", PARAMS, None, frame_id=41)
    doc = load_generation_params(image)
    assert doc is not None
    assert (doc["timestamp"], doc["frame_id"], doc["project_id"]) == ("regenerated", 41, None)


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    image = tmp_path / "a.png"
    save_generation_params_sync(image, "sdxl", "1", 0, None, PARAMS, 1)
    save_generation_params_sync(image, "sdxl", "2", 0, None, PARAMS, 1)
    assert sorted(os.listdir(tmp_path)) == ["a.json"]
    assert load_generation_params(image)["plugin_version"] == "2"


def test_nan_is_refused_and_the_old_file_survives(tmp_path):
    image = tmp_path / "a.png"
    save_generation_params_sync(image, "sdxl", "1", 0, None, PARAMS, 1)
    with pytest.raises(ValueError, match="JSON"):
        save_generation_params_sync(image, "sdxl", "2", 0, None, {"cfg_scale": math.nan}, 1)
    assert load_generation_params(image)["plugin_version"] == "1"
    assert sorted(os.listdir(tmp_path)) == ["a.json"]


def test_paths_and_existence(tmp_path):
    assert get_params_path("/x/frames/p_1.png") == "/x/frames/p_1.json"
    assert get_params_path("/x/frames/p_1.json") == "/x/frames/p_1.json"
    assert not params_exist(tmp_path / "a.png")
    (tmp_path / "a.json").write_text("{}")
    assert params_exist(tmp_path / "a.png")


def test_load_is_lossless(tmp_path):
    text = (
        '{"plugin": "x", "parameters": {"seed": 18446744073709551615, "big": '
        '123456789012345678901234567890, "cfg_scale": 7.0, "neg": -9223372036854775809},'
        ' "unknown_key": {"nested": [1, 2.5, null]}}'
    )
    (tmp_path / "a.json").write_text(text)
    doc = load_generation_params(tmp_path / "a.png")
    assert doc["parameters"]["seed"] == 2**64 - 1
    assert doc["parameters"]["big"] == 123456789012345678901234567890
    assert doc["parameters"]["neg"] == -(2**63) - 1
    assert isinstance(doc["parameters"]["cfg_scale"], float)
    assert doc["unknown_key"] == {"nested": [1, 2.5, None]}


def test_load_returns_none_for_missing_or_broken(tmp_path):
    assert load_generation_params(tmp_path / "missing.png") is None
    (tmp_path / "b.json").write_text('{"plugin": ')
    assert load_generation_params(tmp_path / "b.png") is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"  \n", "empty file"),
        (b'{"a": 1', "invalid JSON"),
        (b'{"a": NaN}', "NaN is not valid JSON"),
        (b'{"a": Infinity}', "Infinity is not valid JSON"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"p": {"x": 1, "x": 1}}', "duplicate key 'x'"),
        (b'{"a":"\\u0022:","a":2}', "duplicate key 'a'"),  # a quote written as \u0022
        (b'{"a":1,"a":"\\u003a"}', "duplicate key 'a'"),  # a colon written as \u003a
        (b'{"b":{"k":1,"k":2},"c":"\\"\\u003A"}', "duplicate key 'k'"),
        (b'{"a":1,"b":[{"c":1,"c":1}]}', "duplicate key 'c'"),
        # Space before a colon, beside a repeat: the key counts must not cancel out.
        (b'{"a" : 1, "b" :{"x": 1}, "a": 2}', "duplicate key 'a'"),
        (b'{"k"\n: "x:y", "k": 2, "z" : 3}', "duplicate key 'k'"),
        (b'{"a": "\\ud800"}', "lone surrogate"),
        (b'{"a": "caf\xe9"}', "not UTF-8"),
        (b"\x00\x01\x02\xff\xfe", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": ' + b"9" * 5000 + b"}", "invalid JSON"),
    ],
)
def test_bad_json_gets_a_one_line_reason(data, reason):
    with pytest.raises(SidecarParseError) as caught:
        loads_exact(data, "x.json")
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_huge_files_are_refused_without_parsing():
    data = b'{"prompt": "' + b"a" * MAX_SIDECAR_BYTES + b'"}'
    with pytest.raises(SidecarParseError, match=r"over the .* sidecar limit"):
        loads_exact(data)


def test_strings_containing_key_like_text_still_parse():
    # `":` inside a string must not be mistaken for a duplicate key
    doc = loads_exact(b'{"prompt": "say \\": hi\\": there", "x": 1}')
    assert doc == {"prompt": 'say ": hi": there', "x": 1}


def test_utf8_bom_is_accepted():
    assert loads_exact(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_loads_exact_round_trips_any_json_value(value):
    for indent in (None, 2):
        data = json.dumps(value, indent=indent, ensure_ascii=False).encode()
        parsed = loads_exact(data)
        assert json.dumps(parsed) == json.dumps(value)  # same values and same types


def _dumps_repeating(value, target, seen, colon=": "):
    """JSON text of ``value`` whose ``target``-th object (depth first) repeats its first key."""
    if isinstance(value, dict):
        index, seen[0] = seen[0], seen[0] + 1
        items = list(value.items())
        if index == target and items:
            items.insert(0, (items[0][0], None))
            seen[1] = True
        inner = (
            f"{json.dumps(k)}{colon}{_dumps_repeating(v, target, seen, colon)}" for k, v in items
        )
        return "{" + ", ".join(inner) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dumps_repeating(v, target, seen, colon) for v in value) + "]"
    return json.dumps(value)


@given(
    json_values, st.integers(min_value=0, max_value=20), st.sampled_from([":", ": ", " : ", "\n:"])
)
def test_a_repeated_key_is_refused_wherever_it_is(value, target, colon):
    seen = [0, False]
    data = _dumps_repeating(value, target, seen, colon).encode()
    if not seen[1]:  # no object to repeat a key in (none, empty, or past the last)
        assert json.dumps(loads_exact(data)) == json.dumps(value)
        return
    with pytest.raises(SidecarParseError, match="duplicate key"):
        loads_exact(data)
