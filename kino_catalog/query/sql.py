"""Query AST -> SQLAlchemy WHERE conditions over ``frames``, plus sort orders.

Every user value reaches SQL as a bound parameter.  Leaf conditions are
never NULL (a missing value is "false"), so ``-steps:30`` keeps the frames
that have no ``steps`` at all, as a user expects; they are built from
``conditions.py``'s column conditions, and words from ``fulltext.py``'s
pieces (FTS5 on SQLite, tsvector on PostgreSQL).  Which index a search walks
is decided in ``plan.py`` and ``walk.py``; this module only says what matches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    and_,
    exists,
    func,
    literal_column,
    not_,
    or_,
    select,
    true,
)

from kino_catalog.errors import QueryError
from kino_catalog.query.ast import (
    All,
    And,
    Compare,
    DateRange,
    LoraTerm,
    Match,
    Node,
    Not,
    Or,
    Range,
    TextTerm,
)
from kino_catalog.query.conditions import (
    ascii_lower,
    compare,
    date_condition,
    defined,
    glob_match,
    is_written_glob,
    like_pattern,
    lora_condition,
    name_match,
)
from kino_catalog.query.fulltext import (
    FTS_COLUMNS,
    fts,
    fts_phrase,
    is_unspaced,
    needs_substring,
    pg_tsquery,
    pg_vector,
    unspaced,
)
from kino_catalog.query.parse import parse_query
from kino_catalog.query.unparse import unparse
from kino_catalog.schema import frames_table, loras_table, parameters_table, tags_table
from kino_catalog.schema.models import TEXT_INDEX_BYTES
from kino_catalog.sidecar.added_keys import HASH_ALGORITHM, tag_key
from kino_catalog.sidecar.record import encode_int_key, normalise_name

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

__all__ = [
    "SORTS",
    "UNSUPPORTED_FIELDS",
    "order_by",
    "term_source",
    "to_ast",
    "where_clause",
]

frames = frames_table
loras = loras_table
parameters = parameters_table
tags = tags_table
f = frames.c

_NUMBER_COLUMNS = {
    "steps": f.steps,
    "cfg": f.cfg_scale,
    "width": f.width,
    "height": f.height,
    "project": f.project_id,
    "task": f.task_id,
    "rating": f.rating,
}
_NAME_COLUMNS = {
    "sampler": f.sampler,
    "scheduler": f.scheduler,
    "plugin": f.plugin,
    "version": f.plugin_version,
    "gpu": f.gpu,
    "driver": f.driver,
}
#: Fields the grammar knows but no sidecar data backs yet (none since tags,
#: ratings, notes, image hashes and system info were added: `issues show 8`).
UNSUPPORTED_FIELDS: frozenset[str] = frozenset()
SORTS = ("newest", "oldest", "seed", "steps", "cfg", "model", "relevance")


def to_ast(query: str | Node) -> Node:
    """Accept a query string or an already parsed AST."""
    return parse_query(query) if isinstance(query, str) else query


#: Frame columns with an index that answers an equality (or a range) on them.
_INDEXED_FIELDS = frozenset({"model", "project", "seed", "rating", "hash"})
#: Name columns whose narrow index holds all a match or glob on them reads (0008).
_COVERED_FIELDS = frozenset({"sampler", "plugin"})


def term_source(node: Node) -> str:
    """Which table answers a leaf term: ``loras``, ``tags``, ``parameters``, ``words``
    (the full-text index), ``indexed`` (a frames column with an index that seeks it),
    ``covered`` (a narrow index holding all it reads, scanned) or ``frames`` (a frames
    column read row by row); ``""`` for anything else (And, Or, Not, All)."""
    if isinstance(node, LoraTerm):
        return "loras"
    if isinstance(node, DateRange):
        return "indexed"
    if isinstance(node, TextTerm):
        if node.field not in FTS_COLUMNS:
            return "frames"
        if not needs_substring(node.value):
            return "words"
        return "indexed" if is_unspaced(node.value) else "frames"
    if isinstance(node, Match):
        if node.field == "tag":
            return "tags"
        if node.field == "model":
            return "covered" if node.is_glob else "indexed"
        if node.field in _COVERED_FIELDS:
            return "covered"
        if node.field in _NAME_COLUMNS or node.field in {"hash", "path"}:
            return "indexed" if node.field == "hash" and not node.is_glob else "frames"
        return "parameters"
    if isinstance(node, Compare | Range):
        if node.field in _INDEXED_FIELDS:
            return "indexed"
        return "frames" if node.field in _NUMBER_COLUMNS else "parameters"
    return ""


def where_clause(node: Node, dialect: Any, query: str | None = None) -> ColumnElement[bool]:
    """The WHERE condition over ``frames`` for a query AST.

    ``query`` (the text the AST came from) makes errors point at the term.

    Raises:
        QueryError: the query uses a field this catalogue cannot answer yet.
    """
    return Compiler(dialect.name, query).compile(node)


# Built once: ORDER BY terms are immutable, and building them per search was a
# fifth of a LoRA search's time (benchmarks/RESULTS.md, "Figures behind design choices").
_ORDERS: dict[str, tuple[ColumnElement[Any], ...]] = {
    "newest": (f.generated_at.desc(), f.id.desc()),
    "relevance": (f.generated_at.desc(), f.id.desc()),
    "oldest": (f.generated_at.asc(), f.id.asc()),
    "seed": (f.seed_key.is_(None), f.seed_key.asc(), f.id.asc()),
    "steps": (f.steps.is_(None), f.steps.asc(), f.id.asc()),
    "cfg": (f.cfg_scale.is_(None), f.cfg_scale.asc(), f.id.asc()),
    "model": (f.model_key.is_(None), f.model_key.asc(), f.generated_at.desc(), f.id.desc()),
}


def order_by(sort: str) -> list[ColumnElement[Any]]:
    """ORDER BY terms for a --sort key (ties broken by id, so paging is stable).

    Raises:
        QueryError: unknown sort key.
    """
    if sort not in _ORDERS:
        raise QueryError(sort, f"unknown sort key; use one of {', '.join(SORTS)}")
    return list(_ORDERS[sort])


class Compiler:
    """Turns AST nodes into conditions for one dialect (``sqlite`` or ``postgresql``)."""

    def __init__(
        self, dialect: str, query: str | None = None, *, probe_words: bool = False
    ) -> None:
        """``probe_words``: on SQLite a word is an FTS5 look-up per frame checked
        (a plan walking an index that stops early), not the set of its matches."""
        self.dialect = dialect
        self.query = query
        self.probe_words = probe_words

    def compile(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, All):
            return true()
        if isinstance(node, And):
            return and_(*(self.compile(child) for child in node.nodes))
        if isinstance(node, Or):
            return or_(*(self.compile(child) for child in node.nodes))
        if isinstance(node, Not):
            return not_(self.compile(node.node))
        if isinstance(node, TextTerm):
            return self.text(node)
        if isinstance(node, LoraTerm):
            # Correlate only frames: a search driven by ``loras`` has it outside too.
            return (
                select(loras.c.frame_id)
                .where(loras.c.frame_id == f.id, lora_condition(node, self.dialect))
                .correlate(frames)
                .exists()
            )
        if isinstance(node, Match):
            return self._match(node)
        if isinstance(node, Compare | Range):
            return self._number(node, _bounds(node))
        if isinstance(node, DateRange):
            return date_condition(node, f.generated_at, self.dialect)
        raise TypeError(f"not a query node: {node!r}")

    def compile_all(self, nodes: list[Node]) -> ColumnElement[bool]:
        """AND of ``nodes`` (true for none)."""
        return and_(true(), *(self.compile(node) for node in nodes))

    def unsupported(self, node: Node, field: str) -> QueryError:
        term = unparse(node)
        query = self.query if self.query is not None else term
        position = query.lower().find(field + ":")
        return QueryError(
            query,
            f"'{field}:' is not available yet (no indexed data backs it)",
            term=term,
            position=position if position >= 0 else None,
        )

    # ------------------------------------------------------------ full text
    def text(self, node: TextTerm) -> ColumnElement[bool]:
        if node.field == "notes":  # short, rare text: a scan beats keeping a word index
            pattern = "%" + like_pattern(ascii_lower(node.value)) + "%"
            return defined(f.notes, func.lower(f.notes).like(pattern, escape="\\"))
        if node.field not in FTS_COLUMNS:
            raise self.unsupported(node, node.field)
        column = getattr(f, FTS_COLUMNS[node.field])
        if needs_substring(node.value):
            pattern = "%" + like_pattern(ascii_lower(node.value)) + "%"
            found = defined(column, func.lower(column).like(pattern, escape="\\"))
            if is_unspaced(node.value):  # implied, and lets the partial index answer
                return and_(unspaced(column, self.dialect), found)
            return found
        if self.dialect == "sqlite" and self.probe_words:
            return exists().where(
                literal_column("frames_fts").op("MATCH")(fts_phrase(node)), fts.c.rowid == f.id
            )
        if self.dialect == "sqlite":
            return f.id.in_(
                select(fts.c.rowid).where(
                    literal_column("frames_fts").op("MATCH")(fts_phrase(node))
                )
            )
        matches: ColumnElement[bool] = pg_vector(column).bool_op("@@")(pg_tsquery(node))
        return matches

    # ------------------------------------------------------------ names
    def _match(self, node: Match) -> ColumnElement[bool]:
        if node.field in UNSUPPORTED_FIELDS:
            raise self.unsupported(node, node.field)
        if node.field == "model":
            key = normalise_name(node.value)
            if node.is_glob and is_written_glob(node.value):
                return name_match(f.model_name, node.value, True)
            if node.is_glob:  # the key (no folder/extension) or the name as written
                return or_(
                    defined(f.model_key, glob_match(f.model_key, key, self.dialect)),
                    name_match(f.model_name, node.value, True),
                )
            return defined(f.model_key, f.model_key == key)
        if node.field in _NAME_COLUMNS:
            return name_match(_NAME_COLUMNS[node.field], node.value, node.is_glob)
        if node.field == "tag":
            return exists().where(tags.c.frame_id == f.id, self.tag_condition(node))
        if node.field == "hash":  # "sha256:<hex>", or just the hex digits
            value = node.value.strip().lower()
            wanted = value if ":" in value else f"{HASH_ALGORITHM}:{value}"
            return defined(
                f.image_hash,
                glob_match(f.image_hash, wanted, self.dialect)
                if node.is_glob
                else f.image_hash == wanted,
            )
        if node.field == "path":
            relative = func.ltrim(f.folder + "/" + f.name, "/")
            return name_match(relative, node.value, node.is_glob)
        return exists().where(parameters.c.frame_id == f.id, *self.parameter_conditions(node))

    # ------------------------------------------------------------ numbers
    def _number(self, node: Compare | Range, bounds: list[tuple[str, Any]]) -> ColumnElement[bool]:
        field = node.field
        if field in UNSUPPORTED_FIELDS:
            raise self.unsupported(node, field)
        if field == "seed":
            return and_(*(compare(f.seed_key, op, encode_int_key(int(v))) for op, v in bounds))
        if field in _NUMBER_COLUMNS:
            return and_(*(compare(_NUMBER_COLUMNS[field], op, v) for op, v in bounds))
        return exists().where(parameters.c.frame_id == f.id, *self.parameter_conditions(node))

    def tag_condition(self, node: Match) -> ColumnElement[bool]:
        """The condition on one ``tags`` row; tags are stored case-folded (extras.tag_key)."""
        t = tags.c
        wanted = tag_key(node.value)
        return glob_match(t.tag, wanted, self.dialect) if node.is_glob else t.tag == wanted

    def parameter_conditions(self, node: Match | Compare | Range) -> list[ColumnElement[bool]]:
        """The conditions on one ``parameters`` row for a term on a key without a column."""
        p = parameters.c
        if isinstance(node, Match):
            return [p.key == node.field, name_match(p.value_text, node.value, node.is_glob)]
        conditions: list[ColumnElement[bool]] = [p.key == node.field]
        for op, value in _bounds(node):
            if op == "=" and isinstance(value, int) and abs(value) > 2**53:
                # Beyond double precision: compare the exact digits.
                conditions.append(and_(p.value_type == "int", p.value_text == str(value)))
                if self.dialect == "postgresql":  # what lets it use the partial index
                    conditions.append(func.octet_length(p.value_text) < TEXT_INDEX_BYTES)
            else:
                conditions.append(
                    and_(p.value_type.in_(("int", "float")), compare(p.value_num, op, value))
                )
        return conditions


def _bounds(node: Compare | Range) -> list[tuple[str, Any]]:
    """A comparison or range as (operator, value) bounds."""
    if isinstance(node, Compare):
        return [(node.op, node.value)]
    return [(op, v) for op, v in ((">=", node.low), ("<=", node.high)) if v is not None]
