"""The JSON API through Starlette's ASGI test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from kino_catalog.web import AccessRules, ServeConfig, create_app

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from kino_catalog import Catalog
    from tests.factories import CliResult, Library
    from tests.kino_double import KinoDouble

BIG_SEED = 2**64 - 1
BASE = "http://127.0.0.1:8765"


@dataclass
class Served:
    catalog: Catalog
    library: Library
    client: TestClient
    csrf: str

    def post(self, url: str, body: Any, **headers: str) -> Any:
        return self.client.post(url, json=body, headers={"X-CSRF-Token": self.csrf, **headers})

    def frame_id(self, query: str) -> int:
        (found,) = self.catalog.search(query, limit=None)
        return found.id


def serve(catalog: Catalog, library: Library, tmp_path: Path, **config: Any) -> Served:
    rules = config.pop("rules", AccessRules())
    app = create_app(catalog, ServeConfig(rules, thumbnail_folder=tmp_path / "thumbs", **config))
    client = TestClient(app, base_url=BASE)
    return Served(catalog, library, client, rules.csrf_token)


@pytest.fixture
def served(any_catalog: Catalog, example_library: Library, tmp_path: Path) -> Iterator[Served]:
    any_catalog.sync(example_library.root)
    with TestClient(create_app(any_catalog)):  # lifespan runs and ends cleanly
        pass
    return serve(any_catalog, example_library, tmp_path)


# ---------------------------------------------------------------- reading
def test_search_answers_the_cli_frame_json(
    served: Served, run_cli: Callable[..., CliResult]
) -> None:
    answer = served.client.get("/api/search", params={"q": "lora:add_detail", "limit": 50})
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 6
    assert body["next_cursor"] is None
    url = served.catalog.engine.url.render_as_string(hide_password=False)
    cli = run_cli("search", "lora:add_detail", "--format", "json", db=url)
    assert cli.code == 0
    assert body["frames"] == cli.json()


def test_pages_follow_cursors_without_repeats(served: Served) -> None:
    expected = [f.id for f in served.catalog.search("", limit=None, sort="seed")]
    seen: list[int] = []
    params: dict[str, Any] = {"sort": "seed", "limit": 4}
    while True:
        body = served.client.get("/api/search", params=params).json()
        seen += [f["id"] for f in body["frames"]]
        assert body["count"] == (len(expected) if "cursor" not in params else None)
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
        served.library.frame(12, 900 + len(seen), parameters={"seed": 5})  # added mid-way
        served.catalog.sync(served.library.root)
    assert len(seen) == len(set(seen))
    assert set(expected) <= set(seen)


@pytest.mark.parametrize(
    ("params", "code", "term"),
    [
        ({"q": "steps:abc"}, "bad_query", "steps:abc"),
        ({"q": 'castle "red'}, "bad_query", None),
        ({"q": "cfg:>"}, "bad_query", "cfg:>"),
        ({"cursor": "garbage"}, "bad_cursor", "cursor"),
        ({"sort": "size"}, "bad_request", None),
        ({"limit": "0"}, "bad_request", None),
        ({"limit": "-1"}, "bad_request", None),
        ({"limit": "100000"}, "bad_request", None),
    ],
)
def test_bad_requests_are_400_with_the_term(
    served: Served, params: dict[str, str], code: str, term: str | None
) -> None:
    answer = served.client.get("/api/search", params=params)
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == code
    assert body["message"]
    if term is not None:
        assert body["term"] == term
    if code == "bad_query":
        assert isinstance(body["position"], int)


def test_big_seeds_stay_exact(served: Served) -> None:
    frame_id = served.frame_id(f"seed:{BIG_SEED}")
    answer = served.client.get(f"/api/frames/{frame_id}")
    assert f'"seed": {BIG_SEED}' in answer.text  # not 18446744073709552000
    assert answer.json()["seed"] == BIG_SEED
    page = served.client.get(f"/frames/{frame_id}")
    assert str(BIG_SEED) in page.text
    regen = served.post(f"/api/frames/{frame_id}/regen", {})
    assert regen.json()["data"]["parameters"]["seed"] == BIG_SEED
    assert str(BIG_SEED) in regen.text


def test_unknown_frames_are_404(served: Served) -> None:
    for url in ("/api/frames/99999", "/api/frames/99999/image", "/api/frames/99999/thumb"):
        answer = served.client.get(url)
        assert answer.status_code == 404, url
        assert answer.json()["error"] == "not_found"
    assert served.post("/api/frames/99999/rating", {"rating": 1}).status_code == 404
    assert served.client.get("/frames/99999").status_code == 404
    assert served.client.get("/api/nothing").json()["error"] == "not_found"


def test_facets_stats_projects_report(served: Served) -> None:
    facets = served.client.get("/api/facets", params={"q": "project:3"}).json()
    assert facets["sampled"] is False
    loras = {v["term"]: v["count"] for v in facets["facets"]["loras"]}
    assert loras["lora:add_detail"] == served.catalog.count("project:3 lora:add_detail")
    assert {v["label"] for v in facets["facets"]["projects"]} == {"3"}
    stats = served.client.get("/api/stats").json()
    assert stats["frames"] == 14
    assert "database" not in stats
    projects = served.client.get("/api/projects").json()["projects"]
    assert {p["id"] for p in projects} == {3, 7, 12}
    report = served.client.get("/api/report", params={"project": 3}).json()
    assert report["summary"]["frames"] == 6
    assert served.client.get("/api/report", params={"project": 404}).status_code == 404
    assert served.client.get("/api/report", params={"project": "x"}).status_code == 400
    html = served.client.get("/projects/3/report")
    assert html.status_code == 200
    assert "<svg" in html.text
    assert "'sha256-" in html.headers["content-security-policy"]


# ---------------------------------------------------------------- images
def test_images_and_sequence_members(served: Served) -> None:
    (seq,) = served.catalog.search("project:7 plugin:wan22_i2v", limit=None)
    assert seq.image_count == 5
    for n in range(5):
        answer = served.client.get(f"/api/frames/{seq.id}/image", params={"n": n})
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/png"
        member = seq.image_path.replace("_seq_000.png", f"_seq_{n:03d}.png")
        with open(member, "rb") as fh:
            assert answer.content == fh.read()
    assert served.client.get(f"/api/frames/{seq.id}/image", params={"n": 5}).status_code == 404


def test_thumbnails_cache_etag_and_placeholders(served: Served) -> None:
    frame_id = served.frame_id(f"seed:{BIG_SEED}")
    first = served.client.get(f"/api/frames/{frame_id}/thumb", params={"size": 128, "v": "x"})
    assert first.status_code == 200
    assert first.headers["content-type"] == "image/webp"
    assert first.content[:4] == b"RIFF"
    assert first.content[8:12] == b"WEBP"
    assert "immutable" in first.headers["cache-control"]
    etag = first.headers["etag"]
    again = served.client.get(
        f"/api/frames/{frame_id}/thumb", params={"size": 128}, headers={"If-None-Match": etag}
    )
    assert again.status_code == 304
    assert served.client.get(f"/api/frames/{frame_id}/thumb?size=100").status_code == 400
    missing = next(f.id for f in served.catalog.search("", limit=None) if not f.image_exists)
    answer = served.client.get(f"/api/frames/{missing}/thumb")
    assert answer.status_code == 200
    assert answer.headers["x-thumbnail"] == "missing"
    assert answer.headers["cache-control"] == "no-store"
    broken = served.library.frame(12, 77, parameters={"seed": 77})
    broken.with_suffix(".png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    served.catalog.sync(served.library.root)
    answer = served.client.get(f"/api/frames/{served.frame_id('seed:77')}/thumb")
    assert answer.status_code == 200
    assert answer.headers["x-thumbnail"] == "broken"


SECRET = "top secret, outside the library"


@pytest.mark.parametrize(
    "url",
    [
        "/api/frames/../../../../etc/passwd",
        "/api/frames/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/frames/..%2f..%2fsecret.txt/image",
        "/api/frames/%2Fetc%2Fpasswd/image",
        "/api/frames/1/image?n=../../secret.txt",
        "/api/frames/1/image?n=%2e%2e%2fsecret.txt",
        "/api/frames/1/image?path=SECRET",
        "/api/frames/1/thumb?size=../../secret.txt",
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2f..%2fsecret.txt",
        "/frames/..%2fsecret.txt",
        "//etc/passwd",
        "/api/frames/-1/image",
    ],
)
def test_no_request_reads_a_path(served: Served, tmp_path: Path, url: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    answer = served.client.get(url.replace("SECRET", str(secret)))
    assert SECRET not in answer.text
    assert "root:x:0:0" not in answer.text
    assert answer.status_code in (200, 400, 404)
    if answer.status_code == 200:  # only the frame's own image
        assert answer.headers["content-type"] in ("image/png", "image/webp", "image/svg+xml")


def test_symlinks_out_of_the_root_are_not_followed(served: Served, tmp_path: Path) -> None:
    secret = tmp_path / "outside.png"
    secret.write_bytes(SECRET.encode())
    sidecar = served.library.frame(12, 55, image=False, parameters={"seed": 55})
    os.symlink(secret, sidecar.with_suffix(".png"))
    served.catalog.sync(served.library.root)
    frame_id = served.frame_id("seed:55")
    image = served.client.get(f"/api/frames/{frame_id}/image")
    assert image.status_code == 404
    assert SECRET not in image.text
    thumb = served.client.get(f"/api/frames/{frame_id}/thumb")
    assert thumb.headers.get("x-thumbnail") in ("missing", "broken")
    assert SECRET.encode() not in thumb.content


# ---------------------------------------------------------------- edits
def test_edits_write_the_sidecar_through_the_cli_code_path(served: Served) -> None:
    frame_id = served.frame_id(f"seed:{BIG_SEED}")
    sidecar = served.catalog.get(frame_id).sidecar_path
    answer = served.post(f"/api/frames/{frame_id}/rating", {"rating": 4})
    assert answer.status_code == 200, answer.text
    assert answer.json()["frame"]["rating"] == 4
    with open(sidecar, encoding="utf-8") as fh:
        on_disk = json.load(fh)
    assert on_disk["rating"] == 4
    assert on_disk["parameters"]["seed"] == BIG_SEED
    assert served.post(f"/api/frames/{frame_id}/tags", {"add": ["Hero", "keeper"]}).is_success
    assert served.catalog.count("tag:hero tag:keeper") == 1
    assert served.post(f"/api/frames/{frame_id}/tags", {"remove": ["hero"]}).is_success
    assert served.catalog.count("tag:hero") == 0
    assert served.post(f"/api/frames/{frame_id}/notes", {"notes": "more light"}).is_success
    assert served.catalog.count("notes:light") == 1
    with open(sidecar, encoding="utf-8") as fh:
        on_disk = json.load(fh)
    assert on_disk["tags"] == ["keeper"]
    assert on_disk["notes"] == "more light"
    assert served.post(f"/api/frames/{frame_id}/rating", {"rating": 9}).status_code == 400
    assert served.post(f"/api/frames/{frame_id}/rating", {"rating": "4"}).status_code == 400
    assert served.post(f"/api/frames/{frame_id}/tags", {"add": "x"}).status_code == 400
    bad_json = served.client.post(
        f"/api/frames/{frame_id}/notes",
        content=b"{nope",
        headers={"X-CSRF-Token": served.csrf, "Content-Type": "application/json"},
    )
    assert bad_json.status_code == 400


def test_annotations_over_their_limits_are_refused_and_change_nothing(served: Served) -> None:
    frame_id = served.frame_id(f"seed:{BIG_SEED}")
    sidecar = served.catalog.get(frame_id).sidecar_path
    with open(sidecar, "rb") as fh:
        before = fh.read()
    answer = served.post(f"/api/frames/{frame_id}/tags", {"add": ["t" * 101]})
    assert answer.status_code == 400
    assert "over the 100-character tag limit" in answer.text
    answer = served.post(f"/api/frames/{frame_id}/notes", {"notes": "y" * 70_000})
    assert answer.status_code == 400
    assert "over the 64 KiB notes limit" in answer.text
    many = [f"t{i}" for i in range(101)]
    answer = served.post(f"/api/frames/{frame_id}/tags", {"add": many})
    assert answer.status_code == 409
    assert "101 tags, over the limit of 100 tags per frame" in answer.text
    with open(sidecar, "rb") as fh:
        assert fh.read() == before
    assert served.catalog.count(f"seed:{BIG_SEED}") == 1


def test_regen_with_overrides(served: Served) -> None:
    frame_id = served.frame_id(f"seed:{BIG_SEED}")
    body = {"set": {"steps": "40", "cfg_scale": "6.5"}, "set_lora": {"add_detail": 0.25}}
    answer = served.post(f"/api/frames/{frame_id}/regen", body)
    assert answer.status_code == 200, answer.text
    params = answer.json()["data"]["parameters"]
    assert params["steps"] == 40
    assert isinstance(params["steps"], int)
    assert params["cfg_scale"] == 6.5
    strengths = {lora["lora_name"]: lora["strength_model"] for lora in params["loras"]}
    assert strengths["Add_Detail"] == 0.25
    assert answer.json() == served.catalog.regen(
        frame_id, {"steps": "40", "cfg_scale": "6.5"}, set_loras={"add_detail": 0.25}
    )
    wrong = served.post(f"/api/frames/{frame_id}/regen", {"set": {"steps": "abc"}})
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "bad_override"
    assert "steps" in wrong.json()["message"]
    unknown = served.post(f"/api/frames/{frame_id}/regen", {"drop_lora": ["nope"]})
    assert unknown.status_code == 400
    pretty = served.client.post(
        f"/api/frames/{frame_id}/regen?pretty=1", json={}, headers={"X-CSRF-Token": served.csrf}
    )
    assert '\n  "name"' in pretty.text


# ---------------------------------------------------------------- the guard
def test_state_changing_requests_need_csrf_and_same_origin(served: Served) -> None:
    url = f"/api/frames/{served.frame_id(f'seed:{BIG_SEED}')}/rating"
    assert served.client.post(url, json={"rating": 1}).json()["error"] == "csrf"
    wrong = served.client.post(url, json={"rating": 1}, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    other_site = served.post(url, {"rating": 1}, Origin="http://evil.example")
    assert other_site.status_code == 403
    assert other_site.json()["error"] == "csrf"
    cross = served.post(url, {"rating": 1}, **{"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert served.post(url, {"rating": 1}, Origin=BASE).status_code == 200
    assert served.post(url, {"rating": 2}, **{"Sec-Fetch-Site": "same-origin"}).status_code == 200
    session = served.client.get("/api/session").json()
    assert session["csrf_token"] == served.csrf
    assert session["can_edit"] is True


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:8765", 200),
        ("localhost:8765", 200),
        ("[::1]:8765", 200),
        ("LOCALHOST", 200),
        ("evil.example", 400),
        ("evil.example:8765", 400),
        ("127.0.0.1.evil.example", 400),
        ("", 400),
    ],
)
def test_host_header_is_checked(served: Served, host: str, status: int) -> None:
    answer = served.client.get("/api/stats", headers={"Host": host})
    assert answer.status_code == status
    if status == 400:
        assert answer.json()["error"] == "bad_host"


def test_token_off_localhost(catalog: Catalog, example_library: Library, tmp_path: Path) -> None:
    catalog.sync(example_library.root)
    rules = AccessRules(bind_host="0.0.0.0", token="s3cret-token-sixteen", allow_edits=False)
    served = serve(catalog, example_library, tmp_path, rules=rules)
    client = served.client
    assert client.get("/api/stats", headers={"Host": "studio.lan:8765"}).status_code == 401
    assert client.get("/", headers={"Host": "studio.lan"}).status_code == 401
    ok = client.get("/api/stats", headers={"Authorization": "Bearer s3cret-token-sixteen"})
    assert ok.status_code == 200
    wrong = client.get("/api/stats", headers={"Authorization": "Bearer s3cret-token-seventeen"})
    assert wrong.status_code == 401
    redirect = client.get("/?q=castle&token=s3cret-token-sixteen", follow_redirects=False)
    assert redirect.status_code == 303
    assert redirect.headers["location"] == "/?q=castle"
    assert "HttpOnly" in redirect.headers["set-cookie"]
    assert "SameSite=Strict" in redirect.headers["set-cookie"]
    assert client.get("/api/stats").status_code == 200  # the cookie now rides along
    frame_id = served.frame_id(f"seed:{BIG_SEED}")
    refused = served.post(f"/api/frames/{frame_id}/rating", {"rating": 3})
    assert refused.status_code == 403
    assert refused.json()["error"] == "read_only"
    assert served.post(f"/api/frames/{frame_id}/regen", {}).status_code == 200
    assert client.get("/api/session").json()["can_edit"] is False


def test_security_headers_on_every_answer(served: Served) -> None:
    for url in ("/", "/api/stats", "/static/app.js", "/api/frames/99999", "/frames/1"):
        headers = served.client.get(url).headers
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp, url
        assert "script-src 'self'" in csp, url
        assert "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"


def test_sidecar_strings_are_escaped(served: Served) -> None:
    evil = '<script>alert(1)</script> & "quotes" <img src=x onerror=alert(2)>'
    served.library.frame(
        12, 66, parameters={"prompt": evil, "seed": 66, "sampler": "<b>x</b>", "odd<key>": "<i>"}
    )
    served.catalog.sync(served.library.root)
    frame_id = served.frame_id("seed:66")
    for url in ("/?q=seed%3A66", f"/frames/{frame_id}", f"/frames/{frame_id}?partial=1"):
        text = served.client.get(url).text
        assert "<script>alert" not in text, url
        assert "<img src=x" not in text, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, url
    frame_text = served.client.get(f"/frames/{frame_id}").text
    assert "&lt;b&gt;x&lt;/b&gt;" in frame_text
    assert "odd&lt;key&gt;" in frame_text
    bad = served.client.get("/", params={"q": "<script>alert(3)</script> steps:abc"})
    assert bad.status_code == 400
    assert "<script>alert(3)" not in bad.text


# ---------------------------------------------------------------- Kino and OpenAPI
def test_send_to_kino(served: Served, tmp_path: Path, kino: KinoDouble) -> None:
    frame_id = served.frame_id(f"seed:{BIG_SEED}")
    assert served.post(f"/api/frames/{frame_id}/submit", {}).json()["error"] == "no_kino"
    with_kino = serve(served.catalog, served.library, tmp_path, kino_url=kino.url)
    missing = with_kino.post(f"/api/frames/{frame_id}/submit", {})
    assert missing.status_code == 502  # checked before anything was created
    assert "Kino has no project 3" in missing.json()["message"]
    assert kino.tasks == {}
    kino.add_project(3)
    answer = with_kino.post(f"/api/frames/{frame_id}/submit", {"set": {"steps": "12"}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["task_ids"] == [1]
    assert answer.json()["tasks"][0]["status"] == "started"
    (sent,) = kino.created_bodies()
    assert sent["data"]["parameters"]["steps"] == 12
    assert sent["data"]["parameters"]["seed"] == BIG_SEED
    assert ("POST", "/api/v1/generator/tasks/1/generate") in kino.calls
    kino.start_error = "database is locked"
    refused = with_kino.post(f"/api/frames/{frame_id}/submit", {})
    assert refused.status_code == 502
    assert "not started" in refused.json()["message"]
    down = serve(served.catalog, served.library, tmp_path, kino_url="http://127.0.0.1:9")
    failed = down.post(f"/api/frames/{frame_id}/submit", {})
    assert failed.status_code == 502
    assert failed.json()["error"] == "kino_error"


def test_openapi_describes_every_api_route(served: Served) -> None:
    document = served.client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    app_routes = {
        (route.path.replace(":int", ""), method.lower())
        for route in served.client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith("/api/")
        for method in (route.methods or set()) - {"HEAD"}
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert app_routes == documented


def test_a_root_not_mapped_on_the_serving_host(
    any_catalog: Catalog, example_library: Library, tmp_path: Path
) -> None:
    """Another workstation's root: frames listed, no image path, said to be unmapped."""
    from kino_catalog import Catalog as CatalogClass

    any_catalog.sync(example_library.root)
    elsewhere = CatalogClass(any_catalog.engine, host="another-workstation")
    served = serve(elsewhere, example_library, tmp_path)
    frames = served.client.get("/api/search", params={"limit": 100}).json()["frames"]
    assert frames
    assert all(f["sidecar"] is None and f["root"] == "examples" for f in frames)
    first = frames[0]["id"]
    assert served.client.get(f"/api/frames/{first}/image").status_code == 404
    page = served.client.get(f"/frames/{first}").text
    assert "is not mapped on this host" in page
    stats = served.client.get("/api/stats").json()
    assert stats["frames_not_mapped_here"] == len(served.catalog.search(limit=None))
    [root] = stats["roots"]
    assert root["path"] is None
    assert root["synced_by"] == any_catalog.host
