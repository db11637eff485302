"""Challenges a person answers (captchas, pages read by hand), kept as data.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("carrier", sa.String(length=16), nullable=False),
        sa.Column("imei", sa.String(length=16), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=True),
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("image", sa.LargeBinary(), nullable=True),
        sa.Column("media_type", sa.String(length=64), nullable=True),
        sa.Column("session", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("answer", sa.String(length=64), nullable=True),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.CheckConstraint("kind IN ('captcha', 'page')", name=op.f("ck_challenges_kind")),
        sa.CheckConstraint(
            "status IN ('open', 'answered', 'skipped', 'expired', 'void')",
            name=op.f("ck_challenges_status"),
        ),
        sa.CheckConstraint(
            "(kind = 'captcha' AND image IS NOT NULL AND media_type IS NOT NULL)"
            " OR (kind = 'page' AND url IS NOT NULL)",
            name=op.f("ck_challenges_what_to_show"),
        ),
        sa.CheckConstraint(
            "(status = 'answered' AND answer IS NOT NULL AND closed_by IS NOT NULL)"
            " OR (status <> 'answered' AND answer IS NULL)",
            name=op.f("ck_challenges_answer_iff_answered"),
        ),
        sa.CheckConstraint(
            "(status = 'open' AND closed_at IS NULL)"
            " OR (status <> 'open' AND closed_at IS NOT NULL)",
            name=op.f("ck_challenges_closed_at_iff_closed"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["bulk_runs.id"], name=op.f("fk_challenges_run_id_bulk_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_challenges")),
    )
    op.create_index(op.f("ix_challenges_run_id"), "challenges", ["run_id"])
    op.create_index(
        op.f("ix_challenges_status_tenant_created_at"),
        "challenges",
        ["status", "tenant", "created_at"],
    )
    op.create_index(op.f("ix_challenges_origin_status"), "challenges", ["origin", "status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_challenges_origin_status"), table_name="challenges")
    op.drop_index(op.f("ix_challenges_status_tenant_created_at"), table_name="challenges")
    op.drop_index(op.f("ix_challenges_run_id"), table_name="challenges")
    op.drop_table("challenges")
