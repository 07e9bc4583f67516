"""The query AST: one frozen dataclass per kind of term, and the field registry.

Pure data: ``parse.py`` builds these nodes from a query string and ``sql.py``
compiles them to SQL conditions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

if TYPE_CHECKING:
    import datetime as dt

__all__ = [
    "FIELD_ALIASES",
    "FIELD_KINDS",
    "All",
    "And",
    "Compare",
    "DateRange",
    "FieldKind",
    "LoraTerm",
    "Match",
    "Node",
    "Not",
    "Or",
    "Range",
    "TextTerm",
]

FieldKind: TypeAlias = Literal["text", "name", "lora", "int", "float", "date"]

#: Canonical field name -> what kind of value it holds (the SQL layer's registry).
FIELD_KINDS: Final[dict[str, FieldKind]] = {
    **dict.fromkeys(("prompt", "neg", "notes"), "text"),
    **dict.fromkeys(
        (
            "model",
            "sampler",
            "scheduler",
            "plugin",
            "version",
            "path",
            "tag",
            "hash",
            "gpu",
            "driver",
        ),
        "name",
    ),
    "lora": "lora",
    **dict.fromkeys(("seed", "steps", "width", "height", "project", "task", "rating"), "int"),
    "cfg": "float",
    "date": "date",
}
#: Other spellings (mostly the sidecar's own key names) -> canonical field name.
FIELD_ALIASES: Final[dict[str, str]] = {
    "cfg_scale": "cfg",
    "model_name": "model",
    "negative_prompt": "neg",
    "project_id": "project",
    "task_id": "task",
    "plugin_version": "version",
    "loras": "lora",
    "high_loras": "lora",
    "low_loras": "lora",
}


@dataclass(frozen=True)
class Node:
    """Base class of every query AST node."""


@dataclass(frozen=True)
class All(Node):
    """The empty query: matches every frame."""


@dataclass(frozen=True)
class TextTerm(Node):
    """Full-text search: ``castle``, ``"red dragon"``, ``cast*``, ``neg:blurry``."""

    value: str
    field: str = "prompt"
    is_phrase: bool = False
    is_prefix: bool = False


@dataclass(frozen=True)
class Match(Node):
    """Equality, or a glob when ``is_glob``: ``model:sd_xl*``, ``num_frames:"81"``."""

    field: str
    value: str
    is_glob: bool = False


@dataclass(frozen=True)
class LoraTerm(Node):
    """A LoRA used by the frame, with an optional inclusive strength range."""

    name: str
    is_glob: bool = False
    strength_min: float | None = None
    strength_max: float | None = None


@dataclass(frozen=True)
class Compare(Node):
    """A number compared with ``op`` (``=``, ``>``, ``>=``, ``<``, ``<=``): ``cfg:>=6.5``."""

    field: str
    op: str
    value: int | float


@dataclass(frozen=True)
class Range(Node):
    """An inclusive numeric range, open at a ``None`` end: ``steps:20..30``."""

    field: str
    low: int | float | None
    high: int | float | None


@dataclass(frozen=True)
class DateRange(Node):
    """Generation time in the half-open ``[low, high)``, naive local time."""

    low: dt.datetime | None
    high: dt.datetime | None


@dataclass(frozen=True)
class Not(Node):
    """Negation: ``-term``, ``-(a OR b)``."""

    node: Node


@dataclass(frozen=True)
class _Junction(Node):
    nodes: tuple[Node, ...]

    @classmethod
    def of(cls, *nodes: Node) -> Node:
        """Combine ``nodes``, flattening nested nodes of this class; one node stands alone."""
        flat: list[Node] = []
        for node in nodes:
            flat.extend(node.nodes if isinstance(node, cls) else (node,))
        if not flat:
            raise ValueError(f"{cls.__name__}.of() needs at least one node")
        return flat[0] if len(flat) == 1 else cls(tuple(flat))


@dataclass(frozen=True)
class And(_Junction):
    """All of ``nodes`` (terms side by side); build with ``And.of`` to flatten."""


@dataclass(frozen=True)
class Or(_Junction):
    """Any of ``nodes`` (``a OR b``); build with ``Or.of`` to flatten."""
