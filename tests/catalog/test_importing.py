"""`kino-catalog import` end to end: sidecars written, indexed, searchable, listed, regen-able."""

from __future__ import annotations

import json

import pytest

from tests.importers.image_factories import INFOTEXT, comfy_graph, png_with_text


@pytest.fixture
def mixed_folder(tmp_path):
    """A1111 and ComfyUI images (one LoRA written two ways), a broken graph, a Kino frame."""
    folder = tmp_path / "outputs"
    (folder / "comfy").mkdir(parents=True)
    png_with_text(folder / "a1111.png", {"parameters": INFOTEXT})
    png_with_text(folder / "comfy" / "chain.png", {"prompt": json.dumps(comfy_graph())})
    cyclic = comfy_graph()
    cyclic["10"]["inputs"]["model"] = ["30:11", 0]
    png_with_text(folder / "comfy" / "cycle.png", {"prompt": json.dumps(cyclic)})
    png_with_text(folder / "plain.png", {"Software": "GIMP"})
    png_with_text(folder / "project_3_frame_4_variant_0.png", {"parameters": INFOTEXT})
    kino = {"plugin": "sdxl", "parameters": {"prompt": "kino's own", "seed": 1}, "project_id": 3}
    (folder / "project_3_frame_4_variant_0.json").write_text(json.dumps(kino))
    return folder


def test_import_makes_searchable_frames_and_lists_unparsable_metadata(any_catalog, mixed_folder):
    result = any_catalog.import_images([mixed_folder])
    report = result.report
    assert dict(report.written) == {"civitai": 1, "comfyui": 2}
    assert (report.kept_existing, report.no_metadata) == (1, 1)
    assert [e["path"].rsplit("/", 1)[-1] for e in report.errors] == ["cycle.png"]
    assert [r.added for r in result.indexed] == [4]  # three imported + Kino's own

    # LoRAs from a prompt tag and from a LoraLoader chain are one LoRA.
    found = any_catalog.search("lora:add_detail", limit=None)
    assert sorted(f.image_path.rsplit("/", 1)[-1] for f in found) == ["a1111.png", "chain.png"]
    assert any_catalog.count("lora:film_grain") == 2
    assert any_catalog.count("plugin:comfyui seed:18446744073709551615") == 1
    assert any_catalog.count("plugin:civitai hires_upscale:1.5") == 1
    kino_frame = any_catalog.get(str(mixed_folder / "project_3_frame_4_variant_0.png"))
    assert kino_frame.parameters == {"prompt": "kino's own", "seed": 1}  # never overwritten

    errors = any_catalog.errors()
    assert [e["path"].rsplit("/", 1)[-1] for e in errors] == ["cycle.json"]
    assert errors[0]["kind"] == "warning"  # indexed all the same (see below)
    assert errors[0]["reason"].startswith("imported metadata:")
    assert "cycle" in errors[0]["reason"]
    # The broken image still has its frame (raw text kept, searchable by plugin).
    assert any_catalog.count("plugin:comfyui") == 2

    # Everything comes back from disk.
    any_catalog.rebuild(str(mixed_folder))
    assert any_catalog.count("lora:add_detail") == 2
    assert [e["path"].rsplit("/", 1)[-1] for e in any_catalog.errors()] == ["cycle.json"]
    assert (any_catalog.stats()["errors"], any_catalog.stats()["warnings"]) == (0, 1)


def test_importing_again_changes_nothing_and_known_roots_sync_by_path(any_catalog, mixed_folder):
    any_catalog.sync(str(mixed_folder))  # the folder is a library root already
    first = any_catalog.import_images([mixed_folder / "comfy"])
    assert [r.root for r in first.indexed] == [str(mixed_folder)]
    assert any_catalog.count("plugin:comfyui") == 2
    again = any_catalog.import_images([mixed_folder])
    assert sum(again.report.written.values()) == 1  # only a1111.png was new
    third = any_catalog.import_images([mixed_folder])
    assert (sum(third.report.written.values()), third.report.already_imported) == (0, 3)
    assert any_catalog.count() == 4


def test_regen_for_sdxl_lists_what_it_does_not_send(catalog, mixed_folder):
    catalog.import_images([mixed_folder])
    frame = catalog.get(str(mixed_folder / "a1111.png"))
    request = catalog.regen(frame, plugin="sdxl", overrides={"steps": 40})
    params = request["data"]["parameters"]
    assert request["type"] == "sdxl"
    assert params["sampler"] == "dpmpp_2m"
    assert params["scheduler"] == "karras"
    assert params["steps"] == 40
    assert params["seed"] == 2**64 - 1
    assert params["loras"][0] == {
        "lora_name": "add_detail",
        "strength_model": 0.8,
        "strength_clip": 0.8,
    }
    assert set(params) <= {
        "prompt", "negative_prompt", "width", "height", "steps", "cfg_scale",
        "model_name", "sampler", "scheduler", "seed", "loras", "num_variants",
    }  # fmt: skip
    source = request["source"]
    assert source["converted_from"] == "civitai"
    assert {"hires_upscale", "lora_hashes", "template", "civitai_resources"} <= set(
        source["not_sent"]
    )
    assert source["notes"]  # model_name without an extension
    # Without --plugin the request is the frame's own, unchanged.
    assert catalog.regen(frame)["data"]["parameters"] == frame.parameters
    with pytest.raises(Exception, match="no parameter list"):
        catalog.regen(frame, plugin="no_such_plugin")


def test_cli_import_errors_and_regen(run_cli, mixed_folder):
    result = run_cli("import", str(mixed_folder), "--format", "json")
    assert result.code == 0, result.err
    summary = result.json()
    assert summary["written"] == {"civitai": 1, "comfyui": 2}
    assert summary["indexed"][0]["added"] == 4
    text = run_cli("import", str(mixed_folder), "--dry-run")
    assert "3 imported before" in text.out
    assert text.err == ""
    redo = run_cli("import", str(mixed_folder), "--dry-run", "--overwrite-imported")
    assert "3 unchanged" in redo.out
    assert "cycle.png: " in redo.err
    errors = run_cli("errors", "--format", "json").json()
    assert [e["path"].rsplit("/", 1)[-1] for e in errors] == ["cycle.json"]
    regen = run_cli("regen", str(mixed_folder / "a1111.png"), "--plugin", "sdxl")
    assert regen.code == 0, regen.err
    assert json.loads(regen.out)["type"] == "sdxl"
    assert "not sent to sdxl:" in regen.err
    assert "hires_upscale" in regen.err
    assert run_cli("import", str(mixed_folder / "missing")).code == 2
