"""Query fields backed by sidecar additions: tag, rating, notes, hash, gpu, driver."""

from __future__ import annotations

import hashlib

import pytest

from tests.factories import PNG_8X8

HEX = hashlib.sha256(PNG_8X8).hexdigest()
GPU = {"os": "Linux", "gpu": "NVIDIA GeForce RTX 4090", "driver": "550.54.14"}


@pytest.fixture
def annotated(any_catalog, library):
    library.frame(
        1,
        1,
        tags=["Hero", "keeper"],
        rating=5,
        notes="Redo with softer LIGHT",
        image_hash={"algorithm": "sha256", "value": HEX},
        system_info=GPU,
    )
    library.frame(
        1,
        2,
        tags=["reject"],
        rating=1,
        system_info={"gpu": "NVIDIA GeForce RTX 3060", "driver": "535.1"},
    )
    library.frame(1, 3, rating=4, notes="fine as is")
    library.frame(1, 4)
    any_catalog.sync(library.root)
    return any_catalog


def _frames(catalog, query):
    return sorted(int(f.name.split("_")[3]) for f in catalog.search(query, limit=None))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tag:hero", [1]),
        ("tag:HERO", [1]),
        ("tag:he*", [1]),
        ("tag:*e*", [1, 2]),  # two of frame 1's tags match: counted once
        ("-tag:*e*", [3, 4]),
        ("-tag:reject", [1, 3, 4]),
        ("tag:hero OR tag:reject", [1, 2]),
        ("tag:nothing", []),
        ("rating:5", [1]),
        ("rating:>=4", [1, 3]),
        ("rating:1..4", [2, 3]),
        ("-rating:>=4", [2, 4]),
        ("notes:light", [1]),
        ('notes:"softer light"', [1]),
        ("-notes:light", [2, 3, 4]),
        (f"hash:{HEX}", [1]),
        (f"hash:sha256:{HEX.upper()}", [1]),
        (f"hash:{HEX[:10]}*", [1]),
        ("gpu:*4090*", [1]),
        ("gpu:*rtx*", [1, 2]),
        ("driver:550*", [1]),
        ("tag:keeper rating:>=4 gpu:*4090*", [1]),
    ],
)
def test_annotation_fields(annotated, query, expected):
    assert _frames(annotated, query) == expected
    assert annotated.count(query) == len(expected)


def test_tagging_is_visible_to_queries_at_once(catalog, library):
    path = library.frame(1, 1)
    catalog.sync(library.root)
    assert catalog.count("tag:new") == 0
    catalog.tag(["new"], [str(path)])
    assert catalog.count("tag:new") == 1
    catalog.rate(3, query="tag:new")
    assert catalog.count("rating:3") == 1
    catalog.tag(["new"], query="tag:new", remove=True)
    assert catalog.count("tag:new") == 0
