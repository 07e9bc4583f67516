"""Reference evaluator: the query language's meaning in plain Python over sidecar records.

Deliberately naive (no SQL, no indexes, a regex tokenizer of its own) so that
the catalogue's answers can be checked against it, frame by frame.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from kino_catalog.errors import QueryError
from kino_catalog.query.ast import (
    All,
    And,
    Compare,
    DateRange,
    Match,
    Node,
    Not,
    Or,
    Range,
)
from kino_catalog.query.ast import (
    LoraTerm as Lora,
)
from kino_catalog.query.ast import (
    TextTerm as Text,
)
from kino_catalog.query.unparse import unparse
from kino_catalog.sidecar.record import (
    FrameRecord,
    LoraUse,
    is_lora_list,
    normalise_name,
    parse_record,
)

UNSUPPORTED = {"tag", "hash", "gpu", "driver", "rating", "notes"}
_WORD = re.compile(r"[^\W_]+")
_UNSPACED = re.compile(
    r"[\u0e00-\u0e7f\u2e80-\u2fdf\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    r"\uac00-\ud7af\uf900-\ufaff]"
)
_COLUMNS = {
    "steps": "steps",
    "cfg": "cfg_scale",
    "width": "width",
    "height": "height",
    "project": "project_id",
    "task": "task_id",
    "seed": "seed",
}
_NAMES = {
    "sampler": "sampler",
    "scheduler": "scheduler",
    "plugin": "plugin",
    "version": "plugin_version",
}


@dataclass(frozen=True)
class RefFrame:
    """One sidecar as the reference sees it."""

    path: str  # relative to the library root, "/"-separated
    record: FrameRecord
    generated_at: dt.datetime


def load_frame(root: str, rel: str) -> RefFrame:
    full = os.path.join(root, rel)
    with open(full, encoding="utf-8") as fh:
        doc = json.load(fh)
    record = parse_record(doc, full)
    when = record.generated_at or dt.datetime.fromtimestamp(os.stat(full).st_mtime_ns / 1e9)
    return RefFrame(rel, record, when)


def words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in folded if not unicodedata.combining(c))
    return _WORD.findall(stripped)


def ascii_lower(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


def glob_match(value: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _name(value: str | None, wanted: str, is_glob: bool) -> bool:
    if value is None:
        return False
    if is_glob:
        return glob_match(ascii_lower(value), ascii_lower(wanted))
    return ascii_lower(value) == ascii_lower(wanted)


def _names_folder_or_extension(glob: str) -> bool:
    return (
        "/" in glob
        or "\\" in glob
        or os.path.splitext(glob.lower())[1]
        in (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft")
    )


def _lora(use: LoraUse, name: str, is_glob: bool) -> bool:
    if is_glob and _names_folder_or_extension(name):
        return _name(use.name, name, True)
    key = normalise_name(name)
    return glob_match(use.key, key) if is_glob else use.key == key


def _within(value: float | None, low: float | None, high: float | None) -> bool:
    if low is None and high is None:
        return True
    return value is not None and (low is None or value >= low) and (high is None or value <= high)


def _text(text: str | None, node: Text) -> bool:
    if text is None:
        return False
    if _UNSPACED.search(node.value) or not words(node.value):
        return ascii_lower(node.value) in ascii_lower(text)
    wanted, have = words(node.value), words(text)
    for start in range(len(have) - len(wanted) + 1):
        window = have[start : start + len(wanted)]
        if window[:-1] == wanted[:-1] and (
            window[-1].startswith(wanted[-1]) if node.is_prefix else window[-1] == wanted[-1]
        ):
            return True
    return False


def _parameter_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _compare(value: Any, op: str, bound: Any) -> bool:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return {
        "=": value == bound,
        ">": value > bound,
        ">=": value >= bound,
        "<": value < bound,
        "<=": value <= bound,
    }[op]


def _generic(frame: RefFrame, key: str) -> tuple[bool, Any]:
    params = frame.record.parameters
    if key not in params or key in _COLUMNS.values() or is_lora_list(key, params[key]):
        return False, None
    if key in ("prompt", "negative_prompt", "model_name", "sampler", "scheduler"):
        return False, None
    return True, params[key]


def matches(node: Node, frame: RefFrame) -> bool:
    """Whether ``frame`` matches ``node``; raises QueryError for fields without data."""
    r = frame.record
    match node:
        case All():
            return True
        case And(nodes):
            return all([matches(n, frame) for n in nodes])  # evaluate all: errors surface
        case Or(nodes):
            return any([matches(n, frame) for n in nodes])
        case Not(child):
            return not matches(child, frame)
        case Text(_, field, _, _) if field in UNSUPPORTED:
            raise QueryError(unparse(node), "unsupported")
        case Text(_, field, _, _):
            return _text(r.prompt if field == "prompt" else r.negative_prompt, node)
        case Lora(name, is_glob, low, high):
            return any(
                _lora(use, name, is_glob) and _within(use.strength_model, low, high)
                for use in r.loras
            )
        case Match(field, _, _) if field in UNSUPPORTED:
            raise QueryError(unparse(node), "unsupported")
        case Match("model", value, is_glob):
            if r.model_name is None:
                return False
            if is_glob and _names_folder_or_extension(value):
                return _name(r.model_name, value, True)
            if is_glob:
                return glob_match(normalise_name(r.model_name), normalise_name(value)) or _name(
                    r.model_name, value, True
                )
            return normalise_name(r.model_name) == normalise_name(value)
        case Match("path", value, is_glob):
            return _name(frame.path, value, is_glob)
        case Match(field, value, is_glob) if field in _NAMES:
            return _name(getattr(r, _NAMES[field]), value, is_glob)
        case Match(field, value, is_glob):
            present, raw = _generic(frame, field)
            return present and _name(_parameter_text(raw), value, is_glob)
        case Compare(field, _, _) | Range(field, _, _) if field in UNSUPPORTED:
            raise QueryError(unparse(node), "unsupported")
        case Compare(field, op, value):
            return _number(frame, field, [(op, value)])
        case Range(field, low, high):
            return _number(
                frame, field, [(op, v) for op, v in ((">=", low), ("<=", high)) if v is not None]
            )
        case DateRange(low, high):
            when = frame.generated_at
            return (low is None or when >= low) and (high is None or when < high)
    raise TypeError(node)


def _number(frame: RefFrame, field: str, bounds: list[tuple[str, Any]]) -> bool:
    if field in _COLUMNS:
        value = getattr(frame.record, _COLUMNS[field])
    else:
        present, value = _generic(frame, field)
        if not present:
            return False
    return all(_compare(value, op, bound) for op, bound in bounds)


def evaluate(node: Node, frames: list[RefFrame]) -> set[str]:
    """The relative sidecar paths of the frames that match ``node``."""
    return {frame.path for frame in frames if matches(node, frame)}


def ordered(
    paths: set[str], frames: list[RefFrame], stored: dict[str, tuple[int, dt.datetime]], sort: str
) -> list[str]:
    """``paths`` in the order of ``--sort sort``: frames without the value last, ties by id.

    ``stored`` gives each path's catalogue id and stored generation time (ids
    exist only in the catalogue; its time is the file time to the microsecond).
    """
    by_path = {frame.path: frame for frame in frames}
    newest_first = sorted(paths, key=lambda p: stored[p], reverse=True)
    if sort in ("newest", "relevance"):
        return newest_first
    if sort == "oldest":
        return newest_first[::-1]
    if sort == "model":  # then newest first: a stable sort keeps that order within a model
        keys = {
            p: None
            if by_path[p].record.model_name is None
            else normalise_name(by_path[p].record.model_name)
            for p in paths
        }
        return sorted(newest_first, key=lambda p: (keys[p] is None, keys[p] or ""))
    column = {"seed": "seed", "steps": "steps", "cfg": "cfg_scale"}[sort]
    values = {p: getattr(by_path[p].record, column) for p in paths}
    return sorted(paths, key=lambda p: (values[p] is None, values[p] or 0, stored[p][0]))
