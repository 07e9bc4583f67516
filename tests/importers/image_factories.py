"""Small synthetic images with embedded metadata, for the cases the real samples lack."""

from __future__ import annotations

import io
import json
import struct
import zlib
from typing import TYPE_CHECKING, Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = [
    "INFOTEXT",
    "chunk",
    "comfy_graph",
    "jpeg_with_user_comment",
    "png_bytes",
    "png_with_text",
    "raw_png",
]


#: An A1111 infotext with the hard parts: LoRA tags with one and two weights, a
#: lyco tag, a blank line, quoted and JSON values holding commas, templates.
INFOTEXT = (
    "a castle <lora:add_detail:0.8>, <lora:Film-Grain:0.5:0.7>\n"
    "second line <lyco:loha_style>\n"
    "\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, "
    "Seed: 18446744073709551615, "
    'Size: 832x1216, Model: sdxl_base, Lora hashes: "add_detail: 1234abcd, Film-Grain: 99ff", '
    'Civitai resources: [{"type": "lora", "name": "a, b"}], Hires upscale: 1.5, Version: v1.10.1\n'
    "Template: a castle {at dawn|at dusk}\n"
    "second template line\n"
    "Negative Template: blurry"
)


def png_with_text(path: Path, texts: dict[str, str], *, itxt: bool = False) -> Path:
    """A 2x2 PNG whose tEXt (or iTXt) chunks hold ``texts``, written by Pillow."""
    info = PngInfo()
    for key, value in texts.items():
        if itxt:
            info.add_itxt(key, value)
        else:
            info.add_text(key, value)
    Image.new("RGB", (2, 2), (10, 20, 30)).save(path, pnginfo=info)
    return path


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(before: Sequence[bytes] = (), after: Sequence[bytes] = ()) -> bytes:
    """A valid 1x1 grey PNG with extra chunks before and after its IDAT."""
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\x00\x80"))
    return (
        b"\x89PNG\r\n\x1a\n"
        + ihdr
        + b"".join(before)
        + idat
        + b"".join(after)
        + chunk(b"IEND", b"")
    )


def png_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def jpeg_with_user_comment(
    path: Path, payload: bytes, *, ifd0_tags: dict[int, Any] | None = None
) -> Path:
    """A small JPEG whose Exif IFD UserComment is ``payload`` (header included)."""
    exif = Image.Exif()
    for tag, value in (ifd0_tags or {}).items():
        exif[tag] = value
    if payload:
        exif.get_ifd(0x8769)[0x9286] = payload
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 100, 50)).save(buffer, "JPEG", exif=exif.tobytes())
    path.write_bytes(buffer.getvalue())
    return path


def comfy_graph(seed: int = 2**64 - 1) -> dict[str, Any]:
    """A ComfyUI API graph: checkpoint -> LoraLoader -> LoraLoaderModelOnly -> KSampler,
    a primitive node feeding the seed, a subgraph-style id and an unknown custom node.
    """
    return {
        "4": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "sdxl/base.safetensors"},
        },
        "10": {
            "class_type": "LoraLoader",
            "inputs": {
                "model": ["4", 0],
                "clip": ["4", 1],
                "lora_name": "styles/Add-Detail.safetensors",
                "strength_model": 0.8,
                "strength_clip": 0.6,
            },
        },
        "30:11": {
            "class_type": "LoraLoaderModelOnly",
            "inputs": {
                "model": ["10", 0],
                "lora_name": "film_grain.safetensors",
                "strength_model": 0.5,
            },
        },
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": ["20", 0], "clip": ["10", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["10", 1]}},
        "20": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "a castle at dawn"}},
        "21": {"class_type": "Seed (rgthree)", "inputs": {"seed": seed}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 832, "height": 1216, "batch_size": 1},
        },
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": ["21", 0],
                "steps": 28,
                "cfg": 6,
                "sampler_name": "dpmpp_2m",
                "scheduler": "karras",
                "denoise": 1.0,
                "model": ["30:11", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "40": {"class_type": "MyStudioGrain", "inputs": {"image": ["8", 0], "grain_amount": 0.25}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["40", 0], "filename_prefix": "x"}},
    }


def to_json(value: Any) -> str:
    return json.dumps(value)
