"""The gallery in a real browser: Playwright driving Debian's Chromium against `kino-catalog serve`.

The server is the real command (`python -m kino_catalog serve --watch`) in a
child process, over a copy of the example library with 60 more frames and
colourful generated images (so load-more has something to load and the
screenshots show pictures).  Screenshots go to build/screenshots/ (or
$KINO_SCREENSHOTS); the README's two are copies in docs/.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kino_catalog.testing.browser import CHROMIUM, CHROMIUM_ARGS
from tests.factories import Library, copy_examples, make_sidecar

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

BIG_SEED = 2**64 - 1
EVIL_PROMPT = "<script>alert(1)</script><img src=x onerror=alert(2)> a cursed prompt"
SCREENSHOTS = Path(
    os.environ.get(
        "KINO_SCREENSHOTS", Path(__file__).resolve().parents[2] / "build" / "screenshots"
    )
)


def _chromium() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"Chromium is required in CI but {CHROMIUM} is missing (.ci/run installs it)")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium); browser tests skipped")


def paint(path: Path, seed: int, size: int = 384) -> None:
    """A deterministic colourful picture (gradient and discs), so screenshots show images."""
    from PIL import Image, ImageDraw

    hue = (seed * 47) % 360
    image = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(image)
    for y in range(0, size, 4):
        t = y / size
        draw.rectangle(
            (0, y, size, y + 4),
            fill=(
                int(40 + 150 * t + (hue % 60)),
                int(30 + 80 * (1 - t) + (hue % 90)),
                int(90 + 120 * t * ((hue % 7) / 7)),
            ),
        )
    for i in range(5):
        r = 20 + (seed * (i + 3)) % 60
        cx, cy = (seed * 31 + i * 97) % size, (seed * 17 + i * 53) % size
        colour = ((hue + i * 50) % 255, (hue * 3 + i * 70) % 255, (200 + i * 11) % 255)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    image.save(path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gallery:
    """The running server: its URL, library and catalogue path."""

    def __init__(self, url: str, library: Library, db: Path) -> None:
        self.url = url
        self.library = library
        self.db = db

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as answer:
            return json.loads(answer.read())

    def frame_id(self, query: str) -> int:
        found = self.api("/api/search?" + urllib.parse.urlencode({"q": query}))["frames"]
        assert len(found) == 1, query
        return int(found[0]["id"])


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gallery]:
    _chromium()
    base = tmp_path_factory.mktemp("gallery")
    root = base / "library"
    copy_examples(root)
    library = Library(root)
    prompts = ["a lighthouse at dusk", "a red dragon over a castle", "portrait, soft light"]
    for n in range(60):
        library.frame(
            20,
            n,
            parameters={"prompt": f"{prompts[n % 3]}, study {n}", "seed": 1000 + n, "loras": []},
            timestamp=f"20250101_{n // 60:02d}{n % 60:02d}00",
        )
    library.frame(20, 99, parameters={"prompt": EVIL_PROMPT, "seed": 4242, "loras": []})
    for i, png in enumerate(sorted(root.rglob("*.png"))):
        paint(png, i)
    db = base / "catalog.db"
    env = {**os.environ, "KINO_CATALOG_DB": str(db)}
    run = [sys.executable, "-m", "kino_catalog"]
    subprocess.run([*run, "sync", str(root)], env=env, check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(
        [*run, "serve", "--watch", "--port", str(port), "--thumbnails", str(base / "thumbs")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/api/stats", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"serve did not start: {server.stderr.read()!r}") from None
                time.sleep(0.2)
        yield Gallery(url, library, db)
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def browser(gallery: Gallery) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=_chromium(), args=list(CHROMIUM_ARGS))
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on(
        "dialog", lambda dialog: (problems.append("dialog: " + dialog.message), dialog.dismiss())
    )
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # A page answered 400/404 on purpose is checked by its own test, not here.
    tab.on(
        "console",
        lambda message: (
            problems.append("console: " + message.text)
            if message.type == "error" and "Failed to load resource" not in message.text
            else None
        ),
    )
    yield tab
    context.close()
    assert problems == [], problems  # no script ran from a sidecar, no CSP refusal, no JS error


def wait_until(page: Page, expression: str, timeout_seconds: float = 30.0) -> None:
    """Poll a JavaScript expression until it is true.

    Not Page.wait_for_function: it evaluates its text with eval, which the
    page's strict Content-Security-Policy (rightly) refuses; evaluate() goes
    through the DevTools protocol instead.
    """
    deadline = time.monotonic() + timeout_seconds
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_seconds} s: {expression}"
        page.wait_for_timeout(50)


def _tiles(page: Page) -> list[str]:
    return page.locator("#grid .tile").evaluate_all("els => els.map(e => e.dataset.id)")


def test_search_and_count(gallery: Gallery, page: Page) -> None:
    page.goto(gallery.url + "/")
    page.fill("#q", "lora:add_detail")
    page.press("#q", "Enter")
    page.wait_for_url("**q=lora%3Aadd_detail**")
    wait_until(page, "document.getElementById('count').textContent.includes('frames')")
    assert page.text_content("#count") == "6 frames"
    assert len(_tiles(page)) == 6


def test_a_field_no_frame_has_is_named_with_the_nearest(gallery: Gallery, page: Page) -> None:
    page.goto(gallery.url + "/?q=lroa%3Aadd_detail")
    warning = page.locator(".field-warning")
    assert warning.is_visible()
    assert warning.inner_text() == "no frame has 'lroa'; did you mean lora:?"
    page.goto(gallery.url + "/?q=lora%3Aadd_detail")
    assert page.locator(".field-warning").count() == 0


def test_bad_query_shows_its_message(gallery: Gallery, page: Page) -> None:
    page.goto(gallery.url + "/?q=castle+steps%3Aabc")
    error = page.locator("#query-error")
    assert error.is_visible()
    assert "expected an integer for steps" in error.inner_text()
    assert page.text_content("#query-error mark") == "steps:abc"


def test_load_more_and_scroll(gallery: Gallery, page: Page) -> None:
    page.goto(gallery.url + "/")
    first = _tiles(page)
    assert len(first) == 50
    page.locator("#more").scroll_into_view_if_needed()
    wait_until(page, "document.querySelectorAll('#grid .tile').length > 50")
    wait_until(page, "document.getElementById('more').hidden")  # all 75 shown
    ids = _tiles(page)
    assert ids[:50] == first
    assert len(ids) == len(set(ids)) == 75
    page.wait_for_url("**shown=75**")  # the URL remembers how far the grid went


def test_facet_click_adds_and_alt_click_excludes(gallery: Gallery, page: Page) -> None:
    page.goto(gallery.url + "/")
    link = page.locator('#facets a[data-term="lora:add_detail"]')
    link.click()
    page.wait_for_url("**q=lora%3Aadd_detail**")
    wait_until(page, "document.getElementById('count').textContent === '6 frames'")
    page.locator('#facets a[data-term="project:3"]').click(modifiers=["Alt"])
    page.wait_for_url("**-project%3A3**")
    assert page.input_value("#q") == "lora:add_detail -project:3"


def test_open_a_frame_keyboard_and_big_seed(gallery: Gallery, page: Page) -> None:
    frame_id = gallery.frame_id(f"seed:{BIG_SEED}")
    page.goto(gallery.url + "/?q=project%3A3")
    page.locator(f'.tile[data-id="{frame_id}"]').focus()
    page.keyboard.press("Enter")
    view = page.locator("#overlay .frame-view")
    view.wait_for()
    assert page.text_content("#overlay .seed") == str(BIG_SEED)  # not 18446744073709552000
    assert f"frame={frame_id}" in page.url
    page.keyboard.press("ArrowRight")
    wait_until(page, f"document.querySelector('#overlay .frame-view').dataset.id !== '{frame_id}'")
    page.keyboard.press("Escape")
    wait_until(page, "document.getElementById('overlay').hidden")
    page.keyboard.press("ArrowLeft")  # arrows move the focus through the grid
    focused = page.evaluate("document.activeElement.dataset.id")
    assert focused is not None
    page.goto(gallery.url + f"/?q=project%3A3&frame={frame_id}")  # a bookmark of the view
    page.locator("#overlay .frame-view").wait_for()
    page.go_back()


def test_sequence_plays(gallery: Gallery, page: Page) -> None:
    frame_id = gallery.frame_id("project:12 plugin:wan22_i2v")
    page.goto(gallery.url + f"/frames/{frame_id}")
    image = page.locator(".frame-image")
    seen = set()
    deadline = time.monotonic() + 30  # each look is a round trip to a possibly busy browser
    while len(seen) < 3 and time.monotonic() < deadline:
        seen.add(image.get_attribute("src"))
        page.wait_for_timeout(60)
    assert len(seen) >= 3, seen  # _seq_000, _seq_001, _seq_002 shown in turn
    page.click(".play")
    assert page.text_content(".play") == "Play"


def test_rating_edit_reaches_the_sidecar(gallery: Gallery, page: Page) -> None:
    frame_id = gallery.frame_id("seed:1234567890 project:3")
    sidecar = Path(gallery.api(f"/api/frames/{frame_id}")["sidecar"])
    page.goto(gallery.url + f"/frames/{frame_id}")
    page.click('.rate[data-rating="4"]')
    wait_until(page, "document.querySelector('.edit-status').textContent.includes('Saved')")
    assert json.loads(sidecar.read_text(encoding="utf-8"))["rating"] == 4
    assert page.get_attribute('.rate[data-rating="4"]', "aria-pressed") == "true"
    page.fill(".tag-form input", "keeper")
    page.press(".tag-form input", "Enter")
    page.wait_for_selector(".tags .tag:text('keeper')")
    assert json.loads(sidecar.read_text(encoding="utf-8"))["tags"] == ["keeper"]


def test_regen_form_shows_the_request(gallery: Gallery, page: Page) -> None:
    frame_id = gallery.frame_id(f"seed:{BIG_SEED}")
    page.goto(gallery.url + f"/frames/{frame_id}")
    assert str(BIG_SEED) in page.text_content(".request")
    page.fill(".regen-form textarea[name=set]", "steps=40\ncfg_scale=6.5")
    page.click(".regen-form button[type=submit]")
    wait_until(page, "document.querySelector('.request').textContent.includes('\"steps\": 40')")
    text = page.text_content(".request")
    assert '"cfg_scale": 6.5' in text
    assert str(BIG_SEED) in text
    page.fill(".regen-form textarea[name=set]", "steps=abc")
    page.click(".regen-form button[type=submit]")
    wait_until(page, "document.querySelector('.regen-status').textContent.includes('steps')")


def test_script_prompt_is_shown_as_text(gallery: Gallery, page: Page) -> None:
    frame_id = gallery.frame_id("seed:4242")
    page.goto(gallery.url + "/?q=seed%3A4242")
    assert page.text_content(".tile .cap") == EVIL_PROMPT
    page.click(".tile")
    page.locator("#overlay .frame-view").wait_for()
    assert page.text_content("#overlay .prompt") == EVIL_PROMPT
    assert page.locator("#overlay .prompt script").count() == 0
    page.goto(gallery.url + f"/frames/{frame_id}")
    assert page.text_content(".prompt") == EVIL_PROMPT
    assert page.evaluate("document.querySelectorAll('script').length") == 1  # only app.js


def test_frame_written_while_watching_appears(gallery: Gallery, page: Page) -> None:
    doc = make_sidecar({"prompt": "a frame written while serving", "seed": 777001, "loras": []})
    sidecar = gallery.library.write("project_20/project_20_frame_500_variant_0.json", doc)
    paint(sidecar.with_suffix(".png"), 500)
    deadline = time.monotonic() + 60  # the server's watcher, then a page load per look
    while True:
        page.goto(gallery.url + "/?q=seed%3A777001")
        if page.locator(".tile").count() == 1:
            break
        assert time.monotonic() < deadline, "the new frame never appeared"
        page.wait_for_timeout(300)
    wait_until(page, "document.getElementById('count').textContent === '1 frame'")


def test_screenshots(gallery: Gallery, page: Page) -> None:
    """The README's pictures: the grid with facets, and a frame view."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(gallery.url + "/")
    page.wait_for_selector("#facets section")
    wait_until(
        page,
        "Array.from(document.querySelectorAll('#grid img')).slice(0, 12)"
        ".every(i => i.complete && i.naturalWidth > 0)",
    )
    page.screenshot(path=str(SCREENSHOTS / "grid.png"))
    frame_id = gallery.frame_id(f"seed:{BIG_SEED}")
    page.goto(gallery.url + f"/frames/{frame_id}")
    wait_until(page, "document.querySelector('.frame-image').complete")
    page.screenshot(path=str(SCREENSHOTS / "frame.png"))
    assert (SCREENSHOTS / "grid.png").stat().st_size > 10_000
