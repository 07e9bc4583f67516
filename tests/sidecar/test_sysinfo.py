"""save_generation_params(system_info=True, image_hash=True): detected, cached, never failing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat

import pytest
from sqlalchemy import text

from kino_catalog.sidecar import save_generation_params, save_generation_params_sync, sysinfo
from tests.factories import PNG_8X8

FAKE_SMI = """#!/bin/sh
echo "NVIDIA GeForce RTX 4090, 550.54.14, 24564"
echo "NVIDIA GeForce RTX 3060, 550.54.14, 12288"
"""


@pytest.fixture
def fresh_detection():
    sysinfo.detect_system_info.cache_clear()
    yield
    sysinfo.detect_system_info.cache_clear()


@pytest.fixture
def fake_nvidia_smi(tmp_path, monkeypatch, fresh_detection):
    folder = tmp_path / "bin"
    folder.mkdir()
    exe = folder / "nvidia-smi"
    exe.write_text(FAKE_SMI)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def _save(library, **options):
    image = library.root / "project_3_frame_41_variant_0.png"
    image.write_bytes(PNG_8X8)
    path = save_generation_params_sync(image, "sdxl", "1.0.0", 0, None, {"seed": 1}, 3, **options)
    return image, json.loads(open(path, "rb").read())


def test_system_info_names_the_gpu_and_is_indexed(fake_nvidia_smi, library, catalog):
    _, doc = _save(library, system_info=True)
    info = doc["system_info"]
    assert info["gpu"] == "NVIDIA GeForce RTX 4090"
    assert info["driver"] == "550.54.14"
    assert info["vram_mb"] == 24564
    assert [g["name"] for g in info["gpus"]] == [
        "NVIDIA GeForce RTX 4090",
        "NVIDIA GeForce RTX 3060",
    ]
    assert info["python"].count(".") == 2
    assert isinstance(info["packages"], dict)
    catalog.sync(library.root)
    with catalog.engine.connect() as conn:
        assert conn.execute(text("SELECT gpu, driver FROM frames")).one() == (
            "NVIDIA GeForce RTX 4090",
            "550.54.14",
        )


def test_detection_is_cached_per_process(fake_nvidia_smi, library, monkeypatch):
    calls = []
    real = sysinfo.subprocess.run

    def counting_run(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(sysinfo.subprocess, "run", counting_run)
    _save(library, system_info=True)
    _save(library, system_info=True)
    assert len(calls) == 1


def test_failed_detection_never_fails_the_save(fresh_detection, library, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("nvidia-smi exploded")

    monkeypatch.setattr(sysinfo.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(sysinfo.subprocess, "run", broken)
    _, doc = _save(library, system_info=True)
    assert doc["system_info"]["gpu"] is None
    assert doc["system_info"]["os"]


def test_image_hash_is_the_sha256_of_the_image(library):
    _, doc = _save(library, image_hash=True)
    assert doc["image_hash"] == {
        "algorithm": "sha256",
        "value": hashlib.sha256(PNG_8X8).hexdigest(),
    }
    assert "system_info" not in doc


def test_image_hash_without_an_image_still_saves(library):
    path = save_generation_params_sync(
        library.root / "nothing.png", "sdxl", "1", 0, None, {}, None, image_hash=True
    )
    assert "image_hash" not in json.loads(open(path, "rb").read())


def test_async_twin_accepts_the_options(fresh_detection, library):
    image = library.root / "a.png"
    image.write_bytes(PNG_8X8)
    path = asyncio.run(
        save_generation_params(
            image, "sdxl", "1", 0, None, {}, None, system_info=True, image_hash=True
        )
    )
    doc = json.loads(open(path, "rb").read())
    assert set(doc) >= {"system_info", "image_hash"}
