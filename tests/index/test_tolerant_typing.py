"""A readable sidecar is never dropped for one odd value (DESIGN §4, issue 15 item 8).

A known key with a wrong type leaves its typed column empty and is listed as a
warning; an integral float is an integer.  Sync, rebuild and file-by-file
indexing (the watcher's call) must agree on all of it, on both databases.
"""

from __future__ import annotations

import json
import os

import pytest

from kino_catalog import Catalog
from kino_catalog.index.sync import sync_paths
from tests.catalog_state import catalog_state
from tests.factories import ODD_VALUES, make_sidecar

WARNED = sorted(k for k in ODD_VALUES if k not in {"steps 30.0", "integral floats everywhere"})


def _odd_library(library):
    """One frame per odd value, a plain frame, and two files that are errors."""
    written = {}
    for n, (kind, (parameters, top)) in enumerate(sorted(ODD_VALUES.items()), start=10):
        written[kind] = library.frame(1, n, parameters=parameters, **top)
    written["plain"] = library.frame(1, 1)
    library.write("frames/project_1_frame_2_variant_0.json", b'{"plugin": "sdxl", "param')
    library.write("frames/project_1_frame_3_variant_0.json", json.dumps(make_sidecar(plugin=3)))
    return written


@pytest.mark.parametrize("kind", WARNED)
def test_an_odd_value_keeps_the_frame_findable_and_is_a_warning(any_catalog, library, kind):
    parameters, top = ODD_VALUES[kind]
    good = library.frame(1, 1)
    odd = library.frame(1, 2, parameters=parameters, **top)
    before = library.snapshot()

    result = any_catalog.sync(library.root)

    assert (result.added, result.errors, result.warned) == (2, 0, 1)
    frame = any_catalog.get(odd)  # indexed, with its document exactly as written
    assert frame.parameters == json.loads(odd.read_bytes())["parameters"]
    # Findable by everything that is fine about it.
    assert any_catalog.count("plugin:sdxl") == 2
    if "seed" not in parameters:
        assert any_catalog.count("seed:1234567890") == 2
    if "prompt" not in parameters:
        assert any_catalog.count('"cinematic portrait"') == 2
    if "model_name" not in parameters:
        assert any_catalog.count("model:sd_xl_base_1.0") == 2
    # The odd key itself is not trusted: only the good frame has steps 30, the LoRA...
    if "steps" in parameters:
        assert [f.sidecar_path for f in any_catalog.search("steps:30")] == [str(good)]
    if "loras" in parameters:
        assert [f.sidecar_path for f in any_catalog.search("lora:add_detail")] == [str(good)]

    [listed] = any_catalog.errors()
    assert (listed["kind"], listed["path"]) == ("warning", str(odd))
    assert "must be" in listed["reason"] or "64-bit" in listed["reason"]
    stats = any_catalog.stats()
    assert (stats["frames"], stats["errors"], stats["warnings"]) == (2, 0, 1)
    assert library.snapshot() == before  # indexing modified nothing

    # An unchanged file is not read again; fixing it clears the warning.
    again = any_catalog.sync(library.root)
    assert (again.unchanged, again.updated, again.warned) == (2, 0, 1)
    library.frame(1, 2)
    fixed = any_catalog.sync(library.root)
    assert (fixed.updated, fixed.warned, any_catalog.errors()) == (1, 0, [])
    assert any_catalog.count("steps:30") == 2


def test_a_loras_list_keeps_its_good_items(catalog, library):
    parameters, top = ODD_VALUES["a bad LoRA among good ones"]
    library.frame(1, 1, parameters=parameters, **top)
    catalog.sync(library.root)
    assert catalog.count("lora:film_grain") == 1
    [warning] = catalog.errors()
    assert warning["reason"] == (
        "parameters.loras[0] must be an object, not an integer 3; "
        "parameters.loras[1].strength_model must be a number, not a string 'x'; "
        "parameters.loras[2].lora_name is missing"
    )


def test_an_integral_float_is_an_integer_and_regen_gives_it_back(any_catalog, library):
    odd = library.frame(1, 2, parameters={"steps": 30.0, "width": 832.0, "seed": 77.0})
    result = any_catalog.sync(library.root)
    assert (result.added, result.warned, any_catalog.errors()) == (1, 0, [])
    assert any_catalog.count("steps:30 width:832 seed:77") == 1
    assert any_catalog.count("steps:20..30") == 1
    frame = any_catalog.get(odd)
    shown = frame.to_dict()
    assert (shown["steps"], type(shown["steps"])) == (30.0, float)  # the sidecar's JSON type
    request = any_catalog.regen(frame)
    assert request["data"]["parameters"] == json.loads(odd.read_bytes())["parameters"]
    assert '"steps": 30.0' in json.dumps(request)


def test_sync_rebuild_and_file_by_file_agree_on_odd_values(tmp_path, library):
    files = _odd_library(library)
    with (
        Catalog.open(tmp_path / "sync.db") as synced,
        Catalog.open(tmp_path / "rebuild.db") as rebuilt,
        Catalog.open(tmp_path / "one.db") as one,
    ):
        result = synced.sync(library.root)
        assert (result.added, result.errors, result.warned) == (
            len(ODD_VALUES) + 1,
            2,
            len(WARNED),
        )
        rebuilt.sync(library.root)
        rebuilt.rebuild(library.root)
        for path in sorted(library.root.rglob("*.json")):
            sync_paths(one.engine, library.root, [os.path.relpath(path, library.root)])
        state = catalog_state(synced)
        assert state == catalog_state(rebuilt)
        assert state == catalog_state(one)
        kinds = {(e["kind"], os.path.basename(e["path"])) for e in synced.errors()}
        assert ("warning", files["steps as a string"].name) in kinds
        assert ("error", "project_1_frame_3_variant_0.json") in kinds
        assert ("warning", files["steps 30.0"].name) not in kinds


@pytest.mark.postgres
def test_postgresql_indexes_odd_values_as_sqlite_does(tmp_path, pg_url, library):
    _odd_library(library)
    with Catalog.open(tmp_path / "c.db") as lite, Catalog.open(pg_url) as pg:
        lite.sync(library.root)
        pg.sync(library.root)
        assert catalog_state(pg) == {k: v for k, v in catalog_state(lite).items() if k != "fts"}
        pg.rebuild(library.root)
        assert catalog_state(pg) == {k: v for k, v in catalog_state(lite).items() if k != "fts"}


def test_errors_and_stats_on_the_command_line(run_cli, library):
    _odd_library(library)
    assert run_cli("sync", str(library.root)).code == 0
    listed = run_cli("errors", "--format", "json").json()
    assert {e["kind"] for e in listed} == {"error", "warning"}
    assert sum(e["kind"] == "warning" for e in listed) == len(WARNED)
    text = run_cli("errors").out.splitlines()
    assert any(
        line.endswith(": error: plugin must be a non-empty string, not an integer 3")
        for line in text
    )
    assert any(
        ": warning: parameters.steps must be an integer, not a string '30'" in line for line in text
    )
    stats = run_cli("stats", "--format", "json").json()
    assert (stats["frames"], stats["errors"], stats["warnings"]) == (
        len(ODD_VALUES) + 1,
        2,
        len(WARNED),
    )
    summary = run_cli("sync", str(library.root)).out
    assert f"{len(WARNED)} with warnings" in summary
