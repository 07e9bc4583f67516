"""Regenerate examples/library/, the hand-curated example Kino library (stdlib only).

Run from anywhere: ``python examples/make_examples.py``. It deletes and rewrites
examples/library/ only. Every file it writes, and the odd case each one covers,
is listed in examples/README.md; keep the two in step.

Sidecars are written the way Kino writes them: ``json.dump(record, f, indent=2)``
(so non-ASCII is ``\\uXXXX``-escaped), keys in Kino's order (plugin,
plugin_version, parameters, variants, output, timestamp, task_id, project_id,
frame_id). ``output.path`` is the absolute path on the machine that generated
the frame (Ana's workstation), which does not exist here.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

LIBRARY = Path(__file__).resolve().parent / "library"
KINO_FRAMES = "/home/ana/kino/backend/data/frames"

NEG_PHOTO = "blurry, lowres, bad anatomy, bad hands, watermark, text"
NEG_FANTASY = "(worst quality:1.4), (low quality:1.4), deformed, extra limbs, watermark"
NEG_WAN = "static, still image, blurry, jitter, deformed, watermark"


def png(rgb: tuple[int, int, int]) -> bytes:
    """A valid 8x8 RGB PNG of one colour."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + bytes(rgb) * 8 for _ in range(8))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def lora(name: str, model: float, clip: float | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"lora_name": name, "strength_model": model}
    if clip is not None:
        item["strength_clip"] = clip
    return item


def sdxl(
    prompt: str,
    neg: str,
    seed: int,
    model: str,
    loras: list[dict[str, Any]],
    *,
    steps: int = 30,
    cfg: float = 7.0,
    sampler: str = "dpmpp_2m",
    scheduler: str = "karras",
    size: tuple[int, int] = (1024, 1024),
    variants: int = 1,
) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "negative_prompt": neg,
        "width": size[0],
        "height": size[1],
        "steps": steps,
        "cfg_scale": cfg,
        "sampler": sampler,
        "scheduler": scheduler,
        "seed": seed,
        "model_name": model,
        "loras": loras,
        "num_variants": variants,
    }


def wan(
    prompt: str,
    seed: int,
    frames: int,
    high: list[dict[str, Any]],
    low: list[dict[str, Any]],
    size: tuple[int, int] = (832, 480),
) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "negative_prompt": NEG_WAN,
        "width": size[0],
        "height": size[1],
        "num_frames": frames,
        "seed": seed,
        "model_name": "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
        "num_variants": 1,
        "total_frames": frames,
        "high_loras": high,
        "low_loras": low,
    }


def record(
    plugin: str,
    params: dict[str, Any],
    image: str,
    *,
    timestamp: str | None,
    task_id: int = 0,
    project_id: int | None = None,
    frame_id: int | None = None,
    version: str = "1.0.0",
    variants: bool = True,
) -> dict[str, Any]:
    rec: dict[str, Any] = {"plugin": plugin, "plugin_version": version, "parameters": params}
    if variants:
        rec["variants"] = params.get("num_variants", 1)
    rec["output"] = {"filename": image, "path": f"{KINO_FRAMES}/{image}"}
    rec["timestamp"] = timestamp
    if timestamp != "regenerated":  # Kino's in-place regeneration drops task/project ids
        rec["task_id"] = task_id
        if project_id is not None:
            rec["project_id"] = project_id
    if frame_id is not None:
        rec["frame_id"] = frame_id
    return rec


def write(rel: str, data: bytes, when: dt.datetime) -> None:
    path = LIBRARY / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    t = when.timestamp()
    os.utime(path, (t, t))


def frame(
    pid: int,
    fid: int,
    variant: int,
    rec: dict[str, Any],
    when: dt.datetime,
    colour: tuple[int, int, int],
    *,
    images: int = 1,
    image: bool = True,
) -> None:
    """Write one Kino frame: sidecar + its PNG (or PNG sequence for images > 1)."""
    stem = f"project_{pid}/project_{pid}_frame_{fid}_variant_{variant}"
    if images > 1:
        for k in range(images):
            write(f"{stem}_seq_{k:03d}.png", png(colour), when)
        stem += "_seq_000"
    elif image:
        write(f"{stem}.png", png(colour), when)
    write(f"{stem}.json", json.dumps(rec, indent=2).encode(), when)


def main() -> None:
    if LIBRARY.exists():
        shutil.rmtree(LIBRARY)
    d = dt.datetime
    xl = "sd_xl_base_1.0.safetensors"
    juggernaut = "juggernautXL_v9Rdphoto2Lightning.safetensors"
    dreamshaper = "dreamshaperXL_v21TurboDPMSDE.safetensors"
    amber, slate, ember, teal, violet = (
        (214, 160, 90),
        (90, 100, 120),
        (200, 70, 40),
        (40, 170, 170),
        (150, 60, 200),
    )

    # -- project 3: cinematic portraits ------------------------------------------------
    p = 3
    frame(
        p,
        1,
        0,
        record(
            "sdxl",
            sdxl(
                "a cinematic portrait of an old fisherman, 85mm, soft light, film grain, "
                "(weathered skin:1.2), shallow depth of field",
                NEG_PHOTO,
                1234567890,
                xl,
                [lora("add_detail.safetensors", 0.8, 0.8)],
            ),
            "project_3_frame_1_variant_0.png",
            timestamp="20251013_150530",
            project_id=p,
        ),
        d(2025, 10, 13, 15, 5, 30),
        amber,
    )
    for v, seed in ((0, 18446744073709551615), (1, 3141592653)):
        frame(
            p,
            2,
            v,
            record(
                "sdxl",
                sdxl(
                    "portrait of a young woman in a red coat, rainy street at night, bokeh, "
                    "neon reflections, cinematic lighting",
                    NEG_PHOTO,
                    seed,
                    juggernaut,
                    [lora("Add_Detail", 0.6, 0.6), lora("skin_texture_v2.safetensors", 0.4, 0.4)],
                    steps=8,
                    cfg=2.0,
                    sampler="dpmpp_sde",
                    variants=2,
                ),
                f"project_3_frame_2_variant_{v}.png",
                timestamp=None,
                project_id=p,
            ),
            d(2025, 10, 14, 9, 12, 4 + v),
            amber,
        )
    frame(
        p,
        3,
        0,
        record(
            "sdxl",
            sdxl(
                "café terrace at night, Montmartre, warm light, a man reading Le Monde, "
                "35mm film, Kodak Portra 400",
                NEG_PHOTO,
                987654321,
                xl,
                [lora("film_grain.safetensors", 0.7, 1.0)],
                sampler="euler_ancestral",
                scheduler="normal",
                size=(1216, 832),
            ),
            "project_3_frame_3_variant_0.png",
            timestamp="20251015_201744",
            project_id=p,
        ),
        d(2025, 10, 15, 20, 17, 44),
        amber,
    )
    frame(
        p,
        4,
        0,
        record(
            "sdxl",
            sdxl(
                "close up portrait of a jazz singer, smoky club, rim light, (sharp focus:1.3)",
                NEG_PHOTO,
                424242,
                juggernaut,
                [lora("add_detail.safetensors", 1.0, 1.0)],
                steps=8,
                cfg=2.0,
                sampler="dpmpp_sde",
            ),
            "project_3_frame_4_variant_0.png",
            timestamp="regenerated",
            frame_id=4,
        ),
        d(2025, 10, 16, 11, 0, 2),
        amber,
    )
    frame(
        p,
        5,
        0,
        record(
            "sdxl",
            sdxl(
                "black and white portrait of a ballet dancer, studio, softbox, high contrast",
                NEG_PHOTO,
                55501234,
                xl,
                [],
            ),
            "project_3_frame_5_variant_0.png",
            timestamp="20251017_083015",
            project_id=p,
        ),
        d(2025, 10, 17, 8, 30, 15),
        amber,
        image=False,
    )
    broken = json.dumps(
        record(
            "sdxl",
            sdxl(
                "portrait of a chef in a busy kitchen, steam, warm tungsten light",
                NEG_PHOTO,
                77001122,
                xl,
                [lora("add_detail.safetensors", 0.8, 0.8)],
            ),
            "project_3_frame_6_variant_0.png",
            timestamp=None,
            project_id=p,
        ),
        indent=2,
    )
    write("project_3/project_3_frame_6_variant_0.png", png(amber), d(2025, 10, 18, 14, 2, 9))
    write(
        "project_3/project_3_frame_6_variant_0.json",
        broken[: broken.index('"sampler"') + 13].encode(),
        d(2025, 10, 18, 14, 2, 9),
    )
    write(
        "project_3/notes.json",
        json.dumps(
            {
                "title": "Portrait series for the autumn campaign",
                "client": "Atelier Lumen",
                "due": "2025-11-01",
                "todo": ["reshoot frame 5", "pick the best variant of frame 2"],
            },
            indent=2,
        ).encode(),
        d(2025, 10, 12, 10, 0, 0),
    )

    # -- project 7: castle and dragon fantasy ------------------------------------------
    p = 7
    frame(
        p,
        1,
        0,
        record(
            "sdxl",
            sdxl(
                "a gothic castle on a cliff above a stormy sea, a red dragon circling the towers, "
                "epic fantasy, volumetric clouds, (lightning:1.2)",
                NEG_FANTASY,
                12297829382473034410,
                dreamshaper,
                [
                    lora("loras/add_detail.pt", 0.5, 0.5),
                    lora("fantasy_armor_v3.safetensors", 0.7, 0.7),
                ],
                steps=6,
                cfg=2.0,
                sampler="dpmpp_sde",
                size=(1344, 768),
            ),
            "project_7_frame_1_variant_0.png",
            timestamp="20250902_221510",
            project_id=p,
        ),
        d(2025, 9, 2, 22, 15, 10),
        slate,
    )
    frame(
        p,
        2,
        0,
        record(
            "sdxl",
            sdxl(
                "knight in silver armor facing a red dragon in the castle courtyard, embers, "
                "dramatic backlight, highly detailed, concept art",
                NEG_FANTASY,
                2718281828,
                dreamshaper,
                [
                    lora("fantasy_armor_v3.safetensors", 0.9, 0.9),
                    lora("epic_lighting.safetensors", 0.6),
                ],
                steps=6,
                cfg=2.0,
                sampler="dpmpp_sde",
                size=(832, 1216),
            ),
            "project_7_frame_2_variant_0.png",
            timestamp="20250903_094501",
            task_id=57,
            project_id=p,
            version="1.1.0",
        ),
        d(2025, 9, 3, 9, 45, 1),
        ember,
    )
    frame(
        p,
        3,
        0,
        record(
            "wan22_i2v",
            wan(
                "the red dragon spreads its wings and takes off from the castle tower, camera orbits",
                5551234,
                5,
                [lora("wan_camera_orbit.safetensors", 0.8)],
                [lora("wan_lightx2v_4step.safetensors", 1.0)],
            ),
            "project_7_frame_3_variant_0_seq_000.png",
            timestamp=None,
            project_id=p,
            variants=False,
        ),
        d(2025, 9, 4, 16, 20, 0),
        ember,
        images=5,
    )
    frame(
        p,
        4,
        0,
        record(
            "sdxl",
            {
                "prompt": "an elf wizard reading a glowing book in a tower library, candlelight",
                "width": 1024,
                "height": 1024,
                "steps": 25,
                "cfg_scale": 6.5,
                "sampler": "euler",
                "seed": 8080,
                "model_name": xl,
            },
            "project_7_frame_4_variant_0.png",
            timestamp="20250905_120000",
            project_id=p,
            version="0.9.0",
            variants=False,
        ),
        d(2025, 9, 5, 12, 0, 0),
        violet,
    )

    # -- project 12: cyberpunk street ----------------------------------------------------
    p = 12
    frame(
        p,
        1,
        0,
        record(
            "sdxl",
            sdxl(
                "cyberpunk street at night, neon signs, rain, crowded alley, ramen stand, "
                "blade runner mood, (volumetric fog:1.3)",
                NEG_PHOTO,
                600613,
                juggernaut,
                [lora("add_detail.safetensors", 0.7, 0.7), lora("neon_glow.safetensors", 0.8, 0.8)],
                steps=8,
                cfg=2.0,
                sampler="dpmpp_sde",
                size=(1344, 768),
            ),
            "project_12_frame_1_variant_0.png",
            timestamp=None,
            project_id=p,
        ),
        d(2025, 11, 2, 23, 1, 45),
        teal,
    )
    frame(
        p,
        2,
        0,
        record(
            "sdxl",
            sdxl(
                "cyborg courier on a motorcycle, Shinjuku, 東京の夜, neon reflections on wet asphalt",
                NEG_PHOTO,
                31337,
                juggernaut,
                [
                    lora("neon_glow.safetensors", 1.0, 1.0),
                    lora("cyberpunk_city_v2.safetensors", 0.6, 0.6),
                ],
                steps=8,
                cfg=2.0,
                sampler="dpmpp_sde",
                size=(1344, 768),
            ),
            "project_12_frame_2_variant_0.png",
            timestamp="20251103_004512",
            project_id=p,
        ),
        d(2025, 11, 3, 0, 45, 12),
        teal,
    )
    frame(
        p,
        3,
        0,
        record(
            "wan22_i2v",
            wan(
                "rain falls on the neon street, camera slowly pushes in, steam rises from the ramen stand",
                1099511627776,
                81,
                [lora("wan_lightx2v_4step.safetensors", 1.0), lora("neon_glow.safetensors", 0.5)],
                [lora("wan_lightx2v_4step.safetensors", 1.0)],
            ),
            "project_12_frame_3_variant_0_seq_000.png",
            timestamp="20251103_013020",
            project_id=p,
        ),
        d(2025, 11, 3, 1, 30, 20),
        teal,
        images=3,
    )
    frame(
        p,
        4,
        0,
        record(
            "sdxl",
            sdxl(
                "rooftop view over a cyberpunk megacity at dawn, flying cars, holographic billboards",
                NEG_PHOTO,
                4000000000,
                xl,
                [lora("cyberpunk_city_v2.safetensors", 0.8, 0.8)],
                sampler="euler",
                scheduler="sgm_uniform",
                steps=40,
                cfg=6.0,
            ),
            "project_12_frame_4_variant_0.png",
            timestamp="20251104_061500",
            task_id=0,
        ),
        d(2025, 11, 4, 6, 15, 0),
        teal,
    )


if __name__ == "__main__":
    main()
