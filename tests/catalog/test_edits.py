"""Tags, ratings and notes: written into sidecars safely, indexed at once, restored by rebuild."""

from __future__ import annotations

import json
import os
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from kino_catalog.catalog import edits as annotate
from kino_catalog.errors import UsageError
from kino_catalog.sidecar import loads_exact, write_atomic
from kino_catalog.sidecar.added_keys import tag_key
from tests.catalog_state import catalog_state


def _doc(path):
    return json.loads(path.read_bytes())


def _tags(catalog):
    with catalog.engine.connect() as conn:
        return sorted(
            conn.execute(
                text("SELECT f.name, t.tag FROM tags t JOIN frames f ON f.id = t.frame_id")
            ).all()
        )


def _frame_column(catalog, name, column):
    with catalog.engine.connect() as conn:
        return conn.execute(
            text(f"SELECT {column} FROM frames WHERE name = :n"), {"n": name}
        ).scalar_one()


def test_tags_rating_notes_live_in_the_sidecar_and_survive_a_rebuild(any_catalog, library):
    path = library.frame(12, 7)
    other = library.frame(12, 8)
    original = _doc(path)
    any_catalog.sync(library.root)

    assert any_catalog.tag(["Hero", "keeper"], [str(path)]).changed == 1
    assert any_catalog.rate(4, [str(path.with_suffix(".png"))]).changed == 1
    assert any_catalog.note("redo with more light", str(path)).changed == 1

    doc = _doc(path)
    assert doc["tags"] == ["Hero", "keeper"]
    assert doc["rating"] == 4
    assert doc["notes"] == "redo with more light"
    assert {k: v for k, v in doc.items() if k not in ("tags", "rating", "notes")} == original
    assert list(doc)[: len(original)] == list(original)  # Kino's keys keep their order
    # The index was updated by the same call, no sync needed.
    assert _tags(any_catalog) == [(path.name, "hero"), (path.name, "keeper")]
    assert _frame_column(any_catalog, path.name, "rating") == 4
    assert _frame_column(any_catalog, path.name, "notes") == "redo with more light"
    assert _frame_column(any_catalog, other.name, "rating") is None

    before = catalog_state(any_catalog)
    any_catalog.rebuild(library.root)
    assert catalog_state(any_catalog) == before


def test_adding_is_idempotent_and_case_insensitive(catalog, library):
    path = library.frame(12, 7)
    catalog.sync(library.root)
    catalog.tag(["hero"], [str(path)])
    snapshot = library.snapshot()
    result = catalog.tag(["HERO"], [str(path)])
    assert (result.changed, result.unchanged) == (0, 1)
    assert library.snapshot() == snapshot  # an edit that changes nothing writes nothing


def test_removing_the_last_tag_restores_the_original_document(catalog, library):
    path = library.frame(12, 7)
    original = _doc(path)
    catalog.sync(library.root)
    catalog.tag(["draft", "wip"], [str(path)])
    catalog.tag(["DRAFT"], [str(path)], remove=True)
    assert _doc(path)["tags"] == ["wip"]
    catalog.tag(["wip"], [str(path)], remove=True)
    catalog.rate(3, [str(path)])
    catalog.rate(None, [str(path)])
    catalog.note("x", str(path))
    catalog.note("", str(path))
    assert _doc(path) == original
    assert _tags(catalog) == []
    assert _frame_column(catalog, path.name, "notes") is None


def test_query_selects_many_frames(catalog, library):
    a = library.frame(12, 1, parameters={"seed": 5})
    b = library.frame(12, 2, parameters={"seed": 5})
    c = library.frame(12, 3, parameters={"seed": 6})
    catalog.sync(library.root)
    result = catalog.tag(["fives"], query="seed:5")
    assert result.changed == 2
    assert ["tags" in _doc(p) for p in (a, b, c)] == [True, True, False]
    assert catalog.rate(5, query="seed:5").changed == 2
    assert _frame_column(catalog, b.name, "rating") == 5


def test_big_integers_and_unknown_keys_stay_exact(catalog, library):
    seed = 2**64 - 1
    path = library.frame(
        12, 7, parameters={"seed": seed, "odd": {"x": [1.5, None]}}, plugin_extra={"k": "é"}
    )
    catalog.sync(library.root)
    catalog.tag(["big"], [str(path)])
    data = path.read_bytes()
    assert str(seed).encode() in data
    doc = json.loads(data)
    assert doc["parameters"]["seed"] == seed
    assert doc["parameters"]["odd"] == {"x": [1.5, None]}
    assert doc["plugin_extra"] == {"k": "é"}


def test_file_mode_is_kept(catalog, library):
    path = library.frame(12, 7)
    os.chmod(path, 0o644)
    catalog.sync(library.root)
    catalog.tag(["x"], [str(path)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_rewrite_by_kino_between_read_and_write_is_not_lost(catalog, library, monkeypatch):
    path = library.frame(12, 7)
    catalog.sync(library.root)
    calls = []

    def kino_rewrites_first(target, data, *, is_current=None):
        if not calls:  # Kino regenerates in place while we are editing
            regenerated = _doc(path)
            regenerated["parameters"]["prompt"] = "regenerated castle"
            regenerated["timestamp"] = "regenerated"
            path.write_text(json.dumps(regenerated, indent=2))
        calls.append(target)
        return write_atomic(target, data, is_current=is_current)

    monkeypatch.setattr(annotate, "write_atomic", kino_rewrites_first)
    result = catalog.tag(["hero"], [str(path)])
    assert result.changed == 1
    assert len(calls) == 2  # the first attempt saw the rewrite and started over
    doc = _doc(path)
    assert doc["parameters"]["prompt"] == "regenerated castle"
    assert doc["timestamp"] == "regenerated"
    assert doc["tags"] == ["hero"]
    assert _frame_column(catalog, path.name, "prompt") == "regenerated castle"


def test_a_file_that_keeps_changing_is_reported_never_clobbered(catalog, library, monkeypatch):
    path = library.frame(12, 7)
    catalog.sync(library.root)
    versions = []

    def kino_always_rewrites(target, data, *, is_current=None):
        doc = _doc(path)
        doc["parameters"]["steps"] = len(versions) + 100
        versions.append(doc)
        path.write_text(json.dumps(doc, indent=2))
        return write_atomic(target, data, is_current=is_current)

    monkeypatch.setattr(annotate, "write_atomic", kino_always_rewrites)
    result = catalog.tag(["hero"], [str(path)])
    assert result.changed == 0
    [failure] = result.failed
    assert "rewritten by another program" in failure["reason"]
    assert _doc(path) == versions[-1]  # Kino's last write stands, untouched
    assert len(versions) == annotate.MAX_ATTEMPTS


def test_damaged_annotations_are_refused_not_overwritten(catalog, library):
    path = library.frame(12, 7, tags="hero,keeper")
    good = library.frame(12, 8)
    catalog.sync(library.root)
    assert [e["reason"] for e in catalog.errors()] == [
        "tags must be a list of strings, not 'hero,keeper'"
    ]
    assert catalog.errors()[0]["kind"] == "warning"  # the frame is indexed all the same
    before = path.read_bytes()
    refused = catalog.tag(["x"], [str(path)])
    assert (refused.changed, [f["path"] for f in refused.failed]) == (0, [str(path)])
    result = annotate.apply_edit(
        catalog.engine,
        [(str(library.root), str(path)), (str(library.root), str(good))],
        annotate.add_tags(["x"]),
    )
    assert result.changed == 1
    assert result.failed == [
        {"path": str(path), "reason": "tags must be a list of strings, not 'hero,keeper'"}
    ]
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"rating": 6}, "rating must be an integer from 0 to 5, not 6"),
        ({"rating": "5"}, "rating must be an integer from 0 to 5, not '5'"),
        ({"notes": ["a"]}, "notes must be a string, not ['a']"),
        ({"tags": ["a", 1]}, "tags must be a list of strings, not ['a', 1]"),
    ],
)
def test_bad_annotation_values_are_index_errors(catalog, library, over, reason):
    library.frame(12, 7, **over)
    catalog.sync(library.root)
    assert [e["reason"] for e in catalog.errors()] == [reason]


def test_api_refuses_bad_input(catalog, library):
    path = library.frame(12, 7)
    catalog.sync(library.root)
    with pytest.raises(UsageError, match="from 0 to 5"):
        catalog.rate(9, [str(path)])
    with pytest.raises(UsageError, match="commas"):
        catalog.tag(["a,b"], [str(path)])
    with pytest.raises(UsageError, match="not both"):
        catalog.tag(["a"], [str(path)], query="seed:1")
    with pytest.raises(UsageError, match="not both"):
        catalog.tag(["a"])


# ---------------------------------------------------------------- CLI


def test_cli_tag_rate_note(run_cli, library):
    path = library.frame(12, 7)
    library.frame(12, 8)
    assert run_cli("sync", str(library.root)).code == 0
    result = run_cli("tag", "add", "hero", "keeper", str(path))
    assert result.code == 0, result.err
    assert "tagged 1 frame" in result.out
    assert _doc(path)["tags"] == ["hero", "keeper"]
    result = run_cli("tag", "remove", "keeper", "--query", "project:12", "--format", "json")
    assert result.json() == {"changed": 1, "unchanged": 1, "failed": [], "skipped": []}
    assert run_cli("rate", "5", str(path)).code == 0
    assert _doc(path)["rating"] == 5
    assert run_cli("rate", "--clear", str(path)).code == 0
    assert "rating" not in _doc(path)
    assert run_cli("note", "more light", str(path)).code == 0
    assert _doc(path)["notes"] == "more light"
    run_cli("tag", "add", "hero", "--query", "")
    assert run_cli("tag", "list", "--format", "json").json() == [{"tag": "hero", "frames": 2}]
    shown = run_cli("show", str(path), "--format", "json").json()
    assert (shown["tags"], shown["rating"], shown["notes"]) == (["hero"], None, "more light")


@pytest.mark.parametrize(
    "args",
    [
        ("rate", "7", "1"),
        ("rate", "x", "1"),
        ("rate",),
        ("tag", "add", "hero"),
        ("tag", "add", "a,b", "1"),
        ("tag", "add", "hero", "999"),
        ("note", "x", "999"),
    ],
)
def test_cli_user_mistakes_exit_2(run_cli, library, args):
    library.frame(12, 7)
    run_cli("sync", str(library.root))
    result = run_cli(*args)
    assert result.code == 2, result.out
    assert result.err.startswith(("kino-catalog:", "Usage", "Error"))


def test_cli_failure_exits_1(run_cli, library):
    path = library.frame(12, 7)
    run_cli("sync", str(library.root))
    path.unlink()
    result = run_cli("tag", "add", "hero", "1")
    assert result.code == 1
    assert "sidecar is gone" in result.err


# ---------------------------------------------------------------- round trip

_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(st.text(max_size=6), _json, max_size=5),
    top=st.dictionaries(
        st.text(max_size=6).filter(
            lambda k: k not in ("tags", "rating", "notes", "image_hash", "system_info")
        ),
        _json,
        max_size=3,
    ),
    tags=st.lists(
        st.text(alphabet="abcXYZ é-_", min_size=1, max_size=6).filter(lambda t: t.strip()),
        min_size=1,
        max_size=3,
    ),
)
def test_adding_then_removing_restores_any_document(tmp_path, params, top, tags):
    path = tmp_path / "x.json"
    doc = {**top, "plugin": "p", "parameters": params}
    path.write_text(json.dumps(doc))
    original = loads_exact(path.read_bytes())
    clean = [t.strip() for t in tags]
    assert annotate.edit_sidecar(str(path), annotate.add_tags(clean))
    edited = loads_exact(path.read_bytes())
    assert [tag_key(t) for t in edited.pop("tags")] == list(dict.fromkeys(map(tag_key, clean)))
    assert edited == original
    assert annotate.edit_sidecar(str(path), annotate.remove_tags(clean))
    assert loads_exact(path.read_bytes()) == original


def test_a_sidecar_turned_symlink_is_refused(catalog, library, tmp_path):
    path = library.frame(12, 7)
    catalog.sync(library.root)
    outside = tmp_path / "outside.json"
    outside.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(outside)
    result = annotate.apply_edit(
        catalog.engine, [(str(library.root), str(path))], annotate.add_tags(["x"])
    )
    assert [f["reason"] for f in result.failed] == [
        "sidecar is a symbolic link; edit its target instead"
    ]
    assert path.is_symlink()
    assert "tags" not in _doc(outside)
