"""What a generated corpus draws from: prompt words, models, samplers, sizes and LoRA names.

Kept apart from corpus.py, which turns these into sidecars and files: the
vocabulary is data (real prompt words, Kino's samplers and SDXL sizes with
their observed weights) plus the Zipf tables built from it once, at import,
deterministically (seed 1234), so every corpus of the same arguments is the
same bytes.  Stdlib only, as corpus.py.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "NEGATIVES",
    "QUALITY_PREFIX",
    "SAMPLERS",
    "SDXL_SIZES",
    "TABLES",
    "UNICODE_PHRASES",
    "WAN_MODELS",
    "WAN_SIZES",
    "pick",
    "zipf_cum",
]

T = TypeVar("T")

# Real prompt words take the frequent ranks; synthetic syllable words fill the
# rest of the 2,000-word vocabulary (built deterministically from seed 1234).
REAL_WORDS = """
masterpiece best quality detailed high resolution photo portrait woman man girl boy solo looking
at viewer smile long hair short hair blonde brown black red white blue green eyes dress shirt
jacket coat skirt standing sitting outdoors indoors city street night day sunset sunrise sky
clouds rain snow forest mountain river lake ocean beach flowers garden light lighting soft
cinematic dramatic volumetric rim backlight bokeh depth of field sharp focus ultra realistic
photorealistic raw film grain analog 35mm 50mm 85mm lens dslr canon nikon sony kodak portra
fujifilm studio neon cyberpunk fantasy medieval castle armor sword knight dragon elf wizard magic
glowing particles fog mist smoke fire water reflection mirror window room bedroom kitchen cafe
library office car motorcycle train station building skyscraper tower bridge road alley rooftop
balcony wall brick stone wood metal glass gold silver jewelry necklace earrings ring hat glasses
scarf gloves boots shoes sneakers jeans shorts hoodie sweater uniform suit tie kimono traditional
modern futuristic retro vintage 1980s 1990s anime manga illustration painting oil watercolor
sketch lineart digital art concept octane render unreal engine 3d cgi intricate elegant beautiful
gorgeous cute pretty handsome young old elderly child smiling laughing serious sad angry crying
surprised closed mouth open teeth tongue lips makeup freckles skin texture pores wrinkles tattoo
piercing muscular slim curvy tall petite athletic full body upper body close up cowboy shot wide
angle from above from below side view back view profile dynamic pose walking running jumping
dancing fighting holding cup phone book umbrella flower cat dog bird horse wolf fox butterfly
tree leaves autumn winter spring summer warm cold colorful vibrant pastel muted monochrome
grayscale sepia dark bright shadow contrast saturation hdr 8k 4k uhd award winning trending
artstation hyperdetailed epic majestic serene peaceful mysterious moody atmospheric ethereal
surreal whimsical gothic steampunk baroque renaissance art nouveau minimalist abstract geometric
symmetrical centered composition rule of thirds golden hour blue hour overcast harsh sunlight
candlelight lamp lantern neon signs billboard crowd people couple family friends soldier pilot
astronaut robot android cyborg mecha spaceship planet moon stars galaxy nebula space station
desert canyon jungle swamp cave ruins temple shrine pagoda village town market festival
""".split()

SYLLABLES = (
    "ka ri to ne mu sa lo vi da pe zu ha ki ro me ta na shi ya fu go "
    "be ra lu mi so te wa chi ze po ku ar el on in us ex or an ul"
).split()

UNICODE_PHRASES = [
    "café terrace", "Møller style", "crème brûlée", "niño", "São Paulo street",
    "Zürich old town", "façade", "naïve art", "東京の夜", "桜", "富士山", "猫耳",
    "赛博朋克", "한복", "🌸", "✨ sparkles ✨", "🔥", "🌙 moonlit", "Ünterwasser",
    "Ελληνικό ναό", "Москва зимой", "déjà vu", "piñata", "Åland",
]  # fmt: skip
QUALITY_PREFIX = [
    "masterpiece",
    "best quality",
    "high resolution",
    "ultra detailed",
    "score_9",
    "score_8_up",
    "score_7_up",
    "photorealistic",
    "raw photo",
]
NEGATIVES = [
    "lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit",
    "blurry, low quality, worst quality, jpeg artifacts, watermark, signature",
    "deformed, disfigured, ugly, mutated hands, poorly drawn face, extra limbs",
    "score_4, score_5, score_6, source_pony, source_furry, monochrome",
    "nsfw, cartoon, 3d, painting, cgi, render, sketch, cropped, out of frame",
    "(worst quality:1.4), (low quality:1.4), (normal quality:1.4), lowres",
    "bad-hands-5, easynegative, ng_deepnegative_v1_75t",
    "",
]
MODEL_BASES = """
cyberrealisticPony ponyDiffusionV6XL juggernautXL realvisxlV40 dreamshaperXL animagineXL sdXL_base
epicrealismXL zavychromaxl albedobaseXL copaxTimelessxl nightvisionXL leosamsHelloworldXL
autismmixSDXL illustriousXL noobaiXL wildcardxXL starlightXL protovisionXL crystalClearXL
halcyonSDXL dynavisionXL samaritan3dCartoon thinkdiffusionXL unstableDiffusers newrealityXL
colossusProjectXL afroditexl hassakuXL bluePencilXL mklanRealistic rundiffusionXL lustifySDXL
pixelwaveXL""".split()
WAN_MODELS = [
    "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
    "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
    "wan2.2_i2v_A14B_Q8_0.gguf",
    "wan2.2_ti2v_5B_fp16.safetensors",
]
SAMPLERS = [
    "euler",
    "euler_ancestral",
    "dpmpp_2m",
    "dpmpp_2m_sde",
    "dpmpp_3m_sde",
    "dpmpp_sde",
    "ddim",
    "uni_pc",
    "lcm",
    "heun",
]
SAMPLER_WEIGHTS = [20, 14, 18, 22, 8, 6, 3, 4, 3, 2]
SDXL_SIZES = [
    (1024, 1024),
    (1152, 896),
    (896, 1152),
    (1216, 832),
    (832, 1216),
    (1344, 768),
    (768, 1344),
    (1536, 640),
    (640, 1536),
]
SIZE_WEIGHTS = [35, 8, 12, 10, 14, 5, 8, 2, 2]
WAN_SIZES = [(832, 480), (480, 832), (1280, 720), (720, 1280), (640, 640)]
LORA_STEMS = """
detail_tweaker add_detail more_details epiCRealismHelper skin_texture film_grain cinematic_light
pony_realism hands_fix eye_enhancer bokeh neon_glow watercolor lineart pixel_art ghibli_style
cyberpunk_city hair_detail wan_lightx2v_4step wan_camera_orbit wan_smooth_motion""".split()

N_VOCAB, N_LORAS, N_MODELS, N_RARE = 2000, 300, 40, 50_000


def zipf_cum(n: int, s: float = 1.05, q: float = 0.0) -> list[float]:
    """Cumulative Zipf-Mandelbrot weights 1/(rank+q)^s for ranks 1..n."""
    return list(itertools.accumulate(1.0 / ((r + q) ** s) for r in range(1, n + 1)))


def _syllable_word(r: random.Random, lo: int, hi: int) -> str:
    return "".join(r.choice(SYLLABLES) for _ in range(r.randint(lo, hi)))


@dataclass(frozen=True)
class _Tables:
    vocab: list[str]
    vocab_cum: list[float]
    models: list[str]
    models_cum: list[float]
    loras: list[str]
    loras_cum: list[float]
    rare: list[str]
    samplers_cum: list[float]
    sizes_cum: list[float]


def _build_tables() -> _Tables:
    r = random.Random(1234)
    real = list(dict.fromkeys(REAL_WORDS))
    seen = set(real)
    synth: list[str] = []
    while len(real) + len(synth) < N_VOCAB:
        w = _syllable_word(r, 2, 4)
        if w not in seen:
            seen.add(w)
            synth.append(w)
    r.shuffle(real)  # 200 real words get the frequent ranks, the rest mixes with synthetic ones
    rest = real[200:] + synth
    r.shuffle(rest)
    vocab = real[:200] + rest

    models = []
    for i in range(N_MODELS):
        base = MODEL_BASES[i % len(MODEL_BASES)]
        if i < len(MODEL_BASES):
            ver = f"v{r.randint(10, 140)}"
        else:
            ver = f"v{r.randint(1, 15)}{r.choice(['0', '5', ''])}"
        models.append(f"{base}_{ver}.safetensors")
    models[0] = "cyberrealisticPony_v130.safetensors"

    loras: dict[str, None] = {}
    for i in itertools.count():
        if len(loras) >= N_LORAS:
            break
        stem = LORA_STEMS[i % len(LORA_STEMS)]
        if i >= len(LORA_STEMS):
            stem = f"{stem}_{vocab[r.randrange(150, N_VOCAB)]}_v{r.randint(1, 9)}"
        loras[stem + ".safetensors"] = None

    rare: list[str] = []  # long tail for full-text search: names of people, places, styles
    while len(rare) < N_RARE:
        w = _syllable_word(r, 3, 5)
        if w not in seen:
            seen.add(w)
            rare.append(w)
    return _Tables(
        vocab=vocab,
        vocab_cum=zipf_cum(len(vocab), 1.1, 4.0),
        models=models,
        models_cum=zipf_cum(len(models), 0.9),
        loras=list(loras),
        loras_cum=zipf_cum(N_LORAS, 1.0),
        rare=rare,
        samplers_cum=list(itertools.accumulate(SAMPLER_WEIGHTS)),
        sizes_cum=list(itertools.accumulate(SIZE_WEIGHTS)),
    )


TABLES = _build_tables()


def pick(r: random.Random, items: list[T], cum: list[float]) -> T:
    return items[bisect.bisect(cum, r.random() * cum[-1])]
