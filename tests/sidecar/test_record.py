"""Every real Kino sidecar variant becomes a typed record; wrong types are refused."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kino_catalog.errors import NotASidecarError, SidecarSchemaError
from kino_catalog.sidecar.record import (
    decode_int_key,
    encode_int_key,
    normalise_name,
    parse_record,
    parse_timestamp,
)
from tests.factories import make_sidecar

WAN = {
    "plugin": "wan22_i2v",
    "plugin_version": "1.0.0",
    "parameters": {
        "prompt": "the dragon takes off",
        "negative_prompt": "static",
        "width": 832,
        "height": 480,
        "num_frames": 81,
        "seed": 42,
        "model_name": "wan2.2_i2v_A14B_Q8_0.gguf",
        "num_variants": 1,
        "total_frames": 81,
        "high_loras": [{"lora_name": "wan_lightx2v_4step.safetensors", "strength_model": 1.0}],
        "low_loras": [{"lora_name": "Wan-Camera Orbit", "strength_model": 0.7}],
    },
    "output": {"filename": "project_7_frame_3_variant_0_seq_000.png", "path": "/elsewhere"},
    "timestamp": None,
    "task_id": 0,
    "project_id": 7,
}


def test_a_plain_sdxl_sidecar():
    record = parse_record(make_sidecar(), "project_12_frame_7_variant_0.json")
    assert (record.plugin, record.plugin_version, record.task_id, record.project_id) == (
        "sdxl",
        "1.0.0",
        0,
        12,
    )
    assert record.generated_at == dt.datetime(2025, 10, 13, 15, 5, 30)
    assert (record.steps, record.cfg_scale, record.seed, record.sampler) == (
        30,
        7.0,
        1234567890,
        "euler_a",
    )
    assert [(u.role, u.key, u.strength_model, u.strength_clip) for u in record.loras] == [
        ("loras", "add_detail", 0.8, 0.8)
    ]
    assert dict(record.extra_parameters) == {"num_variants": 1}


def test_wan22_sequence_with_high_and_low_loras_without_strength_clip():
    record = parse_record(WAN, "project_7_frame_3_variant_0_seq_000.json")
    assert record.timestamp is None
    assert record.generated_at is None
    assert record.steps is None
    assert record.cfg_scale is None
    assert [(u.role, u.key, u.strength_clip) for u in record.loras] == [
        ("high_loras", "wan_lightx2v_4step", None),
        ("low_loras", "wan_camera_orbit", None),
    ]
    assert dict(record.extra_parameters) == {
        "num_frames": 81,
        "num_variants": 1,
        "total_frames": 81,
    }


def test_regenerated_sidecar_takes_its_project_from_the_file_name():
    doc = make_sidecar(timestamp="regenerated", frame_id=41, project_id=..., task_id=...)
    record = parse_record(doc, "/x/project_3_frame_41_variant_0.json")
    assert (record.timestamp, record.generated_at) == ("regenerated", None)
    assert (record.project_id, record.kino_frame_id, record.task_id) == (3, 41, None)


def test_missing_optional_keys_are_fine():
    doc = {"plugin": "custom", "parameters": {"my_knob": [1, 2], "seed": 2**64 - 1}}
    record = parse_record(doc, "render.json")
    assert record.project_id is None
    assert record.model_name is None
    assert record.loras == ()
    assert record.seed == 2**64 - 1
    assert dict(record.extra_parameters) == {"my_knob": [1, 2]}


@pytest.mark.parametrize(
    ("parameters", "top", "message"),
    [
        ({"steps": "30"}, {}, "parameters.steps must be an integer, not a string '30'"),
        ({"seed": "abc"}, {}, "parameters.seed must be an integer"),
        ({"seed": 1.5}, {}, "parameters.seed must be an integer"),
        ({"steps": True}, {}, "parameters.steps must be an integer, not a boolean"),
        ({"cfg_scale": "7"}, {}, "parameters.cfg_scale must be a number"),
        ({"loras": {}}, {}, "parameters.loras must be a list, not an object"),
        ({"loras": [3]}, {}, "parameters.loras[0] must be an object"),
        ({"loras": [{"strength_model": 1}]}, {}, "parameters.loras[0].lora_name is missing"),
        (
            {"loras": [{"lora_name": "x", "strength_model": "hi"}]},
            {},
            "parameters.loras[0].strength_model must be a number",
        ),
        ({"prompt": ["a"]}, {}, "parameters.prompt must be a string, not a list"),
        ({}, {"parameters": [1]}, "parameters must be an object, not a list"),
        ({}, {"plugin": 3}, "plugin must be a non-empty string"),
        ({}, {"project_id": "twelve"}, "project_id must be an integer"),
        ({}, {"timestamp": 20251013}, "timestamp must be a string"),
        ({}, {"output": "x.png"}, "output must be an object"),
    ],
)
def test_wrong_types_are_schema_errors_naming_the_key(parameters, top, message):
    doc = make_sidecar(parameters)
    doc.update(top)
    with pytest.raises(SidecarSchemaError) as caught:
        parse_record(doc, "project_1_frame_1_variant_0.json")
    assert message in caught.value.reason


@pytest.mark.parametrize("doc", [[1, 2], "a string", 42, None, {"hello": "world"}])
def test_non_kino_json_is_an_error_only_where_a_sidecar_is_expected(doc):
    with pytest.raises(NotASidecarError):
        parse_record(doc, "settings.json", is_expected_sidecar=False)
    with pytest.raises(SidecarSchemaError):
        parse_record(doc, "project_1_frame_1_variant_0.json", is_expected_sidecar=True)


def test_a_bare_string_lora_and_plugin_lora_lists_are_understood():
    doc = make_sidecar(
        {"loras": ["Add_Detail"], "style_loras": [{"lora_name": "ink.pt"}], "use_loras": True}
    )
    record = parse_record(doc, "a.json")
    assert [(u.role, u.key) for u in record.loras] == [
        ("loras", "add_detail"),
        ("style_loras", "ink"),
    ]
    assert ("use_loras", True) in record.extra_parameters


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("add_detail.safetensors", "add_detail"),
        ("Add_Detail", "add_detail"),
        ("loras/add_detail.pt", "add_detail"),
        ("C:\\loras\\Add Detail.ckpt", "add_detail"),
        ("add-detail", "add_detail"),
        ("add  -_detail.bin", "add_detail"),
        ("sd_xl_base_1.0.safetensors", "sd_xl_base_1.0"),
        ("wan2.2_i2v_A14B_Q8_0.gguf", "wan2.2_i2v_a14b_q8_0"),
        (".safetensors", ".safetensors"),
    ],
)
def test_normalise_name(name, key):
    assert normalise_name(name) == key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20251013_150530", dt.datetime(2025, 10, 13, 15, 5, 30)),
        ("2025-10-13T15:05:30", dt.datetime(2025, 10, 13, 15, 5, 30)),
        ("regenerated", None),
        (None, None),
        ("", None),
        ("20251399_999999", None),
    ],
)
def test_parse_timestamp(text, expected):
    assert parse_timestamp(text) == expected


@given(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.integers(min_value=-(10**30), max_value=10**30),
)
def test_int_keys_sort_like_the_integers(a, b):
    assert decode_int_key(encode_int_key(a)) == a
    assert (encode_int_key(a) < encode_int_key(b)) == (a < b)
    assert encode_int_key(a).isdigit()
