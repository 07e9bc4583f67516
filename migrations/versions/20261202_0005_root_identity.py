"""Root identity: a root gets a uuid and a name; each host maps it to its own path.

A root was its absolute path, so one share mounted at two places became two
roots with every frame twice.  Frames were already stored relative to their
root; now the root itself is a (uuid, name) pair, and ``root_mounts`` says
where each host has it.  Existing roots keep their path as the mapping of
the host that runs the upgrade (``KINO_CATALOG_HOST`` or the hostname).

``roots.path`` carries a UNIQUE constraint, so on SQLite the table is
rebuilt (batch mode): that must run with foreign keys off, or the DROP of
the old table would cascade to every frame.  kino-catalog's own upgrade
does so (schema.database.migrate_to_head); this script refuses otherwise.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:30:00
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kino_catalog.schema.host import this_host

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _refuse_cascading_rebuild() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "revision 0005 rebuilds the roots table: run it with PRAGMA foreign_keys=OFF "
            "(as kino-catalog does), or SQLite would delete every frame with the old table"
        )


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 1
    while candidate.casefold() in used:
        n += 1
        candidate = f"{name}-{n}"
    used.add(candidate.casefold())
    return candidate


def upgrade() -> None:
    _refuse_cascading_rebuild()
    bind = op.get_bind()
    op.create_table(
        "root_mounts",
        sa.Column("root_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["root_id"], ["roots.id"], name=op.f("fk_root_mounts_root_id_roots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("root_id", "host", name=op.f("pk_root_mounts")),
        sa.UniqueConstraint("host", "path", name=op.f("uq_root_mounts_host_path")),
    )
    with op.batch_alter_table("roots") as batch:
        batch.add_column(sa.Column("uuid", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("name", sa.Text(), nullable=True))
        batch.add_column(sa.Column("synced_by", sa.Text(), nullable=True))
    host, used = this_host(), set[str]()
    for root_id, path in bind.execute(sa.text("SELECT id, path FROM roots ORDER BY id")).all():
        name = _unique(posixpath.basename(path.replace("\\", "/").rstrip("/")) or "root", used)
        bind.execute(
            sa.text("UPDATE roots SET uuid = :uuid, name = :name WHERE id = :id"),
            {"uuid": uuid.uuid4().hex, "name": name, "id": root_id},
        )
        bind.execute(
            sa.text("INSERT INTO root_mounts (root_id, host, path) VALUES (:id, :host, :path)"),
            {"id": root_id, "host": host, "path": path},
        )
    with op.batch_alter_table("roots") as batch:
        batch.alter_column("uuid", existing_type=sa.String(length=32), nullable=False)
        batch.alter_column("name", existing_type=sa.Text(), nullable=False)
        batch.create_unique_constraint(op.f("uq_roots_uuid"), ["uuid"])
        batch.create_unique_constraint(op.f("uq_roots_name"), ["name"])
        batch.drop_constraint("uq_roots_path", type_="unique")
        batch.drop_column("path")


def downgrade() -> None:
    """Each root's path becomes this host's mapping, else another host's; nothing is dropped.

    A root mapped nowhere (or whose path another root already took) gets a
    path that names it and exists nowhere, so its frames stay in the index.
    """
    _refuse_cascading_rebuild()
    bind = op.get_bind()
    with op.batch_alter_table("roots") as batch:
        batch.add_column(sa.Column("path", sa.Text(), nullable=True))
    host = this_host()
    mounts: dict[int, list[tuple[bool, str, str]]] = {}
    for root_id, mount_host, path in bind.execute(
        sa.text("SELECT root_id, host, path FROM root_mounts")
    ).all():
        mounts.setdefault(root_id, []).append((mount_host != host, mount_host, path))
    taken: set[str] = set()
    for root_id, name in bind.execute(sa.text("SELECT id, name FROM roots ORDER BY id")).all():
        path = next((p for _, _, p in sorted(mounts.get(root_id, [])) if p not in taken), None)
        path = path or f"/(root {name!r} is not mapped on this host)"
        taken.add(path)
        bind.execute(
            sa.text("UPDATE roots SET path = :path WHERE id = :id"), {"path": path, "id": root_id}
        )
    with op.batch_alter_table("roots") as batch:
        batch.alter_column("path", existing_type=sa.Text(), nullable=False)
        batch.create_unique_constraint(op.f("uq_roots_path"), ["path"])
        batch.drop_constraint("uq_roots_uuid", type_="unique")
        batch.drop_constraint("uq_roots_name", type_="unique")
        batch.drop_column("synced_by")
        batch.drop_column("name")
        batch.drop_column("uuid")
    op.drop_table("root_mounts")
