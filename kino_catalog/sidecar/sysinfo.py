"""What machine made a frame: OS, Python, package versions, CPU, GPU/driver/CUDA/VRAM.

Detected once per process (a generation server writes thousands of sidecars
and ``nvidia-smi`` takes tens of milliseconds) and never raising: a save must
not fail because a GPU could not be named.  Package versions come from the
installed distributions' metadata, so torch is never imported just to ask.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from typing import Any

__all__ = ["PACKAGES", "detect_system_info", "system_info"]

PACKAGES = ("torch", "diffusers", "transformers", "comfyui", "xformers")
NVIDIA_SMI_TIMEOUT_SECONDS = 3.0


def system_info() -> dict[str, Any]:
    """The cached system description for sidecars (a fresh copy each call)."""
    info = detect_system_info()
    return {**info, "packages": dict(info["packages"])}


@functools.cache
def detect_system_info() -> dict[str, Any]:
    """Detect the system description (cached: call :func:`system_info` instead)."""
    info: dict[str, Any] = {
        "os": _safe(platform.platform),
        "python": platform.python_version(),
        "cpu": _safe(_cpu_name),
        "cpu_count": os.cpu_count(),
        "packages": _safe(_package_versions) or {},
        "gpu": None,
        "driver": None,
        "vram_mb": None,
        "cuda": _safe(_cuda_version),
    }
    gpus = _safe(_nvidia_gpus) or []
    if gpus:
        info.update(gpu=gpus[0]["name"], driver=gpus[0]["driver"], vram_mb=gpus[0]["vram_mb"])
        if len(gpus) > 1:
            info["gpus"] = gpus
    return info


def _safe(detect: Any) -> Any:
    try:
        return detect()
    except Exception:  # detection is best effort by contract
        return None


def _cpu_name() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def _package_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _cuda_version() -> str | None:
    torch = sys.modules.get("torch")  # only if the host process already loaded it
    version = getattr(getattr(torch, "version", None), "cuda", None)
    return version if isinstance(version, str) else None


def _nvidia_gpus() -> list[dict[str, Any]]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    out = subprocess.run(
        [exe, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=NVIDIA_SMI_TIMEOUT_SECONDS,
        check=True,
    ).stdout
    gpus = []
    for line in out.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 3 or not parts[0]:
            continue
        vram = int(parts[2]) if parts[2].isdigit() else None
        gpus.append({"name": parts[0], "driver": parts[1] or None, "vram_mb": vram})
    return gpus
