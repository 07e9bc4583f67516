"""Reading foreign metadata: the shared real samples, and synthetic images for the rest."""

from __future__ import annotations

import hashlib
import json
import zlib

import pytest

from kino_catalog.importers import import_image, import_paths
from kino_catalog.importers.a1111 import parse_infotext, parse_settings
from kino_catalog.importers.container import MAX_TEXT_BYTES, decode_user_comment, read_container
from kino_catalog.importers.image import read_image
from kino_catalog.sidecar import load_generation_params
from kino_catalog.sidecar.limits import MAX_IMPORTED_BYTES, kib
from tests.importers.foreign_samples import SAMPLES, SKIP_REASON, compare, expected_cases
from tests.importers.image_factories import (
    INFOTEXT,
    chunk,
    comfy_graph,
    jpeg_with_user_comment,
    png_bytes,
    png_with_text,
    raw_png,
)

# ---------------------------------------------------------------- the shared samples

CASES = expected_cases()


@pytest.mark.skipif(SAMPLES is None, reason=SKIP_REASON)
@pytest.mark.parametrize(("name", "expected"), CASES, ids=[c[0] for c in CASES])
def test_every_shared_sample_gives_its_expected_values(name, expected):
    read = read_image(str(SAMPLES / name), stealth=True)
    assert compare(expected, read.document) == []


@pytest.mark.skipif(SAMPLES is None, reason=SKIP_REASON)
def test_stealth_metadata_is_read_only_when_asked():
    path = str(SAMPLES / "a1111/sdparsers-a1111_stealth_alpha.png")
    assert read_image(path).status == "no_metadata"
    assert read_image(path, stealth=True).document["parameters"]["prompt"] == "a circle"


@pytest.mark.skipif(SAMPLES is None, reason=SKIP_REASON)
def test_the_shared_samples_import_without_changing_a_byte(tmp_path):
    import shutil

    shutil.copytree(SAMPLES, tmp_path / "s")
    images = sorted(p for p in (tmp_path / "s").rglob("*") if p.suffix != ".json" and p.is_file())
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in images}
    report = import_paths([tmp_path / "s"], stealth=True)
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in images} == before
    assert report.no_metadata == 2  # the two negative samples
    assert sum(report.written.values()) == 20
    # a1111_sd-webui.jpg and .png share a stem: the PNG owns a1111_sd-webui.json.
    assert [e["path"].rsplit("/", 1)[-1] for e in report.errors] == ["a1111_sd-webui.jpg"]


# ---------------------------------------------------------------- A1111 infotext


def test_infotext_loras_hashes_templates_and_json_values():
    parsed = parse_infotext(INFOTEXT)
    params = parsed.parameters
    assert params["prompt"] == (
        "a castle <lora:add_detail:0.8>, <lora:Film-Grain:0.5:0.7>\nsecond line <lyco:loha_style>"
    )
    assert params["negative_prompt"] == "blurry, lowres"
    assert params["seed"] == 2**64 - 1
    assert (params["steps"], params["cfg_scale"]) == (30, 6.5)
    assert (params["width"], params["height"]) == (832, 1216)
    assert (params["sampler"], params["scheduler"]) == ("DPM++ 2M", "Karras")
    assert params["loras"] == [
        {"lora_name": "add_detail", "strength_model": 0.8, "strength_clip": 0.8},
        {"lora_name": "Film-Grain", "strength_model": 0.7, "strength_clip": 0.5},
        {"lora_name": "loha_style", "strength_model": 1.0, "strength_clip": 1.0, "kind": "lyco"},
    ]
    # Lora hashes are kept as written and never rename a LoRA.
    assert params["lora_hashes"] == "add_detail: 1234abcd, Film-Grain: 99ff"
    assert params["civitai_resources"] == [{"type": "lora", "name": "a, b"}]
    assert params["hires_upscale"] == 1.5
    assert params["template"] == "a castle {at dawn|at dusk}\nsecond template line"
    assert params["negative_template"] == "blurry"
    assert parsed.version == "v1.10.1"


def test_settings_with_commas_inside_plain_quoted_and_json_values():
    settings = parse_settings(
        'Steps: 20, Model: my, odd name, TI hashes: "a: 1, b: 2", Extra: {"k": [1, 2]}, Seed: 5'
    )
    assert settings == {
        "Steps": "20",
        "Model": "my, odd name",
        "TI hashes": "a: 1, b: 2",
        "Extra": {"k": [1, 2]},
        "Seed": "5",
    }


def test_infotext_without_a_negative_prompt_or_settings_line():
    assert "negative_prompt" not in parse_infotext("just words\nSteps: 4, Seed: 1").parameters
    with pytest.raises(ValueError, match="no settings line"):
        parse_infotext("just a caption, nothing else")


@pytest.mark.parametrize("itxt", [False, True])
def test_png_text_and_itxt_with_utf8_import_with_loras(tmp_path, itxt):
    path = png_with_text(tmp_path / "a.png", {"parameters": "テスト " + INFOTEXT}, itxt=itxt)
    doc = read_image(str(path)).document
    assert doc["plugin"] == "civitai"  # it has Civitai resources
    assert doc["parameters"]["prompt"].startswith("テスト a castle")
    assert [lora["lora_name"] for lora in doc["parameters"]["loras"]] == [
        "add_detail",
        "Film-Grain",
        "loha_style",
    ]
    assert doc["imported"]["raw"]["parameters"] == "テスト " + INFOTEXT


def test_ztxt_and_compressed_itxt_after_idat_are_found(tmp_path):
    text = INFOTEXT.encode()
    ztxt = chunk(b"zTXt", b"parameters\0\0" + zlib.compress(text))
    itxt = chunk(b"iTXt", b"Comment\0\1\0en\0\0" + zlib.compress(b'{"note": 1}'))
    path = png_bytes(tmp_path / "z.png", raw_png(after=[ztxt, itxt]))
    box = read_container(path.read_bytes())
    assert box.entries == {"parameters": INFOTEXT, "Comment": '{"note": 1}'}
    assert box.problems == []


@pytest.mark.parametrize("codec", ["utf-16-be", "utf-16-le"])
def test_jpeg_user_comment_in_either_utf16_order(tmp_path, codec):
    payload = b"UNICODE\0" + ("日本 " + INFOTEXT).encode(codec)
    path = jpeg_with_user_comment(tmp_path / "a.jpg", payload)
    doc = read_image(str(path)).document
    assert doc["parameters"]["prompt"].startswith("日本 a castle")
    assert doc["parameters"]["steps"] == 30


def test_user_comment_headers():
    assert decode_user_comment(b"ASCII\0\0\0Steps: 1") == "Steps: 1"
    assert decode_user_comment(b"\0" * 8 + "é".encode()) == "é"
    assert decode_user_comment(b"UNICODE\0\xff\xfeA\0") == "A"
    assert decode_user_comment(b"UNICODE\0") is None


# ---------------------------------------------------------------- ComfyUI


def test_comfyui_lora_chain_primitive_seed_and_custom_node(tmp_path):
    path = png_with_text(tmp_path / "c.png", {"prompt": json.dumps(comfy_graph())})
    params = read_image(str(path)).document["parameters"]
    assert params["prompt"] == "a castle at dawn"  # through a primitive node
    assert params["negative_prompt"] == "blurry"
    assert params["seed"] == 2**64 - 1  # through a seed node, exact
    assert (params["steps"], params["cfg_scale"], params["width"], params["height"]) == (
        28,
        6.0,
        832,
        1216,
    )
    assert params["model_name"] == "sdxl/base.safetensors"
    # Applied order: the loader next to the checkpoint first.
    assert params["loras"] == [
        {"lora_name": "styles/Add-Detail.safetensors", "strength_model": 0.8, "strength_clip": 0.6},
        {"lora_name": "film_grain.safetensors", "strength_model": 0.5},
    ]
    custom = [n for n in params["other_nodes"] if n["class_type"] == "MyStudioGrain"]
    assert custom == [{"node": "40", "class_type": "MyStudioGrain", "grain_amount": 0.25}]


def test_comfyui_graphs_in_webp_exif_as_comfyui_saves_them(tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0110] = "prompt:" + json.dumps(comfy_graph(seed=7))  # Model
    exif[0x010F] = "workflow:" + json.dumps({"nodes": []})  # Make
    path = tmp_path / "c.webp"
    Image.new("RGB", (4, 4)).save(path, "WEBP", exif=exif.tobytes())
    doc = read_image(str(path)).document
    assert doc["plugin"] == "comfyui"
    assert doc["parameters"]["seed"] == 7


def test_a_graph_with_a_cycle_is_an_error_with_the_raw_text_kept(tmp_path):
    graph = comfy_graph()
    graph["10"]["inputs"]["model"] = ["30:11", 0]  # 10 -> 30:11 -> 10
    path = png_with_text(tmp_path / "cycle.png", {"prompt": json.dumps(graph)})
    outcome = import_image(str(path))
    assert outcome.status == "written"
    assert outcome.has_error
    assert "cycle" in outcome.reason
    doc = load_generation_params(path)
    assert doc["imported"]["raw"]["prompt"] == json.dumps(graph)
    assert "cycle" in doc["imported"]["error"]


def test_a_deep_graph_does_not_recurse_without_end(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    path = png_with_text(tmp_path / "deep.png", {"prompt": deep})
    outcome = import_image(str(path))
    assert outcome.status == "written"
    assert outcome.has_error


# ---------------------------------------------------------------- damage and limits


def test_a_truncated_png_is_an_error_never_a_crash(tmp_path):
    whole = png_with_text(tmp_path / "w.png", {"parameters": INFOTEXT}).read_bytes()
    cut = png_bytes(tmp_path / "cut.png", whole[: len(whole) - 30])  # inside IDAT/IEND
    outcome = import_image(str(cut))
    assert outcome.has_error
    assert "truncated PNG" in outcome.reason
    # The metadata before the cut is still imported (and the damage listed).
    assert load_generation_params(cut)["parameters"]["steps"] == 30
    header_only = png_bytes(tmp_path / "h.png", whole[:20])
    assert import_image(str(header_only)).status == "error"


def test_a_50_mb_text_chunk_is_refused_naming_the_limit(tmp_path):
    huge = chunk(b"tEXt", b"parameters\0" + b"x" * (50 * 1024 * 1024))
    path = png_bytes(tmp_path / "huge.png", raw_png(before=[huge]))
    outcome = import_image(str(path))
    assert outcome.status == "error"
    assert f"{MAX_TEXT_BYTES // 1024} KiB" in outcome.reason
    assert not (tmp_path / "huge.json").exists()


def test_a_zip_bomb_is_inflated_only_up_to_the_limit(tmp_path):
    bomb = chunk(b"zTXt", b"parameters\0\0" + zlib.compress(b"a" * (64 * 1024 * 1024)))
    box = read_container(raw_png(after=[bomb]))
    assert "parameters" not in box.entries
    assert "KiB" in box.problems[0]


def test_a_sidecar_the_reader_would_refuse_is_never_written(tmp_path):
    # Under the chunk limit, but JSON escaping of the prompt (which is parsed
    # into `parameters`, never compressed) pushes the sidecar over the import
    # limit, even with the raw text left out.
    text = "\x01" * (MAX_IMPORTED_BYTES // 2) + "\nSteps: 1"
    path = png_with_text(tmp_path / "big.png", {"parameters": text})
    outcome = import_image(str(path))
    assert outcome.status == "error"
    assert f"over the {kib(MAX_IMPORTED_BYTES)} imported sidecar limit" in outcome.reason
    assert not (tmp_path / "big.json").exists()


def test_a_jpeg_with_broken_exif_is_an_error_never_a_crash(tmp_path):
    good = jpeg_with_user_comment(
        tmp_path / "g.jpg", b"ASCII\0\0\0" + INFOTEXT.encode()
    ).read_bytes()
    start = good.index(b"Exif\0\0") + 6
    broken = good[:start] + b"II*\0\xff\xff\xff\x7f" + good[start + 8 :]  # IFD offset far away
    path = png_bytes(tmp_path / "broken.jpg", broken)
    outcome = import_image(str(path))
    assert outcome.status == "error"
    assert "EXIF" in outcome.reason
    assert import_image(str(png_bytes(tmp_path / "x.jpg", b"\xff\xd8garbage"))).status == "error"


def test_not_an_image_and_no_metadata(tmp_path):
    (tmp_path / "a.png").write_bytes(b"not a png at all")
    assert import_image(str(tmp_path / "a.png")).status == "error"
    plain = png_with_text(tmp_path / "plain.png", {"Comment": "Created with GIMP"})
    assert import_image(str(plain)).status == "no_metadata"
    assert not (tmp_path / "plain.json").exists()


# ---------------------------------------------------------------- writing rules


def test_importing_twice_changes_nothing_and_kino_sidecars_are_never_replaced(tmp_path):
    image = png_with_text(tmp_path / "a.png", {"parameters": INFOTEXT})
    image_bytes = image.read_bytes()
    assert import_image(str(image)).status == "written"
    sidecar = tmp_path / "a.json"
    first = (sidecar.read_bytes(), sidecar.stat().st_mtime_ns)
    assert import_image(str(image)).status == "already_imported"
    assert import_image(str(image), overwrite_imported=True).status == "unchanged"
    assert (sidecar.read_bytes(), sidecar.stat().st_mtime_ns) == first
    assert image.read_bytes() == image_bytes
    doc = json.loads(first[0])
    assert doc["imported"]["image_sha256"] == hashlib.sha256(image_bytes).hexdigest()

    kino = png_with_text(tmp_path / "project_1_frame_2_variant_0.png", {"parameters": INFOTEXT})
    own = b'{"plugin": "sdxl", "parameters": {"prompt": "mine"}}'
    (tmp_path / "project_1_frame_2_variant_0.json").write_bytes(own)
    for overwrite in (False, True):
        outcome = import_image(str(kino), overwrite_imported=overwrite)
        assert outcome.status == "kept_existing"
    assert (tmp_path / "project_1_frame_2_variant_0.json").read_bytes() == own


def test_dry_run_writes_nothing(tmp_path):
    png_with_text(tmp_path / "a.png", {"parameters": INFOTEXT})
    report = import_paths([tmp_path], dry_run=True)
    assert report.written == {"civitai": 1}
    assert not (tmp_path / "a.json").exists()


def test_a_batch_big_enough_for_two_processes(tmp_path):
    for i in range(70):
        png_with_text(tmp_path / f"img_{i:03d}.png", {"parameters": INFOTEXT.replace("30", str(i))})
    report = import_paths([tmp_path])
    assert sum(report.written.values()) == 70
    assert report.errors == []
    assert load_generation_params(tmp_path / "img_042.png")["parameters"]["steps"] == 42
