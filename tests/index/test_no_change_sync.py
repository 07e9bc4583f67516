"""The bulk paths of a whole-root sync (issue 18): what they settle without a look must not change.

A no-change sync compares listings with the index in sets, counts PNG
sequences once per folder and walks folders by file descriptor; each test
makes one change those shortcuts could hide and checks that the sync sees it
as a rebuild would.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from kino_catalog.index import file_rows as rows_module
from kino_catalog.index.image_location import sequence_counts
from kino_catalog.index.walk import walk_root
from tests.catalog_state import catalog_state
from tests.factories import make_sidecar

# A PNG-sequence member as walk.py defines one (its regex; the counting splits names faster).
SEQUENCE_FILE = re.compile(r"^(?P<prefix>.*_seq_)(?P<index>\d+)(?P<suffix>\.[^.]+)$")


def _sequence(library, stem, members, *, folder="w"):
    """A sidecar ``<stem>_seq_000.json`` and the PNG members ``members`` of its sequence."""
    image = f"{stem}_seq_000.png"
    doc = make_sidecar(output={"filename": image, "path": f"/kino/frames/{image}"})
    sidecar = library.write(f"{folder}/{stem}_seq_000.json", doc, image=False)
    for i in members:
        (library.root / folder / f"{stem}_seq_{i:03d}.png").write_bytes(b"p")
    return sidecar


def _agrees_with_rebuild(catalog, library):
    synced = catalog_state(catalog)
    catalog.rebuild(library.root)
    assert catalog_state(catalog) == synced


def test_sequences_that_gain_lose_or_renumber_images_are_recounted(any_catalog, library):
    catalog = any_catalog
    grows = _sequence(library, "grows", [0, 1, 2])
    shrinks = _sequence(library, "shrinks", [0, 1, 2])
    # Same number of images, but the first one (the frame's own image) is gone.
    renumbered = _sequence(library, "renumbered", [0, 1, 2])
    same = _sequence(library, "same", [0, 1, 2])
    for i in range(3):
        library.frame(1, i, folder="w")  # plain frames beside them
    catalog.sync(library.root)
    w = library.root / "w"
    (w / "grows_seq_007.png").write_bytes(b"p")
    (w / "shrinks_seq_001.png").unlink()
    (w / "renumbered_seq_000.png").unlink()
    (w / "renumbered_seq_003.png").write_bytes(b"p")

    result = catalog.sync(library.root)

    assert (result.unchanged, result.updated, result.added) == (7, 0, 0)
    assert catalog.get(grows).image_count == 4
    assert catalog.get(shrinks).image_count == 2
    assert catalog.get(same).image_count == 3
    frame = catalog.get(renumbered)
    assert (frame.image_name, frame.image_exists) == ("renumbered_seq_000.png", False)
    _agrees_with_rebuild(catalog, library)


def test_a_sidecar_of_a_later_sequence_image_is_recounted_too(catalog, library):
    # Its image is its own PNG but not the sequence's first: looked at one by one.
    sidecar = library.write("w/late_seq_001.json", make_sidecar(), image=False)
    for i in (0, 1):
        (library.root / f"w/late_seq_{i:03d}.png").write_bytes(b"p")
    catalog.sync(library.root)
    assert catalog.get(sidecar).image_count == 2
    (library.root / "w/late_seq_002.png").write_bytes(b"p")
    assert catalog.sync(library.root).unchanged == 1
    assert catalog.get(sidecar).image_count == 3
    _agrees_with_rebuild(catalog, library)


def test_a_sequence_of_one_image_that_gains_one_is_recounted(catalog, library):
    sidecar = _sequence(library, "single", [0])
    catalog.sync(library.root)
    assert catalog.get(sidecar).image_count == 1
    (library.root / "w/single_seq_001.png").write_bytes(b"p")
    catalog.sync(library.root)
    assert catalog.get(sidecar).image_count == 2
    _agrees_with_rebuild(catalog, library)


def test_files_in_error_beside_unchanged_ones_are_not_read_again(any_catalog, library, monkeypatch):
    catalog = any_catalog
    for i in range(4):
        library.frame(1, i)
    library.write(
        "frames/project_1_frame_9_variant_0.json",
        b'{"plugin": "sdxl", "parameters": {"cfg": NaN}}',
        image=False,
    )
    first = catalog.sync(library.root)
    assert first.errors == 1
    monkeypatch.setattr(rows_module, "read_frame", lambda *a, **k: pytest.fail("read"))
    again = catalog.sync(library.root)
    assert (again.unchanged, again.added, again.updated, again.errors) == (4, 0, 0, 1)
    monkeypatch.undo()
    # A change beside them is still seen (the comparison tells the few apart).
    changed = library.frame(1, 2, parameters={"steps": 77, "prompt": "changed, longer now"})
    (library.root / "frames/project_1_frame_9_variant_0.json").write_text(
        json.dumps(make_sidecar())
    )
    result = catalog.sync(library.root)
    assert (result.unchanged, result.updated, result.added, result.errors) == (3, 1, 1, 0)
    assert catalog.get(changed).parameters["steps"] == 77
    _agrees_with_rebuild(catalog, library)


def test_hidden_files_stay_out_of_the_listing(catalog, library):
    library.frame(1, 1)
    (library.root / "frames/.partial.json").write_text(json.dumps(make_sidecar()))
    (library.root / "frames/.cache").mkdir()
    (library.root / "frames/.cache/inside.json").write_text(json.dumps(make_sidecar()))
    result = catalog.sync(library.root)
    assert (result.added, result.errors, result.ignored) == (1, 0, 0)
    assert catalog.sync(library.root).unchanged == 1


def test_a_folder_swapped_for_a_symlink_during_the_walk_is_not_entered(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "inside.json").write_text("{}")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text("{}")
    warnings: list[str] = []
    walk = walk_root(str(root), warnings.append)
    top = next(walk)  # the root is listed: "sub" is a folder waiting on the stack
    assert top.rel == ""
    shutil.rmtree(root / "sub")
    os.symlink(outside, root / "sub", target_is_directory=True)
    rest = list(walk)
    assert [name for folder in rest for name, _, _ in folder.sidecars] == []
    assert len(warnings) == 1
    assert warnings[0].startswith(f"cannot list {root}/sub")


@pytest.mark.parametrize(
    "name",
    [
        "clip_seq_000.png",
        "clip_seq_0000.png",
        "clip_seq_000.json",
        "a_seq_1.b_seq_x",  # the last "_seq_" does not fit, an earlier one does
        "a_seq_1.b_seq_2.png",
        "x_seq_.png",
        "x_seq_0",
        "x_seq_0.",
        "x_seq_0.a.b",
        "x_seq_1..png",
        "x_seq_a1.png",
        "a\nb_seq_1.png",  # "." never matches a newline in the prefix
        "x_seq_1.png\n",
        "x_seq_1.p\nng",
        "x_seq_\u0661\u0662.png",  # Arabic-Indic digits are digits to the regex too
        "x_seq_\u00b2.png",  # a superscript is not
        "_seq_1.p",
    ],
)
def test_sequence_counts_split_names_as_the_pattern_does(name):
    match = SEQUENCE_FILE.match(name)
    expected = {} if match is None else {(match["prefix"], len(match["index"]), match["suffix"]): 1}
    assert sequence_counts([name]) == expected
