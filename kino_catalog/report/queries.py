"""The SQL behind a report: one scope's GROUP BYs and lists over one connection.

Separate from aggregates.py, which decides the report's sections and keys and
assembles them: this module knows the tables and the indexes each query is
shaped for (which COUNT(DISTINCT) reads a covering index, why the LoRA passes
keep SQLite off the key index), and answers with rows or small dicts.  Listed
files (missing images, errors) are located with one host's mappings of their
roots.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, literal_column, select, true

from kino_catalog.schema import (
    frames_table,
    index_errors_table,
    loras_table,
    root_mounts_table,
    roots_table,
)
from kino_catalog.schema.images import missing_images_condition
from kino_catalog.sidecar.record import decode_int_key

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy import ColumnElement
    from sqlalchemy.engine import Connection

__all__ = ["ReportQueries", "iso_seconds", "ordered_rows"]

_frames = frames_table
_loras = loras_table
_errors = index_errors_table
_roots = roots_table
_mounts = root_mounts_table
f = _frames.c
lo = _loras.c


def iso_seconds(value: dt.datetime | None) -> str | None:
    """A time as reports show it: ISO 8601 to the second (None stays None)."""
    return value.isoformat(timespec="seconds") if value is not None else None


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def ordered_rows(
    rows: list[tuple[Any, ...]], *, is_by_value: bool = False
) -> list[tuple[Any, ...]]:
    """Most frames first (or by value), values ascending, a missing value (null) last."""

    def value(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple((v is None, v) for v in row[:-1])

    if is_by_value:
        return sorted(rows, key=value)
    return sorted(rows, key=lambda row: (-row[-1], value(row)))


class ReportQueries:
    """One report's queries, sharing a connection and the scope's conditions."""

    def __init__(
        self, conn: Connection, project_id: int | None, top: int, list_limit: int, host: str
    ) -> None:
        self.conn = conn
        self.host = host
        self.project_id = project_id
        self.top = top
        self.list_limit = list_limit
        self.scope: ColumnElement[bool] = (
            f.project_id == project_id if project_id is not None else true()
        )

    def rows(self, stmt: Any) -> list[Any]:
        return list(self.conn.execute(stmt))

    def lora_scope(self, stmt: Any) -> Any:
        if self.project_id is None:
            return stmt
        return stmt.where(lo.frame_id.in_(select(f.id).where(self.scope)))

    def grouped(self, *columns: Any) -> list[tuple[Any, ...]]:
        """``(columns..., frames)`` rows of one GROUP BY over the scope's frames."""
        stmt = select(*columns, func.count()).where(self.scope).group_by(*columns)
        return [tuple(row) for row in self.conn.execute(stmt)]

    def summary(self, facets: list[tuple[Any, ...]]) -> dict[str, Any]:
        # MIN and MAX alone are each one probe of the generated_at index; with
        # other aggregates beside them SQLite would scan the table instead.
        first = self.conn.execute(select(func.min(f.generated_at)).where(self.scope)).scalar_one()
        last = self.conn.execute(select(func.max(f.generated_at)).where(self.scope)).scalar_one()
        projects = self.conn.execute(
            select(func.count(func.distinct(f.project_id))).where(self.scope)
        ).scalar_one()
        models = self.conn.execute(
            select(func.count(func.distinct(f.model_key))).where(self.scope)
        ).scalar_one()
        # Two statements, so each COUNT(DISTINCT) reads its own covering index.
        loras = self.conn.execute(
            self.lora_scope(select(func.count(func.distinct(lo.key))))
        ).scalar_one()
        # GROUP BY walks the primary key (frame_id first) in order; COUNT(DISTINCT)
        # would sort every use in a temporary tree first (RESULTS.md, design figures).
        per_frame = self.lora_scope(select(lo.frame_id).group_by(lo.frame_id)).subquery()
        with_loras = self.conn.execute(select(func.count()).select_from(per_frame)).scalar_one()
        return {
            "frames": sum(row[-1] for row in facets),
            "projects": projects,
            "first_generated_at": iso_seconds(first),
            "last_generated_at": iso_seconds(last),
            "models": models,
            "loras": loras,
            "frames_with_loras": with_loras,
            # schema/images.py: the same definition as `stats` and `verify`.
            "missing_images": self.conn.execute(
                select(func.count())
                .select_from(_frames)
                .where(self.scope, missing_images_condition())
            ).scalar_one(),
        }

    def per_day(self) -> list[dict[str, Any]]:
        if self.conn.dialect.name == "postgresql":
            day: Any = func.to_char(f.generated_at, "YYYY-MM-DD")
        else:  # SQLite keeps DateTime as ISO text: the day is its first ten characters
            day = func.substr(f.generated_at, 1, 10)
        return [
            {"day": d, "frames": n} for d, n in ordered_rows(self.grouped(day), is_by_value=True)
        ]

    def models(self) -> list[dict[str, Any]]:
        # model_key is indexed; the name shown is the first spelling found for
        # each top key, so the GROUP BY never touches the wide rows.
        top = self.rows(
            select(f.model_key, func.count().label("n"))
            .where(self.scope)
            .group_by(f.model_key)
            .order_by(func.count().desc(), f.model_key)
            .limit(self.top)
        )
        found = []
        for key, frames in top:
            name = (
                None
                if key is None
                else self.conn.execute(
                    select(f.model_name).where(f.model_key == key).limit(1)
                ).scalar_one()
            )
            found.append({"model": name, "key": key, "frames": frames})
        return found

    def loras(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        # Frames per LoRA come from the (key, generated_at, frame_id) index alone;
        # strengths, lists and spellings then take one sequential pass over the
        # narrow loras table each.  `key || ''` keeps SQLite off the key index
        # there: going through it means a random row lookup per use of a
        # common LoRA, several times slower at 1M frames than reading in order.
        frames = func.count(func.distinct(lo.frame_id))
        top = self.rows(
            self.lora_scope(
                select(lo.key, frames)
                .group_by(lo.key)
                .order_by(frames.desc(), lo.key)
                .limit(self.top)
            )
        )
        keys = [key for key, _n in top]
        unindexed = lo.key.op("||")(literal_column("''"))
        by_list = self.rows(
            self.lora_scope(
                select(
                    lo.key,
                    lo.role,
                    frames,
                    func.count(),
                    func.count(lo.strength_model),
                    func.sum(lo.strength_model),
                    func.min(lo.strength_model),
                    func.max(lo.strength_model),
                )
                .where(unindexed.in_(keys))
                .group_by(lo.role, lo.key)
                .order_by(lo.key, lo.role)
            )
        )
        spellings = self.rows(
            self.lora_scope(
                select(lo.key, lo.name, func.count())
                .where(unindexed.in_(keys))
                .group_by(lo.name, lo.key)
                .order_by(lo.key, func.count().desc(), lo.name)
            )
        )
        names: dict[str, str] = {}
        for key, name, _n in spellings:  # the most used spelling names the LoRA
            names.setdefault(key, name)

        def stats(rows: list[Any]) -> dict[str, Any]:
            # rows: frames, uses, strengths counted, their sum, min, max
            counted = sum(r[2] for r in rows)
            lows = [r[4] for r in rows if r[4] is not None]
            highs = [r[5] for r in rows if r[5] is not None]
            return {
                "uses": sum(r[1] for r in rows),
                "mean_strength": float(sum(r[3] for r in rows if r[3] is not None) / counted)
                if counted
                else None,
                "min_strength": _float(min(lows)) if lows else None,
                "max_strength": _float(max(highs)) if highs else None,
            }

        per_key: dict[str, list[Any]] = {key: [] for key in keys}
        for key, _role, *rest in by_list:
            per_key[key].append(rest)
        order = {key: i for i, key in enumerate(keys)}
        return (
            [
                {"lora": names[key], "key": key, "frames": n, **stats(per_key[key])}
                for key, n in top
            ],
            [
                {"lora": names[key], "key": key, "list": role, "frames": rest[0], **stats([rest])}
                for key, role, *rest in sorted(by_list, key=lambda r: (order[r[0]], r[1]))
            ],
        )

    def seeds(self) -> tuple[dict[str, int], list[dict[str, Any]]]:
        per_seed = (
            select(f.seed_key, func.count().label("n"))
            .where(self.scope, f.seed_key.is_not(None))
            .group_by(f.seed_key)
            .subquery()
        )
        with_seed, distinct, reused, frames_reused = self.conn.execute(
            select(
                func.coalesce(func.sum(per_seed.c.n), 0),
                func.count(),
                func.count().filter(per_seed.c.n > 1),
                func.coalesce(func.sum(per_seed.c.n).filter(per_seed.c.n > 1), 0),
            )
        ).one()
        top = self.rows(
            select(per_seed.c.seed_key, per_seed.c.n)
            .where(per_seed.c.n > 1)
            .order_by(per_seed.c.n.desc(), per_seed.c.seed_key)
            .limit(self.top)
        )
        counts = {
            "frames_with_seed": int(with_seed),
            "distinct_seeds": distinct,
            "reused_seeds": reused,
            "frames_with_reused_seed": int(frames_reused),
        }
        return counts, [{"seed": decode_int_key(key), "frames": n} for key, n in top]

    def _here(self, root_id: Any) -> Any:
        """Outer-join condition: this host's mapping of the root (its path, or NULL)."""
        return and_(_mounts.c.root_id == root_id, _mounts.c.host == self.host)

    def missing_images(self, count: int) -> list[dict[str, Any]]:
        if not count:  # nothing to find: skip a scan for it
            return []
        # In id order, which is table order: the scan stops at the list's end.
        rows = self.rows(
            select(f.id, _roots.c.name, _mounts.c.path, f.folder, f.name, f.image_name)
            .join_from(_frames, _roots, f.root_id == _roots.c.id)
            .join(_mounts, self._here(f.root_id), isouter=True)
            .where(self.scope, missing_images_condition())
            .order_by(f.id)
            .limit(self.list_limit)
        )
        return [
            {
                "id": id_,
                "root": root_name,
                "sidecar": os.path.join(root, folder, name) if root is not None else None,
                "image": os.path.join(root, folder, image) if root is not None else None,
            }
            for id_, root_name, root, folder, name, image in rows
        ]

    def errors(self) -> tuple[int, list[dict[str, Any]]]:
        cond: ColumnElement[bool] = _errors.c.kind == "error"
        if self.project_id is not None:
            # Errors have no project column (the file could not be read): a
            # Kino file name is the only clue, as it is for regenerated frames.
            pattern = f"project\\_{self.project_id}\\_frame\\_%"
            cond = and_(cond, _errors.c.name.like(pattern, escape="\\"))
        count = self.conn.execute(
            select(func.count()).select_from(_errors).where(cond)
        ).scalar_one()
        rows = self.rows(
            select(
                _roots.c.name, _mounts.c.path, _errors.c.folder, _errors.c.name, _errors.c.reason
            )
            .join_from(_errors, _roots, _errors.c.root_id == _roots.c.id)
            .join(_mounts, self._here(_errors.c.root_id), isouter=True)
            .where(cond)
            .order_by(_roots.c.name, _errors.c.folder, _errors.c.name)
            .limit(self.list_limit)
        )
        return count, [
            {
                "root": root_name,
                "path": os.path.join(root, folder, name) if root is not None else None,
                "relpath": f"{folder}/{name}" if folder else name,
                "reason": reason,
            }
            for root_name, root, folder, name, reason in rows
        ]
