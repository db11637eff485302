"""Observations say how an unrecognised page differed (``reason``), indexed for drift.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("observations") as batch:
        batch.add_column(sa.Column("reason", sa.String(length=64), nullable=True))
    op.create_index(
        op.f("ix_observations_carrier_checked_at"), "observations", ["carrier", "checked_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_observations_carrier_checked_at"), table_name="observations")
    with op.batch_alter_table("observations") as batch:
        batch.drop_column("reason")
