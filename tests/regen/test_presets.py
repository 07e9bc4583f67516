"""Presets: files in the library's presets/ folder, exact parameters, open keys, CLI."""

from __future__ import annotations

import json

import pytest

from kino_catalog import Catalog
from kino_catalog.errors import UsageError
from kino_catalog.regen.presets import load_preset


def test_save_from_a_frame_and_load_exactly(catalog, library):
    seed = 2**64 - 1
    path = library.frame(12, 7, parameters={"seed": seed, "cfg_scale": 7.0})
    catalog.sync(library.root)
    saved = catalog.save_preset("portrait", str(path), open_keys=["prompt"])
    assert saved.path == str(library.root / "presets" / "portrait.json")
    loaded = catalog.load_preset("portrait")
    params = json.loads(path.read_bytes())["parameters"]
    del params["prompt"]
    assert loaded.parameters == params
    assert loaded.parameters["seed"] == seed
    assert type(loaded.parameters["cfg_scale"]) is float
    assert loaded.open_keys == ("prompt",)
    assert loaded.missing({"seed": 1}) == ["prompt"]
    assert loaded.missing({"prompt": "x"}) == []
    assert (loaded.plugin, loaded.source) == ("sdxl", str(path))
    # load_preset(root, name) is what `regen --preset` builds on.
    assert load_preset(library.root, "portrait") == loaded
    assert loaded.as_document() == {
        "plugin": "sdxl",
        "plugin_version": "1.0.0",
        "parameters": params,
    }


def test_presets_are_not_frames_and_survive_a_new_catalogue(library, tmp_path):
    path = library.frame(12, 7)
    with Catalog.open(tmp_path / "one.db") as cat:
        cat.sync(library.root)
        cat.save_preset("base", str(path))
        listed = [p.to_dict() for p in cat.presets()]
    with Catalog.open(tmp_path / "two.db") as cat:
        result = cat.sync(library.root)
        assert result.added == 1  # the preset file is not indexed as a frame
        assert cat.count() == 1
        assert [p.to_dict() for p in cat.presets()] == listed


def test_save_from_file_bare_or_sidecar(catalog, library, tmp_path):
    library.frame(12, 7)
    catalog.sync(library.root)
    bare = tmp_path / "bare.json"
    bare.write_text('{"steps": 20, "seed": 18446744073709551615}')
    assert catalog.save_preset("bare", from_file=bare).parameters == {
        "steps": 20,
        "seed": 18446744073709551615,
    }
    sidecar = tmp_path / "side.json"
    sidecar.write_text(json.dumps({"plugin": "wan22_i2v", "parameters": {"num_frames": 81}}))
    saved = catalog.save_preset("wan", from_file=sidecar, open_keys=["seed"])
    assert (saved.plugin, saved.parameters, saved.open_keys) == (
        "wan22_i2v",
        {"num_frames": 81},
        ("seed",),
    )


def test_mistakes(catalog, library, tmp_path):
    path = library.frame(12, 7)
    with pytest.raises(UsageError, match="sync one first"):
        catalog.save_preset("x", from_file=path)
    catalog.sync(library.root)
    catalog.save_preset("x", str(path))
    with pytest.raises(UsageError, match="exists"):
        catalog.save_preset("x", str(path))
    catalog.save_preset("x", str(path), overwrite=True)
    for bad in ("../escape", ".hidden", "a/b", ""):
        with pytest.raises(UsageError, match="bad preset name"):
            catalog.save_preset(bad, str(path))
    with pytest.raises(UsageError, match="no preset"):
        catalog.load_preset("nope")
    other = tmp_path / "other"
    other.mkdir()
    catalog.sync(other)
    with pytest.raises(UsageError, match="several library folders"):
        catalog.save_preset("y", from_file=path)
    catalog.save_preset("y", from_file=path, root=other)
    assert catalog.load_preset("y").path == str(other / "presets" / "y.json")


def test_cli_preset_commands(run_cli, library):
    path = library.frame(12, 7)
    run_cli("sync", str(library.root))
    result = run_cli("preset", "save", "portrait", str(path), "--open", "seed")
    assert result.code == 0, result.err
    listed = run_cli("preset", "list", "--format", "json").json()
    assert [(p["name"], p["open"]) for p in listed] == [("portrait", ["seed"])]
    shown = run_cli("preset", "show", "portrait").json()
    assert "seed" not in shown["parameters"]
    assert shown["parameters"]["steps"] == 30
    assert run_cli("preset", "save", "portrait", str(path)).code == 2
    assert run_cli("preset", "delete", "portrait").code == 0
    assert run_cli("preset", "show", "portrait").code == 2
    assert run_cli("preset", "list", "--format", "json").json() == []


def test_regen_from_a_preset_requires_its_open_keys(run_cli, library):
    path = library.frame(12, 7, parameters={"seed": 2**64 - 1})
    run_cli("sync", str(library.root))
    assert run_cli("preset", "save", "portrait", str(path), "--open", "seed").code == 0

    missing = run_cli("regen", "--preset", "portrait")
    assert missing.code == 2
    assert "leaves seed open" in missing.err

    new_key = run_cli("regen", "--preset", "portrait", "--set", "seed=5", "--set", "nope=1")
    assert new_key.code == 2
    assert "'nope'" in new_key.err

    result = run_cli(
        "regen", "--preset", "portrait", "--set", "seed=18446744073709551615", "--set", "steps=40"
    )
    assert result.code == 0, result.err
    request = result.json()
    assert request["type"] == "sdxl"
    assert request["data"]["parameters"]["seed"] == 2**64 - 1
    assert request["data"]["parameters"]["steps"] == 40
    assert request["source"]["preset"].endswith("portrait.json")
