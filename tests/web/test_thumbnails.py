"""Thumbnails: WebP on disk, made once under concurrent asks, new when the image changes."""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from kino_catalog.web.thumbnails import ThumbnailCache, make_thumbnail

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from kino_catalog import Catalog
    from tests.factories import CliResult, Library


def _png(path: Path, size: tuple[int, int] = (1024, 1024), colour: str = "purple") -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


def test_thumbnail_fits_the_size_and_is_webp(tmp_path: Path) -> None:
    cache = ThumbnailCache(tmp_path / "cache")
    made = cache.get(str(_png(tmp_path / "a.png", (1024, 512))), 256)
    assert made is not None
    assert made.path is not None
    with Image.open(made.path) as thumb:
        assert thumb.format == "WEBP"
        assert thumb.size == (256, 128)


def test_many_concurrent_asks_make_it_once(tmp_path: Path) -> None:
    calls: list[str] = []
    gate = threading.Event()

    def slow_maker(image: str, size: int, dest: str) -> None:
        calls.append(image)
        gate.wait(5)
        make_thumbnail(image, size, dest)

    cache = ThumbnailCache(tmp_path / "cache", maker=slow_maker)
    image = str(_png(tmp_path / "a.png"))
    results: list[object] = []
    asking = threading.Barrier(17)

    def ask() -> None:
        asking.wait(30)
        results.append(cache.get(image, 128))

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    asking.wait(30)  # all 16 are asking now
    deadline = time.monotonic() + 30
    while not calls:  # one of them is making it...
        assert time.monotonic() < deadline, "nobody made the thumbnail"
        time.sleep(0.01)
    # ...while the others queue behind it (a slower machine can only let some ask
    # after it is made, which tests less, never fails).
    time.sleep(0.2)
    gate.set()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "an ask never returned"
    assert len(results) == 16
    assert len(calls) == 1
    assert len({r.path for r in results}) == 1  # type: ignore[attr-defined]
    assert cache._locks == {}  # nothing left behind
    cache.get(image, 128)
    assert len(calls) == 1  # from the disk from now on


def test_a_changed_image_gets_a_new_thumbnail(tmp_path: Path) -> None:
    cache = ThumbnailCache(tmp_path / "cache")
    image = _png(tmp_path / "a.png")
    first = cache.get(str(image), 128)
    _png(image, colour="orange")
    os.utime(image, ns=(1, 1))
    second = cache.get(str(image), 128)
    assert first is not None
    assert second is not None
    assert first.etag != second.etag
    assert second.path is not None
    assert second.path.exists()


def test_broken_and_missing_images(tmp_path: Path) -> None:
    calls: list[str] = []

    def counting(image: str, size: int, dest: str) -> None:
        calls.append(image)
        make_thumbnail(image, size, dest)

    cache = ThumbnailCache(tmp_path / "cache", maker=counting)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    for _ in range(3):
        found = cache.get(str(broken), 256)
        assert found is not None
        assert found.path is None
    assert len(calls) == 1  # remembered as broken, not decoded on every request
    assert cache.get(str(tmp_path / "gone.png"), 256) is None
    with pytest.raises(ValueError, match="size must be one of"):
        cache.get(str(broken), 100)


def test_make_many_on_two_processes(tmp_path: Path) -> None:
    images = [str(_png(tmp_path / f"{i}.png", (300, 200))) for i in range(12)]
    (tmp_path / "bad.png").write_bytes(b"junk")
    cache = ThumbnailCache(tmp_path / "cache")
    seen: list[int] = []
    counts = cache.make_many(
        [*images, str(tmp_path / "bad.png"), str(tmp_path / "none.png"), None],
        128,
        workers=2,
        progress=lambda done, total: seen.append(done),
        total=15,
    )
    assert counts == {"made": 12, "cached": 0, "broken": 1, "missing": 2}
    assert seen[-1] == 15
    again = cache.make_many(images, 128, workers=2)
    assert again["cached"] == 12
    assert again["made"] == 0
    for image in images:
        found = cache.get(image, 128)
        assert found is not None
        assert found.path is not None


def test_thumbs_command(
    run_cli: Callable[..., CliResult], library: Library, catalog: Catalog, tmp_path: Path
) -> None:
    for n in range(3):
        sidecar = library.frame(1, n, parameters={"seed": n})
        _png(sidecar.with_suffix(".png"), (640, 480))
    library.frame(1, 9, image=False, parameters={"seed": 9})
    catalog.sync(library.root)
    folder = tmp_path / "thumbs"
    result = run_cli("thumbs", "--thumbnails", str(folder), "--size", "128", "--jobs", "2")
    assert result.code == 0, result.err
    assert "3 made, 0 already cached, 0 unreadable, 1 missing" in result.err
    assert len(list(folder.rglob("*.webp"))) == 3
    again = run_cli("thumbs", "seed:1", "--thumbnails", str(folder), "--size", "128")
    assert "0 made, 1 already cached" in again.err
    assert run_cli("thumbs", "steps:abc", "--thumbnails", str(folder)).code == 2
