"""What kino-catalog writes stays readable by kino-catalog (issue 21).

Every kind of write, at its limit and one byte (or item) over: accepted and
searchable at the limit, refused over it with one line naming the frame and
the limit, the sidecar's bytes untouched.  Rebuilding after the edits gives
the same catalogue, and a large imported ComfyUI graph indexes like any frame.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from typing import TYPE_CHECKING, Any

import pytest

from kino_catalog.catalog import edits as annotate
from kino_catalog.errors import SidecarLimitError, UsageError
from kino_catalog.importers.document import raw_texts
from kino_catalog.regen.presets import load_preset, save_preset
from kino_catalog.sidecar import dumps_sidecar, load_generation_params, save_generation_params_sync
from kino_catalog.sidecar.limits import (
    MAX_IMPORTED_BYTES,
    MAX_NOTES_BYTES,
    MAX_PRESET_BYTES,
    MAX_SIDECAR_BYTES,
    MAX_TAG_CHARS,
    MAX_TAGS,
)
from kino_catalog.testing.comfy import with_post_chain
from tests.catalog_state import catalog_state
from tests.factories import PNG_8X8, make_sidecar
from tests.importers.image_factories import comfy_graph, png_with_text

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from kino_catalog import Catalog
    from tests.factories import Library

READ_LIMIT = "over the 1024 KiB limit the catalogue reads"
NAME = "project_5_frame_1_variant_0"
PNG_SHA256 = hashlib.sha256(PNG_8X8).hexdigest()


def _doc(pad_chars: int, **top: Any) -> dict[str, Any]:
    return make_sidecar(
        {"prompt": "a lighthouse at dusk", "seed": 77, "padding": "p" * pad_chars},
        output={"filename": f"{NAME}.png", "path": f"/kino/{NAME}.png"},
        **top,
    )


def _sized_frame(library: Library, change: Callable[[dict[str, Any]], bool], size: int) -> Path:
    """A Kino frame whose sidecar will be exactly ``size`` bytes once ``change`` is applied."""

    def edited_size(pad_chars: int) -> int:
        edited = _doc(pad_chars)
        assert change(edited)
        return len(dumps_sidecar(edited))

    pad = 1000 + size - edited_size(1000)
    assert edited_size(pad) == size
    return library.write(f"frames/{NAME}.json", _doc(pad))


# (kind, the Catalog call, the same change as a function, a query that finds the result)
EDITS: list[tuple[str, Callable[[Catalog, str], Any], Callable[[dict[str, Any]], bool], str]] = [
    ("tag", lambda cat, p: cat.tag(["Edge"], [p]), annotate.add_tags(["Edge"]), "tag:edge"),
    ("rating", lambda cat, p: cat.rate(4, [p]), annotate.set_rating(4), "rating:4"),
    (
        "notes",
        lambda cat, p: cat.note("redo at dawn", p),
        annotate.set_notes("redo at dawn"),
        "notes:dawn",
    ),
    (
        "hash",
        lambda cat, p: cat.hash_images("lighthouse"),
        annotate.set_image_hash(PNG_SHA256),
        f"hash:{PNG_SHA256}",
    ),
]


@pytest.mark.parametrize(("kind", "edit", "change", "query"), EDITS, ids=[e[0] for e in EDITS])
@pytest.mark.parametrize("over", [0, 1], ids=["at the limit", "one byte over"])
def test_an_edit_is_kept_up_to_the_reading_limit_and_refused_past_it(
    any_catalog, library, kind, edit, change, query, over
):
    path = _sized_frame(library, change, MAX_SIDECAR_BYTES + over)
    any_catalog.sync(library.root)
    before = path.read_bytes()

    result = edit(any_catalog, str(path))

    assert any_catalog.count("lighthouse") == 1  # the frame never leaves the catalogue
    if not over:
        assert (result.changed, result.failed) == (1, [])
        assert path.stat().st_size == MAX_SIDECAR_BYTES
        assert any_catalog.count(query) == 1
        assert any_catalog.errors() == []
    else:
        assert result.changed == 0
        [failure] = result.failed
        assert failure["path"] == str(path)
        assert READ_LIMIT in failure["reason"]
        assert "\n" not in failure["reason"]
        assert path.read_bytes() == before
        assert any_catalog.count(query) == 0


def test_tag_length_and_count_at_and_over_their_limits(any_catalog, library):
    path = library.frame(12, 7)
    any_catalog.sync(library.root)
    longest = "t" * MAX_TAG_CHARS
    assert any_catalog.tag([longest], [str(path)]).changed == 1
    assert any_catalog.count(f"tag:{longest}") == 1

    before = path.read_bytes()
    with pytest.raises(UsageError, match=f"101 characters, over the {MAX_TAG_CHARS}-character"):
        any_catalog.tag(["t" * (MAX_TAG_CHARS + 1)], [str(path)])
    with pytest.raises(UsageError, match="100,000 characters"):
        any_catalog.tag(["y" * 100_000], [str(path)])  # what issue 21 found accepted
    assert path.read_bytes() == before

    # Up to MAX_TAGS per frame (the long one above is one of them) ...
    many = [f"tag{i:03d}" for i in range(MAX_TAGS - 1)]
    assert any_catalog.tag(many, [str(path)]).changed == 1
    assert any_catalog.count("tag:tag098") == 1
    assert len(json.loads(path.read_bytes())["tags"]) == MAX_TAGS
    # ... and one more is refused for that frame, naming it and the limit.
    before = path.read_bytes()
    result = any_catalog.tag(["one-too-many"], [str(path)])
    assert result.changed == 0
    assert result.failed == [
        {
            "path": str(path),
            "reason": f"{MAX_TAGS + 1} tags, over the limit of {MAX_TAGS} tags per frame; "
            "left unchanged",
        }
    ]
    assert path.read_bytes() == before
    assert any_catalog.count("tag:tag000") == 1
    # Adding tags the frame already has is not adding.
    assert any_catalog.tag(["TAG000"], [str(path)]).unchanged == 1


def test_tags_over_the_limits_written_by_hand_are_read_and_can_be_removed(any_catalog, library):
    long_tag = "L" * 300  # an older kino-catalog accepted 100,000 characters
    path = library.frame(12, 7, tags=[long_tag, *(f"t{i}" for i in range(MAX_TAGS + 5))])
    any_catalog.sync(library.root)
    assert any_catalog.count(f"tag:{long_tag.lower()} tag:t104") == 1
    assert any_catalog.tag(["more"], [str(path)]).failed  # already over the count: no more
    assert (
        any_catalog.tag(
            [long_tag, "t0", "t1", "t2", "t3", "t4", "t5"], [str(path)], remove=True
        ).changed
        == 1
    )
    assert any_catalog.count(f"tag:{long_tag.lower()}") == 0
    assert any_catalog.tag(["more"], [str(path)]).changed == 1
    assert len(json.loads(path.read_bytes())["tags"]) == MAX_TAGS


def test_notes_at_and_over_their_limit(any_catalog, library):
    path = library.frame(12, 7)
    any_catalog.sync(library.root)
    # 64 KiB exactly, with multi-byte characters and lines: the limit is UTF-8 bytes.
    line = "é" * 40 + "\n"  # 81 bytes
    text = line * (MAX_NOTES_BYTES // 81)
    text += "x" * (MAX_NOTES_BYTES - len(text.encode()))
    assert len(text.encode()) == MAX_NOTES_BYTES
    assert any_catalog.note(text, str(path)).changed == 1
    assert any_catalog.count("notes:éé") == 1

    before = path.read_bytes()
    with pytest.raises(UsageError, match="65,537 bytes, over the 64 KiB notes limit"):
        any_catalog.note(text + "x", str(path))
    with pytest.raises(UsageError, match="1,200,000 bytes"):
        any_catalog.note("y" * 1_200_000, str(path))  # what issue 21 found accepted
    with pytest.raises(UsageError, match="control characters"):
        any_catalog.note("bell\x07", str(path))
    assert path.read_bytes() == before
    assert any_catalog.count("notes:éé") == 1


def test_rebuild_after_every_kind_of_edit_equals_the_catalogue(any_catalog, library):
    a = library.frame(12, 1, parameters={"prompt": "castle", "seed": 5})
    b = library.frame(12, 2, parameters={"prompt": "castle", "seed": 6})
    any_catalog.sync(library.root)
    any_catalog.tag([f"t{i}" for i in range(MAX_TAGS)], [str(a)])
    any_catalog.tag(["x" * MAX_TAG_CHARS], [str(b)])
    any_catalog.rate(5, [str(a)])
    any_catalog.note("n" * MAX_NOTES_BYTES, str(a))
    any_catalog.note("short", str(b))
    assert any_catalog.hash_images("").changed == 2
    assert any_catalog.tag(["over"], [str(a)]).failed  # refused: a stays as it was
    assert any_catalog.count("castle tag:t99 rating:5 notes:nnn") == 1

    before = catalog_state(any_catalog)
    any_catalog.rebuild(library.root)
    assert catalog_state(any_catalog) == before


def test_an_imported_frame_has_room_for_every_added_key(any_catalog, tmp_path):
    """An import fills at most MAX_IMPORTED_BYTES; tags and notes at their limits still fit."""
    folder = tmp_path / "comfy"
    folder.mkdir()
    # A prompt text that is parsed into `parameters` (never compressed), sized so
    # the sidecar lands just under the import limit.
    graph = comfy_graph()
    graph["20"]["inputs"]["value"] = "a castle " + "\x01" * 60_000
    image = png_with_text(folder / "big.png", {"prompt": json.dumps(graph)})
    any_catalog.import_images([folder])
    sidecar = folder / "big.json"
    size = sidecar.stat().st_size
    assert 0.7 * MAX_IMPORTED_BYTES < size <= MAX_IMPORTED_BYTES
    any_catalog.tag([f"{i:02d}" + "é" * (MAX_TAG_CHARS - 2) for i in range(MAX_TAGS)], [str(image)])
    any_catalog.note("\n" * MAX_NOTES_BYTES, str(image))
    any_catalog.rate(3, [str(image)])
    assert any_catalog.hash_images("").changed == 1
    assert sidecar.stat().st_size <= MAX_SIDECAR_BYTES
    assert any_catalog.count("castle rating:3 tag:00*") == 1


def test_a_large_comfyui_graph_imports_and_indexes(any_catalog, tmp_path):
    folder = tmp_path / "comfy"
    folder.mkdir()
    graph, workflow = with_post_chain(comfy_graph(), 1500)
    texts = {"prompt": json.dumps(graph), "workflow": json.dumps(workflow)}
    raw_size = sum(len(t) for t in texts.values())
    assert raw_size > 500_000  # several hundred KB of graph, as big workflows are
    image = png_with_text(folder / "big.png", texts)

    result = any_catalog.import_images([folder])

    assert dict(result.report.written) == {"comfyui": 1}
    assert result.report.errors == []
    sidecar = folder / "big.json"
    assert sidecar.stat().st_size <= MAX_IMPORTED_BYTES
    doc = load_generation_params(image)
    assert raw_texts(doc["imported"]) == texts  # nothing lost: the graph comes back verbatim
    assert doc["imported"]["raw"] == {}
    assert any_catalog.errors() == []
    assert any_catalog.count("plugin:comfyui lora:add_detail seed:18446744073709551615") == 1
    frame = any_catalog.get(str(image))
    assert frame.parameters["steps"] == 28
    # The kept-as-written nodes of the long chain are searchable too.
    assert any_catalog.count("castle") == 1

    any_catalog.tag(["graph"], [str(image)])
    before = catalog_state(any_catalog)
    any_catalog.rebuild(str(folder))
    assert catalog_state(any_catalog) == before


def test_raw_metadata_too_big_even_compressed_stays_in_the_image_only(any_catalog, tmp_path):
    folder = tmp_path / "comfy"
    folder.mkdir()
    rng = random.Random(7)
    noise = "".join(
        rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        for _ in range(2_000_000)
    )
    workflow = json.dumps({"nodes": [{"type": "LoadImageBase64", "widgets_values": [noise]}]})
    image = png_with_text(
        folder / "embedded.png", {"prompt": json.dumps(comfy_graph()), "workflow": workflow}
    )

    result = any_catalog.import_images([folder])

    assert dict(result.report.written) == {"comfyui": 1}
    doc = load_generation_params(image)
    assert doc["imported"]["raw_omitted"] == {
        "workflow": {
            "bytes": len(workflow),
            "sha256": hashlib.sha256(workflow.encode()).hexdigest(),
        }
    }
    assert "workflow" not in raw_texts(doc["imported"])
    assert "prompt" in raw_texts(doc["imported"])
    assert any_catalog.count("plugin:comfyui lora:add_detail") == 1
    [error] = any_catalog.errors()
    assert "left out of the sidecar" in error["reason"]
    assert "the image still holds it" in error["reason"]


def test_presets_at_and_over_their_limit(tmp_path):
    def saved_size(pad: int) -> int:
        preset = save_preset(tmp_path, "edge", {"steps": 30, "pad": "p" * pad}, overwrite=True)
        return os.path.getsize(preset.path)

    pad = 1000 + MAX_PRESET_BYTES - saved_size(1000)
    save_preset(tmp_path, "edge", {"steps": 30, "pad": "p" * pad}, overwrite=True)
    assert len((tmp_path / "presets" / "edge.json").read_bytes()) == MAX_PRESET_BYTES
    assert load_preset(tmp_path, "edge").parameters["steps"] == 30

    before = (tmp_path / "presets" / "edge.json").read_bytes()
    with pytest.raises(SidecarLimitError, match="over the 512 KiB preset limit; not written"):
        save_preset(tmp_path, "edge", {"steps": 30, "pad": "p" * (pad + 1)}, overwrite=True)
    assert (tmp_path / "presets" / "edge.json").read_bytes() == before
    with pytest.raises(SidecarLimitError, match="preset limit"):
        save_preset(tmp_path, "other", {"steps": 30, "pad": "p" * (pad + 1)})
    assert not (tmp_path / "presets" / "other.json").exists()


@pytest.mark.parametrize("over", [0, 1], ids=["at the limit", "one byte over"])
def test_saving_with_system_info_stays_within_the_reading_limit(any_catalog, library, over):
    image = library.root / "frames" / f"{NAME}.png"
    image.parent.mkdir(parents=True)
    image.write_bytes(PNG_8X8)

    def save(pad: int) -> int:
        params = {"prompt": "a lighthouse", "seed": 1, "padding": "p" * pad}
        sidecar = save_generation_params_sync(
            image, "sdxl", "1", 0, "20251013_150530", params, 5, system_info=True, image_hash=True
        )
        return os.path.getsize(sidecar)

    pad = 1000 + MAX_SIDECAR_BYTES - save(1000)
    assert save(pad) == MAX_SIDECAR_BYTES
    any_catalog.sync(library.root)
    assert any_catalog.count(f"lighthouse hash:{PNG_SHA256}") == 1
    if over:
        sidecar = image.with_suffix(".json")
        before = sidecar.read_bytes()
        with pytest.raises(SidecarLimitError, match=READ_LIMIT) as caught:
            save(pad + 1)
        assert str(caught.value).startswith(str(sidecar) + ": ")
        assert sidecar.read_bytes() == before
        any_catalog.sync(library.root)
        assert any_catalog.count("lighthouse") == 1


def test_a_long_parameter_value_indexes_on_both_databases(any_catalog, library):
    """PostgreSQL's B-tree entries stop at ~2.7 KB: a long value must not fail the sync."""
    rng = random.Random(3)
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    long_text = "start " + "".join(rng.choice(letters) for _ in range(20_000)) + " end"
    library.frame(12, 1, parameters={"prompt": "castle", "style_notes": long_text})
    library.frame(12, 2, parameters={"prompt": "castle", "style_notes": "short", "n": 2**60 + 1})
    any_catalog.sync(library.root)
    assert any_catalog.count("castle") == 2
    assert any_catalog.count("style_notes:start*end") == 1
    assert any_catalog.count("style_notes:short") == 1
    assert any_catalog.count(f"n:{2**60 + 1}") == 1  # exact digits, through the index
    before = catalog_state(any_catalog)
    any_catalog.rebuild(library.root)
    assert catalog_state(any_catalog) == before


def test_long_names_index_on_both_databases(any_catalog, library):
    """Sampler, plugin and model names come straight from sidecars, of any length."""
    rng = random.Random(4)
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    long_name = "".join(rng.choice(letters) for _ in range(4_000))
    model = "/".join(long_name[i : i + 100] for i in range(0, 4_000, 100)) + "/m.safetensors"
    library.frame(12, 1, parameters={"prompt": "castle", "sampler": long_name})
    library.frame(12, 2, parameters={"prompt": "castle", "model_name": model})
    library.write(
        "frames/project_12_frame_3_variant_0.json",
        json.dumps(make_sidecar({"prompt": "castle"}, plugin=long_name)),
    )
    any_catalog.sync(library.root)
    assert any_catalog.count("castle") == 3
    assert any_catalog.count(f"sampler:{long_name[:20]}*") == 1
    assert any_catalog.count(f"plugin:{long_name[:20]}*") == 1
    assert any_catalog.count("model:m") == 1
    before = catalog_state(any_catalog)
    any_catalog.rebuild(library.root)  # recreates the indexes (on PostgreSQL: partial ones)
    assert catalog_state(any_catalog) == before


def test_verify_lists_sidecars_over_the_reading_limits_with_their_size(any_catalog, library):
    big = library.frame(12, 1, parameters={"prompt": "x" * MAX_SIDECAR_BYTES})
    deep = library.write("frames/project_12_frame_2_variant_0.json", "[" * 5000 + "]" * 5000)
    grows = library.frame(12, 3, parameters={"prompt": "castle"})
    any_catalog.sync(library.root)
    assert any_catalog.count("") == 1
    grows.write_text(json.dumps(make_sidecar({"prompt": "castle " * 400_000})))

    problems = [
        p for p in any_catalog.verify() if p["kind"] == "sidecar_over_limit"
    ]  # the grown one first (a frame), then those the last sync refused

    size = grows.stat().st_size
    assert problems == [
        {
            "kind": "sidecar_over_limit",
            "path": str(grows),
            "frame_id": any_catalog.get(str(grows)).id,
            "detail": f"file is {size / 1e6:.1f} MB, over the 1024 KiB sidecar limit",  # 2.8 MB
        },
        {
            "kind": "sidecar_over_limit",
            "path": str(big),
            "frame_id": None,
            "detail": f"file is {big.stat().st_size:,} bytes, over the 1024 KiB sidecar limit",
        },
        {
            "kind": "sidecar_over_limit",
            "path": str(deep),
            "frame_id": None,
            "detail": "JSON nested too deeply (file is 10,000 bytes)",
        },
    ]
    # A query selects frames: sidecars that are not frames are listed only by a full verify.
    assert [p["path"] for p in any_catalog.verify("castle")] == [str(grows)]


def test_cli_refuses_over_long_tags_and_notes_in_one_line(run_cli, library):
    path = library.frame(12, 7)
    assert run_cli("sync", str(library.root)).code == 0
    before = path.read_bytes()
    result = run_cli("tag", "add", "t" * (MAX_TAG_CHARS + 1), str(path))
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "over the 100-character tag limit" in result.err
    result = run_cli("note", "n" * (MAX_NOTES_BYTES + 1), str(path))
    assert result.code == 2
    assert result.err.strip() == (
        "kino-catalog: notes are 65,537 bytes, over the 64 KiB notes limit"
    )
    assert path.read_bytes() == before
    assert run_cli("note", "n" * MAX_NOTES_BYTES, str(path)).code == 0
    assert run_cli("search", "--count", "notes:nnnn").out.strip() == "1"
