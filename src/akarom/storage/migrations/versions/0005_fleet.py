"""A fleet: batch reports kept in the database, the shared politeness budget, workers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("report", sa.LargeBinary(), nullable=True))
    op.create_table(
        "carrier_pace",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("next_start", sa.Double(), nullable=False),
        sa.Column("learned_interval", sa.Double(), nullable=False),
        sa.Column("last_start", sa.Double(), nullable=True),
        sa.Column("last_t", sa.Double(), nullable=False),
        sa.Column("reserved_until", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_carrier_pace")),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("running", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('worker', 'server')", name=op.f("ck_workers_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_index(op.f("ix_workers_seen_at"), "workers", ["seen_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_workers_seen_at"), table_name="workers")
    op.drop_table("workers")
    op.drop_table("carrier_pace")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("report")
