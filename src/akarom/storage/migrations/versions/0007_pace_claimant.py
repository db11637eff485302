"""The fleet's pace knows who claimed last: a process alone at a carrier paces as one
process does, without the round trips that guard a start against the others.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("carrier_pace") as batch:
        batch.add_column(
            sa.Column("claimant", sa.String(length=64), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("shared_until", sa.Double(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("carrier_pace") as batch:
        batch.drop_column("shared_until")
        batch.drop_column("claimant")
