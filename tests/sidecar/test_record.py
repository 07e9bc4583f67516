"""Every real Kino sidecar variant becomes a typed record; a wrong type is a warning."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kino_catalog.errors import NotASidecarError, SidecarSchemaError
from kino_catalog.sidecar.record import (
    MAX_WARNINGS,
    TYPED_PARAMETERS,
    _lora_uses,
    _odd_lora,
    decode_int_key,
    encode_int_key,
    normalise_name,
    parse_record,
    parse_timestamp,
)
from kino_catalog.sidecar.typed_fields import Checker, checked_fields, well_typed
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
    ("parameters", "top", "message", "empty"),
    [
        ({"steps": "30"}, {}, "parameters.steps must be an integer, not a string '30'", "steps"),
        ({"seed": "abc"}, {}, "parameters.seed must be an integer", "seed"),
        ({"seed": 1.5}, {}, "parameters.seed must be an integer", "seed"),
        ({"seed": 1e300}, {}, "parameters.seed must be an integer", "seed"),
        ({"seed": 10**1000}, {}, "parameters.seed is an integer too long to index", "seed"),
        ({"steps": True}, {}, "parameters.steps must be an integer, not a boolean", "steps"),
        ({"steps": 2**63}, {}, "parameters.steps 9223372036854775808 is out of the", "steps"),
        ({"width": 30.5}, {}, "parameters.width must be an integer, not a number 30.5", "width"),
        ({"cfg_scale": "7"}, {}, "parameters.cfg_scale must be a number", "cfg_scale"),
        ({"cfg_scale": 10**400}, {}, "parameters.cfg_scale must be a number", "cfg_scale"),
        ({"loras": {}}, {}, "parameters.loras must be a list, not an object", "loras"),
        ({"loras": [3]}, {}, "parameters.loras[0] must be an object", "loras"),
        (
            {"loras": [{"strength_model": 1}]},
            {},
            "parameters.loras[0].lora_name is missing",
            "loras",
        ),
        ({"prompt": ["a"]}, {}, "parameters.prompt must be a string, not a list", "prompt"),
        ({"model_name": 5}, {}, "parameters.model_name must be a string", "model_name"),
        ({}, {"project_id": "twelve"}, "project_id must be an integer", "project_id"),
        ({}, {"task_id": {}}, "task_id must be an integer, not an object", "task_id"),
        ({}, {"timestamp": 20251013}, "timestamp must be a string", "timestamp"),
        ({}, {"output": "x.png"}, "output must be an object", "output_filename"),
        ({}, {"plugin_version": [1]}, "plugin_version must be a string", "plugin_version"),
        ({}, {"rating": "5"}, "rating must be an integer from 0 to 5", "extras.rating"),
        ({}, {"tags": "hero"}, "tags must be a list of strings", "extras.tags"),
    ],
)
def test_a_wrong_type_leaves_its_field_empty_and_is_a_warning(parameters, top, message, empty):
    doc = make_sidecar(parameters)
    doc.update(top)
    record = parse_record(doc, "frame.json")  # no Kino name to take a project id from
    assert any(message in w for w in record.warnings), record.warnings
    owner = record.extras if empty.startswith("extras.") else record
    assert getattr(owner, empty.removeprefix("extras.")) in (None, ())
    # Everything else of the frame is still there.
    assert record.plugin == "sdxl"
    if empty != "prompt":
        assert record.prompt == "a cinematic portrait, 85mm, soft light"
    if empty != "seed":
        assert record.seed == 1234567890
    assert record.parameters is doc["parameters"]  # kept exactly, odd value and all


def test_a_bad_lora_item_costs_only_that_item():
    doc = make_sidecar(
        {"loras": [{"lora_name": "a", "strength_model": "hi"}, 3, "b", {"name": "c"}, {}]}
    )
    record = parse_record(doc, "a.json")
    assert [(u.name, u.position, u.strength_model) for u in record.loras] == [
        ("a", 0, None),
        ("b", 2, None),
        ("c", 3, None),
    ]
    assert record.warnings == (
        "parameters.loras[0].strength_model must be a number, not a string 'hi'",
        "parameters.loras[1] must be an object, not an integer 3",
        "parameters.loras[4].lora_name is missing",
    )


def test_many_warnings_are_capped():
    doc = make_sidecar({"loras": list(range(1000))})
    record = parse_record(doc, "a.json")
    assert len(record.warnings) == MAX_WARNINGS + 1
    assert record.warnings[-1] == f"and {1000 - MAX_WARNINGS} more"


@pytest.mark.parametrize(
    ("parameters", "top", "message"),
    [
        ({}, {"parameters": [1]}, "parameters must be an object, not a list"),
        ({}, {"plugin": 3}, "plugin must be a non-empty string"),
        ({}, {"plugin": ""}, "plugin must be a non-empty string"),
    ],
)
def test_a_document_that_is_not_a_kino_sidecar_is_an_error(parameters, top, message):
    doc = make_sidecar(parameters)
    doc.update(top)
    with pytest.raises(SidecarSchemaError) as caught:
        parse_record(doc, "project_1_frame_1_variant_0.json")
    assert message in caught.value.reason


def test_integral_floats_are_integers_and_the_document_keeps_them():
    doc = make_sidecar(
        {"steps": 30.0, "seed": 1234.0, "width": 1024.0, "height": -0.0},
        task_id=3.0,
        project_id=12.0,
        rating=4.0,
    )
    record = parse_record(doc, "a.json")
    assert record.warnings == ()
    assert (record.steps, record.seed, record.width, record.height) == (30, 1234, 1024, 0)
    assert all(type(v) is int for v in (record.steps, record.seed, record.width, record.height))
    assert (record.task_id, record.project_id, record.extras.rating) == (3, 12, 4)
    assert type(record.parameters["steps"]) is float  # the sidecar's own 30.0 is kept


def test_a_float_too_large_to_be_exact_is_not_a_seed():
    # 2**64 - 1 written as a float is 18446744073709551616: not the seed anybody used.
    record = parse_record(make_sidecar({"seed": float(2**64 - 1)}), "a.json")
    assert record.seed is None
    assert record.warnings


_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_KNOWN = sorted(TYPED_PARAMETERS | {"loras", "high_loras", "style_loras", "num_frames"})


@given(
    st.dictionaries(st.sampled_from(_KNOWN), _JSON, max_size=6),
    st.dictionaries(
        st.sampled_from(
            [
                "task_id",
                "project_id",
                "frame_id",
                "timestamp",
                "output",
                "plugin_version",
                "tags",
                "rating",
                "notes",
                "image_hash",
                "system_info",
                "imported",
            ]
        ),
        _JSON,
        max_size=4,
    ),
)
def test_any_values_in_known_keys_give_a_frame(parameters, top):
    doc = {"plugin": "sdxl", "parameters": parameters, **top}
    record = parse_record(doc, "project_1_frame_2_variant_0.json")
    assert record.parameters == parameters
    for key in ("steps", "width", "height"):
        value = getattr(record, key)
        assert value is None or (type(value) is int and -(2**63) <= value < 2**63)
    assert record.seed is None or type(record.seed) is int
    assert record.cfg_scale is None or type(record.cfg_scale) is float
    for key in ("prompt", "negative_prompt", "model_name", "sampler", "scheduler"):
        assert getattr(record, key) is None or type(getattr(record, key)) is str
    # A typed field is empty only where the value was absent, null or noted in a warning.
    is_capped = bool(record.warnings) and record.warnings[-1].startswith("and ")
    for key in ("steps", "seed", "cfg_scale", "prompt", "model_name"):
        if getattr(record, key) is None and parameters.get(key) is not None and not is_capped:
            assert any(w.startswith(f"parameters.{key}") for w in record.warnings)


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


# ------------------------------------------------- the fast reading of plain sidecars
# parse_record reads a document whose known keys all have their plain types in
# one pass of type tests (well_typed), and a LoRA item of the usual shape
# without the checker; anything else goes to the checker.  Where the fast
# reading answers, it must answer exactly what the checker would.


def _plain_or_odd(plain):
    """Mostly the key's plain type (so the fast path is taken), sometimes anything."""
    return plain | plain | _JSON_SCALARS | st.just("12") | st.just(30.0)


_INTS = st.integers(min_value=-(2**64), max_value=2**64)  # across the 64-bit bounds
_TEXTS = st.none() | st.text(max_size=5)
_FIELD_VALUES = {
    **{k: _plain_or_odd(_TEXTS) for k in ("prompt", "negative_prompt", "model_name")},
    **{k: _plain_or_odd(_TEXTS) for k in ("sampler", "scheduler")},
    **{k: _plain_or_odd(st.none() | _INTS) for k in ("seed", "steps", "width", "height")},
    "cfg_scale": _plain_or_odd(st.none() | _INTS | st.floats(allow_nan=False)),
}
_TOP_VALUES = {
    "plugin_version": _plain_or_odd(_TEXTS),
    "timestamp": _plain_or_odd(_TEXTS),
    "output": _plain_or_odd(st.none() | st.fixed_dictionaries({}, optional={"filename": _TEXTS})),
    **{k: _plain_or_odd(st.none() | _INTS) for k in ("task_id", "project_id", "frame_id")},
}


def _typed(values):
    return [(type(v), v) for v in values]  # 1, 1.0 and True are equal; their types are not


@settings(max_examples=300)  # about one in six takes the fast path
@given(
    st.fixed_dictionaries({}, optional=_FIELD_VALUES),
    st.fixed_dictionaries({}, optional=_TOP_VALUES),
)
def test_the_fast_reading_of_typed_fields_agrees_with_the_checker(parameters, top):
    doc = {"plugin": "sdxl", "parameters": parameters, **top}
    check = Checker("a.json")
    checked = checked_fields(doc, parameters, check)
    fast = well_typed(doc, parameters)
    if fast is not None:
        assert _typed(fast) == _typed(checked)
        assert check.warnings == []


def test_a_plain_sidecar_takes_the_fast_reading():
    doc = make_sidecar({"seed": 2**64 - 1, "cfg_scale": 7})
    fields = well_typed(doc, doc["parameters"])
    assert fields is not None
    assert fields[11] == 2**64 - 1
    assert _typed([fields[13]]) == [(float, 7.0)]
    for odd in ({"steps": 30.0}, {"steps": True}, {"seed": "1"}, {"width": 2**63}):
        doc = make_sidecar(odd)
        assert well_typed(doc, doc["parameters"]) is None
    plain = make_sidecar()
    assert well_typed({**plain, "project_id": "12"}, plain["parameters"]) is None


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "lora_name": _plain_or_odd(_TEXTS),
            "name": _plain_or_odd(_TEXTS),
            "strength_model": _plain_or_odd(st.none() | st.floats(allow_nan=False)),
            "strength_clip": _plain_or_odd(st.none() | st.floats(allow_nan=False)),
        },
    )
)
def test_the_fast_reading_of_a_lora_item_agrees_with_the_checker(item):
    fast_check, odd_check = Checker("a.json"), Checker("a.json")
    uses = _lora_uses("loras", [item], fast_check)
    odd = _odd_lora("loras", 0, item, odd_check)
    assert uses == ([] if odd is None else [odd])
    assert [_typed([u.strength_model, u.strength_clip]) for u in uses] == (
        [] if odd is None else [_typed([odd.strength_model, odd.strength_clip])]
    )
    assert fast_check.warnings == odd_check.warnings
