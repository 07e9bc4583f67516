"""Sidecar document -> validated FrameRecord: the one place that knows Kino's shapes.

Pure: no file system, no database.  Everything Kino (or a plugin) may write is
accepted: null or ``"regenerated"`` timestamps, ``task_id`` 0, a missing
``project_id``, ``high_loras``/``low_loras`` without ``strength_clip``, keys
nobody has heard of.  A known key with the wrong type (``"steps": "30"``,
``"loras": {}``) is not trusted, since a search on it would be silently
wrong, but it does not cost the frame either: the typed field stays empty and
the record carries a warning.  JSON has one number type, so ``30.0`` is a
valid ``steps`` of 30 (the document keeps ``30.0``).  Only a document that is
not a Kino sidecar at all is refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import re
from dataclasses import dataclass
from typing import Any, TypeGuard

from kino_catalog.errors import NotASidecarError, SidecarSchemaError
from kino_catalog.sidecar.added_keys import NO_EXTRAS, Extras, parse_extras
from kino_catalog.sidecar.typed_fields import MAX_WARNINGS, Checker, checked_fields, well_typed
from kino_catalog.sidecar.values import describe

__all__ = [
    "MAX_WARNINGS",
    "MODEL_EXTENSIONS",
    "TYPED_PARAMETERS",
    "FrameRecord",
    "LoraUse",
    "decode_int_key",
    "encode_int_key",
    "is_json_int",
    "is_kino_name",
    "is_lora_list",
    "kino_name_parts",
    "normalise_name",
    "parse_record",
    "parse_timestamp",
    "project_from_name",
]

# Parameters that get a typed column on `frames` (or rows in `loras`); every
# other key of `parameters` goes to the generic `parameters` table.
TYPED_PARAMETERS = frozenset(
    {
        "prompt",
        "negative_prompt",
        "model_name",
        "sampler",
        "scheduler",
        "seed",
        "steps",
        "cfg_scale",
        "width",
        "height",
    }
)

MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft")
_FOLD = re.compile(r"[\s_-]+")
_KINO_NAME = re.compile(r"project_(\d+)_frame_(\d+)(?:_variant_(\d+))?")


# Neither record is frozen: a frozen dataclass's __init__ sets each field through
# object.__setattr__, which cost the indexer 8 us per sidecar (of ~60 in parsing).
@dataclass(slots=True)
class LoraUse:
    """One LoRA in one list of one frame, as written plus its normalised key."""

    role: str  # the list it came from: loras, high_loras, low_loras, ...
    position: int
    name: str
    key: str
    strength_model: float | None
    strength_clip: float | None


@dataclass(slots=True)
class FrameRecord:
    """Everything the catalogue stores about one sidecar, already validated."""

    document: dict[str, Any]
    plugin: str
    plugin_version: str | None
    timestamp: str | None
    generated_at: dt.datetime | None  # from `timestamp`; None means "use the file time"
    task_id: int | None
    project_id: int | None
    kino_frame_id: int | None
    prompt: str | None
    negative_prompt: str | None
    model_name: str | None
    sampler: str | None
    scheduler: str | None
    seed: int | None
    steps: int | None
    cfg_scale: float | None
    width: int | None
    height: int | None
    loras: tuple[LoraUse, ...]
    extra_parameters: tuple[tuple[str, Any], ...]  # keys of `parameters` without a column
    output_filename: str | None
    extras: Extras = NO_EXTRAS  # tags, rating, notes, image_hash, system_info
    # Known keys of the wrong type, left out of the typed fields above (DESIGN §4).
    warnings: tuple[str, ...] = ()

    @property
    def parameters(self) -> dict[str, Any]:
        """The sidecar's ``parameters`` object, exactly as written."""
        params: dict[str, Any] = self.document["parameters"]
        return params


@functools.lru_cache(maxsize=65536)  # a library has a few hundred LoRAs, used millions of times
def normalise_name(name: str) -> str:
    """Fold a LoRA or model name to its search key.

    Drops any folder and a weights extension, case-folds, and folds runs of
    ``_``, ``-`` and spaces into one ``_``:
    ``loras/Add-Detail.safetensors`` -> ``add_detail``.
    """
    base = re.split(r"[/\\]", name.strip())[-1]
    lower = base.casefold()
    for ext in MODEL_EXTENSIONS:
        if lower.endswith(ext) and len(lower) > len(ext):
            lower = lower[: -len(ext)]
            break
    return _FOLD.sub("_", lower).strip("_") or lower


def is_kino_name(file_name: str) -> bool:
    """Tell whether a file name follows Kino's ``project_<id>_frame_<n>`` pattern."""
    return _KINO_NAME.match(file_name) is not None


def project_from_name(file_name: str) -> int | None:
    """The project id in a Kino file name, or None."""
    match = _KINO_NAME.match(file_name)
    return int(match.group(1)) if match else None


def kino_name_parts(file_name: str) -> tuple[int, int, int | None] | None:
    """(project, frame, variant) from ``project_3_frame_41_variant_1.png``, or None.

    ``frame`` is Kino's frame id of variant 0 only: Kino names every variant
    of one generation after the first variant's id, and gives each its own.
    """
    match = _KINO_NAME.match(file_name)
    if match is None:
        return None
    variant = match.group(3)
    return int(match.group(1)), int(match.group(2)), None if variant is None else int(variant)


def parse_timestamp(value: str | None) -> dt.datetime | None:
    """Parse Kino's ``YYYYMMDD_HHMMSS`` (or ISO 8601); None for null/"regenerated"."""
    if not value:
        return None
    if len(value) == 15 and value[8] == "_" and value.replace("_", "", 1).isdigit():
        try:  # strptime is ~20x slower, and this runs once per frame
            return dt.datetime(
                int(value[0:4]),
                int(value[4:6]),
                int(value[6:8]),
                int(value[9:11]),
                int(value[11:13]),
                int(value[13:15]),
            )
        except ValueError:
            return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    # Stored times are naive local time, like Kino's own timestamps.
    return parsed.astimezone().replace(tzinfo=None) if parsed.tzinfo else parsed


# ---------------------------------------------------------------- int keys
# SQLite integers are signed 64-bit but ComfyUI seeds reach 2**64-1.  Seeds
# are stored as digit strings whose byte order is numeric order, so equality,
# ranges and sorting stay exact at any size on SQLite and PostgreSQL alike:
# "1" + 3-digit length + digits for n >= 0, "0" + complemented length and
# nine's-complemented digits for n < 0.


def encode_int_key(value: int) -> str:
    """Encode an int as an order-preserving digit string (see above)."""
    digits = str(abs(value))
    if len(digits) > 999:
        raise ValueError("integer too long to index")
    if value >= 0:
        return f"1{len(digits):03d}{digits}"
    return f"0{999 - len(digits):03d}" + digits.translate(_NINES)


def decode_int_key(key: str) -> int:
    """Invert :func:`encode_int_key`."""
    if key[0] == "1":
        return int(key[4:])
    return -int(key[4:].translate(_NINES))


_NINES = str.maketrans("0123456789", "9876543210")


# ---------------------------------------------------------------- parsing


def is_json_int(value: object) -> TypeGuard[int]:
    """A JSON integer: an int that is not a bool (``true`` parses to one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_lora_list(key: str, value: Any) -> bool:
    """`loras` (whatever its value: a wrong type is a warning) or a plugin's `*_loras` list."""
    return (key == "loras" and value is not None) or (
        key.endswith("_loras") and isinstance(value, list)
    )


def _split_parameters(
    params: dict[str, Any],
    check: Checker,
) -> tuple[tuple[LoraUse, ...], tuple[tuple[str, Any], ...]]:
    """One pass over ``parameters``: LoRA uses, and the keys without a typed column."""
    uses: list[LoraUse] = []
    extra: list[tuple[str, Any]] = []
    for key, value in params.items():
        if key in TYPED_PARAMETERS:
            continue
        if is_lora_list(key, value):
            uses.extend(_lora_uses(key, value, check))
        else:
            extra.append((key, value))
    return tuple(uses), tuple(extra)


def _lora_uses(role: str, items: Any, check: Checker) -> list[LoraUse]:
    """The usable LoRAs of one list; an unusable list or item is a warning, not a loss."""
    if type(items) is not list:
        check.wrong(f"parameters.{role}", "a list", items)
        return []
    uses = []
    for position, item in enumerate(items):
        # The usual item, {"lora_name": str, "strength_model": float, ...}, without
        # the checker's calls; anything else is read by _odd_lora.
        if type(item) is dict:
            name = item.get("lora_name")
            model = item.get("strength_model")
            clip = item.get("strength_clip")
            if (
                type(name) is str
                and name
                and (model is None or type(model) is float)
                and (clip is None or type(clip) is float)
            ):
                uses.append(LoraUse(role, position, name, normalise_name(name), model, clip))
                continue
        use = _odd_lora(role, position, item, check)
        if use is not None:
            uses.append(use)
    return uses


def _odd_lora(role: str, position: int, item: Any, check: Checker) -> LoraUse | None:
    """One LoRA item of any shape: a bare name, ``name`` for ``lora_name``, int strengths."""
    where = f"parameters.{role}"
    if type(item) is str:  # a bare name: some UIs write just that
        item = {"lora_name": item}
    elif type(item) is not dict:
        check.wrong(f"{where}[{position}]", "an object", item)
        return None
    at = f"{where}[{position}]."
    name = check.str_(item, "lora_name", at) or check.str_(item, "name", at)
    if not name:
        check.warn(f"{at}lora_name is missing")
        return None
    return LoraUse(
        role,
        position,
        name,
        normalise_name(name),
        check.number(item, "strength_model", at),
        check.number(item, "strength_clip", at),
    )


def parse_record(doc: Any, path: str, *, is_expected_sidecar: bool = True) -> FrameRecord:
    """Validate a parsed sidecar document and turn it into a FrameRecord.

    ``is_expected_sidecar`` says whether the file's name or neighbours mark it
    as a sidecar (Kino file name, image beside it).  A document without Kino's
    shape is then a schema error; otherwise it is just some other JSON file.
    A Kino-shaped document always gives a record: a known key of the wrong
    type is left out and named in ``warnings``.

    Raises:
        SidecarSchemaError: not Kino-shaped (no object, no ``plugin`` string,
            ``parameters`` not an object) though expected to be a sidecar.
        NotASidecarError: not Kino-shaped and not expected to be a sidecar.
    """
    is_kino_shaped = isinstance(doc, dict) and "plugin" in doc and "parameters" in doc
    if not is_kino_shaped:
        if not is_expected_sidecar:
            raise NotASidecarError(path, "not a Kino sidecar")
        if not isinstance(doc, dict):
            raise SidecarSchemaError(path, f"top level must be an object, not {describe(doc)}")
        missing = [key for key in ("plugin", "parameters") if key not in doc]
        raise SidecarSchemaError(path, f"missing key {' and '.join(map(repr, missing))}")
    # These two make a file a Kino sidecar; without them there is no frame.
    plugin = doc["plugin"]
    if not isinstance(plugin, str) or not plugin:
        raise SidecarSchemaError(path, f"plugin must be a non-empty string, not {describe(plugin)}")
    params = doc["parameters"]
    if not isinstance(params, dict):
        raise SidecarSchemaError(path, f"parameters must be an object, not {describe(params)}")

    check = Checker(path)
    fields = well_typed(doc, params) or checked_fields(doc, params, check)
    (version, timestamp, filename, task_id, project_id, kino_frame_id) = fields[:6]
    (prompt, negative_prompt, model_name, sampler, scheduler) = fields[6:11]
    (seed, steps, cfg_scale, width, height) = fields[11:]
    loras, extra = _split_parameters(params, check)
    if project_id is None:
        # Kino's in-place regeneration drops project_id; its file name keeps it.
        project_id = check.in_range(project_from_name(os.path.basename(path)), "project id")
    # Positional, in field order: keywords cost three times as much, once per
    # sidecar read (test_record.py checks every field of real sidecars).
    record = FrameRecord(
        doc,
        plugin,
        version,
        timestamp,
        parse_timestamp(timestamp),  # generated_at
        task_id,
        project_id,
        kino_frame_id,
        prompt,
        negative_prompt,
        model_name,
        sampler,
        scheduler,
        seed,
        steps,
        cfg_scale,
        width,
        height,
        loras,
        extra,
        filename,  # output_filename
        parse_extras(doc, path, warn=check.warn),
    )
    if not check.warnings:
        return record
    kept = check.warnings[:MAX_WARNINGS]
    if len(check.warnings) > MAX_WARNINGS:
        kept.append(f"and {len(check.warnings) - MAX_WARNINGS} more")
    return dataclasses.replace(record, warnings=tuple(kept))
