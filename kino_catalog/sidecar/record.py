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
from kino_catalog.sidecar.values import INT64_RANGE, as_int, as_number, describe

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
# An id as a digit string: ASCII digits only ("²".isdigit() is true), and
# short enough for int() (longer ones are out of range anyway).
_DIGITS = re.compile(r"[0-9]{1,30}")


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


def _is_number(value: Any) -> bool:
    return as_number(value) is not None


#: Warnings kept per frame: a list of a thousand broken LoRAs is one problem.
MAX_WARNINGS = 5
# encode_int_key holds up to 999 digits.
_MAX_KEY_INT = 10**999


class _Checker:
    """Typed getters: a value of the wrong type is read as None and noted as a warning.

    A frame is never dropped for one odd value (DESIGN §4): its typed column
    stays empty, everything else is indexed, and ``kino-catalog errors``
    lists the warning.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def wrong(self, key: str, expected: str, value: Any) -> None:
        self.warn(f"{key} must be {expected}, not {describe(value)}")

    def str_(self, obj: dict[str, Any], key: str, where: str) -> str | None:
        value = obj.get(key)
        if value is None or type(value) is str:
            return value
        self.wrong(where + key, "a string", value)
        return None

    def int_(self, obj: dict[str, Any], key: str, where: str) -> int | None:
        """An integer that fits a 64-bit column; ``30.0`` is 30."""
        value = obj.get(key)
        if value is None:
            return None
        number = as_int(value)
        if number is None:
            self.wrong(where + key, "an integer", value)
        return self.in_range(number, where + key)

    def in_range(self, number: int | None, key: str) -> int | None:
        """``number`` if a 64-bit column holds it; else a warning and None."""
        if number is None or number in INT64_RANGE:
            return number
        self.warn(f"{key} {number} is out of the 64-bit integer range")
        return None

    def seed(self, obj: dict[str, Any], key: str, where: str) -> int | None:
        """An integer of any size (ComfyUI seeds reach 2**64-1) that encode_int_key holds."""
        value = obj.get(key)
        if value is None:
            return None
        number = as_int(value)
        if number is None:
            self.wrong(where + key, "an integer", value)
        elif abs(number) >= _MAX_KEY_INT:
            self.warn(f"{where}{key} is an integer too long to index")
            return None
        return number

    def number(self, obj: dict[str, Any], key: str, where: str) -> float | None:
        value = obj.get(key)
        if value is None:
            return None
        number = as_number(value)
        if number is None:
            self.wrong(where + key, "a number", value)
        return number

    def id_(self, obj: dict[str, Any], key: str) -> int | None:
        """Ids may arrive as ints or digit strings (form fields); both are fine."""
        value = obj.get(key)
        if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
            return self.in_range(int(value), key)
        return self.int_(obj, key, "")


def is_lora_list(key: str, value: Any) -> bool:
    """`loras` (whatever its value: a wrong type is a warning) or a plugin's `*_loras` list."""
    return (key == "loras" and value is not None) or (
        key.endswith("_loras") and isinstance(value, list)
    )


def _split_parameters(
    params: dict[str, Any],
    check: _Checker,
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


def _lora_uses(role: str, items: Any, check: _Checker) -> list[LoraUse]:
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


def _odd_lora(role: str, position: int, item: Any, check: _Checker) -> LoraUse | None:
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

    check = _Checker(path)
    fields = _well_typed(doc, params) or _checked_fields(doc, params, check)
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


# The typed fields in the order _well_typed and _checked_fields give them.
_Fields = tuple[Any, ...]


def _well_typed(doc: dict[str, Any], params: dict[str, Any]) -> _Fields | None:
    """The typed fields of a sidecar whose known keys all have their plain types; else None.

    Nearly every sidecar is like that, and one straight pass of type tests
    costs a third of the checker's call per key (the indexer reads a million
    of them).  Any doubt (a digit-string id, ``30.0`` steps, a number as
    plugin version, a value out of range) returns None and the checker reads
    the document; on what this accepts the two agree (a property test).
    """
    get, pget = doc.get, params.get
    output = get("output")
    filename = None
    if output is not None:
        if type(output) is not dict:
            return None
        filename = output.get("filename")
    texts = (
        get("plugin_version"),
        get("timestamp"),
        filename,
        pget("prompt"),
        pget("negative_prompt"),
        pget("model_name"),
        pget("sampler"),
        pget("scheduler"),
    )
    for text in texts:
        if text is not None and type(text) is not str:
            return None
    ints = (get("task_id"), get("project_id"), get("frame_id"))
    sizes = (pget("steps"), pget("width"), pget("height"))
    for number in ints + sizes:
        if number is not None and (type(number) is not int or number not in INT64_RANGE):
            return None
    seed = pget("seed")
    if seed is not None and (type(seed) is not int or not -_MAX_KEY_INT < seed < _MAX_KEY_INT):
        return None
    cfg_scale = pget("cfg_scale")
    if cfg_scale is not None:
        cfg_scale = as_number(cfg_scale)
        if cfg_scale is None:
            return None
    steps, width, height = sizes
    return texts[:3] + ints + texts[3:] + (seed, steps, cfg_scale, width, height)


def _checked_fields(doc: dict[str, Any], params: dict[str, Any], check: _Checker) -> _Fields:
    """The typed fields of any Kino-shaped document: a wrong type is None and a warning."""
    version = doc.get("plugin_version")
    if version is not None and not isinstance(version, str):
        if _is_number(version):
            version = str(version)
        else:
            check.wrong("plugin_version", "a string", version)
            version = None
    timestamp = check.str_(doc, "timestamp", "")
    output = doc.get("output")
    if output is not None and not isinstance(output, dict):
        check.wrong("output", "an object", output)
        output = None
    filename = check.str_(output, "filename", "output.") if output else None
    p = "parameters."
    return (
        version,
        timestamp,
        filename,
        check.id_(doc, "task_id"),
        check.id_(doc, "project_id"),
        check.id_(doc, "frame_id"),
        check.str_(params, "prompt", p),
        check.str_(params, "negative_prompt", p),
        check.str_(params, "model_name", p),
        check.str_(params, "sampler", p),
        check.str_(params, "scheduler", p),
        check.seed(params, "seed", p),
        check.int_(params, "steps", p),
        check.number(params, "cfg_scale", p),
        check.int_(params, "width", p),
        check.int_(params, "height", p),
    )
