"""Query AST -> SQLAlchemy expressions over the catalogue, plus sort orders.

Every user value reaches SQL as a bound parameter.  Leaf expressions are
never NULL (a missing column value is "false"), so ``-steps:30`` keeps the
frames that have no ``steps`` at all, as a user expects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    and_,
    column,
    exists,
    func,
    literal_column,
    not_,
    or_,
    select,
    table,
    true,
)

from kino_catalog.errors import QueryError
from kino_catalog.queryparse import (
    All,
    And,
    Compare,
    DateRange,
    Lora,
    Match,
    Node,
    Not,
    Or,
    Range,
    Text,
    parse_query,
)
from kino_catalog.record import encode_int_key, normalise_name
from kino_catalog.schema import Frame, Parameter
from kino_catalog.schema import Lora as LoraRow

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.engine import Dialect

__all__ = ["SORTS", "like_pattern", "order_by", "to_ast", "where_clause"]

frames = Frame.__table__
loras = LoraRow.__table__
parameters = Parameter.__table__
f = frames.c
# The FTS5 table exists only in the migrations (it is SQLite-only).
_fts = table("frames_fts", column("rowid"))

_NUMBER_COLUMNS = {
    "steps": f.steps, "cfg": f.cfg_scale, "width": f.width, "height": f.height,
    "project": f.project_id, "task": f.task_id,
}
_NAME_COLUMNS = {
    "sampler": f.sampler, "scheduler": f.scheduler, "plugin": f.plugin,
    "version": f.plugin_version,
}
SORTS = ("newest", "oldest", "seed", "steps", "cfg", "model", "relevance")


def to_ast(query: str | Node) -> Node:
    """Accept a query string or an already parsed AST."""
    return parse_query(query) if isinstance(query, str) else query


def where_clause(node: Node, dialect: Dialect) -> ColumnElement[bool]:
    """The WHERE condition over ``frames`` for a query AST.

    Raises:
        QueryError: the query uses a field this catalogue cannot answer yet.
    """
    return _Compiler(dialect.name).compile(node)


def order_by(sort: str) -> list[ColumnElement[Any]]:
    """ORDER BY terms for a --sort key (ties broken by id, so paging is stable).

    Raises:
        QueryError: unknown sort key.
    """
    orders: dict[str, list[Any]] = {
        "newest": [f.generated_at.desc(), f.id.desc()],
        "relevance": [f.generated_at.desc(), f.id.desc()],
        "oldest": [f.generated_at.asc(), f.id.asc()],
        "seed": [f.seed_key.is_(None), f.seed_key.asc(), f.id.asc()],
        "steps": [f.steps.is_(None), f.steps.asc(), f.id.asc()],
        "cfg": [f.cfg_scale.is_(None), f.cfg_scale.asc(), f.id.asc()],
        "model": [f.model_key.is_(None), f.model_key.asc(), f.generated_at.desc(), f.id.desc()],
    }
    if sort not in orders:
        raise QueryError(sort, f"unknown sort key; use one of {', '.join(SORTS)}")
    return orders[sort]


def like_pattern(glob: str) -> str:
    """Translate a ``*``/``?`` glob to a LIKE pattern with ``\\`` as escape."""
    escaped = glob.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _defined(column: Any, condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(column.is_not(None), condition)


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    ops = {"=": column.__eq__, ">": column.__gt__, ">=": column.__ge__,
           "<": column.__lt__, "<=": column.__le__}
    return _defined(column, ops[op](value))


def _text_match(column: Any, value: str, is_glob: bool) -> ColumnElement[bool]:
    if is_glob:
        return _defined(column, func.lower(column).like(like_pattern(value.lower()), escape="\\"))
    return _defined(column, func.lower(column) == value.lower())


class _Compiler:
    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    def compile(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, All):
            return true()
        if isinstance(node, And):
            return and_(*(self.compile(child) for child in node.nodes))
        if isinstance(node, Or):
            return or_(*(self.compile(child) for child in node.nodes))
        if isinstance(node, Not):
            return not_(self.compile(node.node))
        if isinstance(node, Text):
            return self._text(node)
        if isinstance(node, Lora):
            return self._lora(node)
        if isinstance(node, Match):
            return self._match(node)
        if isinstance(node, Compare):
            return self._number(node.field, [(node.op, node.value)])
        if isinstance(node, Range):
            bounds = [(op, v) for op, v in ((">=", node.low), ("<=", node.high)) if v is not None]
            return self._number(node.field, bounds)
        if isinstance(node, DateRange):
            conditions = [f.generated_at.is_not(None)]
            if node.low is not None:
                conditions.append(f.generated_at >= node.low)
            if node.high is not None:
                conditions.append(f.generated_at < node.high)
            return and_(*conditions)
        raise QueryError(repr(node), "this kind of term is not supported")

    # ------------------------------------------------------------ full text
    def _text(self, node: Text) -> ColumnElement[bool]:
        columns = {"prompt": "prompt", "neg": "negative_prompt"}
        if node.field not in columns:
            raise QueryError(f"{node.field}:{node.value}", f"'{node.field}:' is not supported yet")
        column = columns[node.field]
        if self.dialect == "sqlite":
            phrase = '"' + node.value.replace('"', '""') + '"'
            if node.is_prefix:
                phrase += " *"
            return f.id.in_(select(_fts.c.rowid).where(
                literal_column("frames_fts").op("MATCH")(f"{{{column}}} : {phrase}")))
        vector = func.to_tsvector("simple", func.coalesce(getattr(f, column), ""))
        if node.is_prefix:
            query = func.to_tsquery("simple", func.quote_literal(node.value).concat(":*"))
        else:
            query = func.phraseto_tsquery("simple", node.value)
        return vector.op("@@")(query)

    # ------------------------------------------------------------ names
    def _lora(self, node: Lora) -> ColumnElement[bool]:
        key = normalise_name(node.name) if not node.is_glob else node.name
        if node.is_glob:
            condition = loras.c.key.like(like_pattern(normalise_name(key)), escape="\\")
        else:
            condition = loras.c.key == key
        conditions = [loras.c.frame_id == f.id, condition]
        if node.strength_min is not None:
            conditions.append(loras.c.strength_model >= node.strength_min)
        if node.strength_max is not None:
            conditions.append(loras.c.strength_model <= node.strength_max)
        return exists().where(*conditions)

    def _match(self, node: Match) -> ColumnElement[bool]:
        if node.field == "model":
            key = normalise_name(node.value)
            if node.is_glob:
                return or_(
                    _defined(f.model_key, f.model_key.like(like_pattern(key), escape="\\")),
                    _text_match(f.model_name, node.value, True))
            return _defined(f.model_key, f.model_key == key)
        if node.field in _NAME_COLUMNS:
            return _text_match(_NAME_COLUMNS[node.field], node.value, node.is_glob)
        if node.field == "path":
            relative = func.coalesce(f.folder + "/", "") + f.name
            relative = func.ltrim(relative, "/")
            return _text_match(relative, node.value, node.is_glob)
        if node.field in ("tag", "hash", "gpu", "driver"):
            raise QueryError(f"{node.field}:{node.value}", f"'{node.field}:' is not supported yet")
        return exists().where(
            parameters.c.frame_id == f.id, parameters.c.key == node.field,
            _text_match(parameters.c.value_text, node.value, node.is_glob))

    # ------------------------------------------------------------ numbers
    def _number(self, field: str, bounds: list[tuple[str, Any]]) -> ColumnElement[bool]:
        if field == "seed":
            return and_(*(_compare(f.seed_key, op, encode_int_key(int(v))) for op, v in bounds))
        if field in _NUMBER_COLUMNS:
            return and_(*(_compare(_NUMBER_COLUMNS[field], op, v) for op, v in bounds))
        if field == "rating":
            raise QueryError(f"{field}:", "'rating:' is not supported yet")
        p = parameters.c
        conditions: list[ColumnElement[bool]] = [p.frame_id == f.id, p.key == field]
        for op, value in bounds:
            if op == "=" and isinstance(value, int) and abs(value) > 2**53:
                # Beyond double precision: compare the exact digits.
                conditions.append(and_(p.value_type == "int", p.value_text == str(value)))
            else:
                conditions.append(and_(p.value_type.in_(("int", "float")),
                                       _compare(p.value_num, op, value)))
        return exists().where(*conditions)
