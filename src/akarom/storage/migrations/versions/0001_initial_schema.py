"""Initial schema: observations, evidence pages and blobs, bulk runs and rows.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bulk_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("input_name", sa.Text(), nullable=False),
        sa.Column("input_sha256", sa.String(length=64), nullable=False),
        sa.Column("output_name", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_runs")),
    )
    op.create_index(
        op.f("ix_bulk_runs_input_sha256_output_name"),
        "bulk_runs",
        ["input_sha256", "output_name"],
    )
    op.create_table(
        "evidence_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("encoding", sa.String(length=16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_evidence_blobs")),
    )
    op.create_table(
        "bulk_rows",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("imei", sa.String(length=16), nullable=True),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["bulk_runs.id"], name=op.f("fk_bulk_rows_run_id_bulk_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "row_number", name=op.f("pk_bulk_rows")),
    )
    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("imei", sa.String(length=16), nullable=False),
        sa.Column("tac", sa.String(length=8), nullable=True),
        sa.Column("carrier", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("printed_symbol", sa.String(length=8), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("elapsed_ms", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("adapter_version", sa.String(length=64), nullable=True),
        sa.Column("entered_by", sa.String(length=200), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(source = 'manual' AND entered_by IS NOT NULL)"
            " OR (source <> 'manual' AND entered_by IS NULL)",
            name=op.f("ck_observations_entered_by_iff_manual"),
        ),
        sa.CheckConstraint(
            "(status = 'unknown' AND error IS NOT NULL) OR (status <> 'unknown' AND error IS NULL)",
            name=op.f("ck_observations_error_iff_unknown"),
        ),
        sa.CheckConstraint("source IN ('live', 'manual')", name=op.f("ck_observations_source")),
        sa.CheckConstraint(
            "status IN ('ok', 'pending', 'restricted', 'unregistered', 'unknown')",
            name=op.f("ck_observations_status"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["bulk_runs.id"], name=op.f("fk_observations_run_id_bulk_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observations")),
    )
    op.create_index(
        op.f("ix_observations_imei_carrier_checked_at"),
        "observations",
        ["imei", "carrier", "checked_at"],
    )
    op.create_index(op.f("ix_observations_run_id"), "observations", ["run_id"])
    op.create_index(op.f("ix_observations_tac"), "observations", ["tac"])
    op.create_table(
        "evidence_pages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("observation_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["body_sha256"],
            ["evidence_blobs.sha256"],
            name=op.f("fk_evidence_pages_body_sha256_evidence_blobs"),
        ),
        sa.ForeignKeyConstraint(
            ["observation_id"],
            ["observations.id"],
            name=op.f("fk_evidence_pages_observation_id_observations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_pages")),
        sa.UniqueConstraint(
            "observation_id", "seq", name=op.f("uq_evidence_pages_observation_id_seq")
        ),
    )
    op.create_index(op.f("ix_evidence_pages_body_sha256"), "evidence_pages", ["body_sha256"])


def downgrade() -> None:
    op.drop_table("evidence_pages")
    op.drop_table("observations")
    op.drop_table("bulk_rows")
    op.drop_table("evidence_blobs")
    op.drop_table("bulk_runs")
