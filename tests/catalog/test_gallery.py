"""Facets and projects: the counts a gallery shows beside a query."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kino_catalog.catalog import gallery

if TYPE_CHECKING:
    from kino_catalog import Catalog
    from tests.factories import Library


def _lora(name: str) -> list[dict[str, object]]:
    return [{"lora_name": name, "strength_model": 0.5}]


def test_facets_count_a_querys_frames(any_catalog: Catalog, library: Library) -> None:
    for n in range(6):
        library.frame(
            1 + n % 2,
            n,
            parameters={
                "loras": _lora("Add-Detail.safetensors" if n < 4 else "loras/neon glow.pt"),
                "model_name": "models/sd_xl_base_1.0.safetensors" if n % 3 else "juggernaut.ckpt",
                "sampler": "Euler_A" if n < 5 else "dpmpp_2m",
            },
        )
    any_catalog.sync(library.root)
    found = any_catalog.facets("")
    assert not found.is_sampled
    assert found.frames == 6
    values = {name: [(v.label, v.count, v.term) for v in vs] for name, vs in found.values.items()}
    assert values["loras"] == [
        ("Add-Detail.safetensors", 4, "lora:add_detail"),
        ("loras/neon glow.pt", 2, "lora:neon_glow"),
    ]
    assert values["models"][0][1:] == (4, "model:sd_xl_base_1.0")
    assert values["projects"] == [("1", 3, "project:1"), ("2", 3, "project:2")]
    assert values["samplers"] == [
        ("euler_a", 5, "sampler:euler_a"),
        ("dpmpp_2m", 1, "sampler:dpmpp_2m"),
    ]
    for name in gallery.FACETS:  # every term selects exactly the frames it counted
        for value in found.values[name]:
            assert any_catalog.count(value.term) == value.count, value
    narrowed = any_catalog.facets("project:2")
    assert [(v.term, v.count) for v in narrowed.values["projects"]] == [("project:2", 3)]
    assert any_catalog.projects() == [(1, 3), (2, 3)]


def test_facets_over_a_sample_say_so(catalog: Catalog, library: Library) -> None:
    for n in range(7):
        library.frame(1, n, timestamp=f"2025010{n + 1}_120000", parameters={"sampler": f"s{n}"})
    catalog.sync(library.root)
    found = gallery.facets(catalog.engine, "", sample=3)
    assert found.is_sampled
    assert found.frames == 3
    assert {v.label for v in found.values["samplers"]} == {"s6", "s5", "s4"}  # the newest
    assert found.values["loras"][0].count == 3
    assert found.as_dict()["sampled"] is True


def test_facets_stop_when_the_time_budget_is_spent(catalog: Catalog, library: Library) -> None:
    for n in range(7):
        library.frame(1, n, timestamp=f"2025010{n + 1}_120000", parameters={"sampler": f"s{n}"})
    catalog.sync(library.root)
    found = gallery.facets(catalog.engine, "", budget_seconds=0, page_size=2)
    assert found.is_sampled
    assert found.frames == 2  # one page is always read
    assert {v.label for v in found.values["samplers"]} == {"s6", "s5"}
    whole = gallery.facets(catalog.engine, "", budget_seconds=60, page_size=2)
    assert not whole.is_sampled
    assert whole.frames == 7
