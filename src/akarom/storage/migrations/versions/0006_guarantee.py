"""The 赤ロム guarantee: intakes, guarantees, the monitor's watches and budget, status
changes and their alerts, claims, certificates and the keys that signed them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recheck_budget",
        sa.Column("carrier", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("spent", sa.Integer(), nullable=False),
        sa.Column("down_since", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("carrier", "day", name=op.f("pk_recheck_budget")),
    )
    op.create_table(
        "signing_keys",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_signing_keys")),
    )
    op.create_table(
        "alert_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("secret_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "channel IN ('webhook', 'email')", name=op.f("ck_alert_targets_channel")
        ),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealers.id"], name=op.f("fk_alert_targets_dealer_id_dealers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_targets")),
    )
    op.create_index(
        op.f("ix_alert_targets_dealer_id"), "alert_targets", ["dealer_id"], unique=False
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=True),
        sa.Column("imei", sa.String(length=16), nullable=False),
        sa.Column("observation_ids", sa.JSON(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealers.id"], name=op.f("fk_certificates_dealer_id_dealers")
        ),
        sa.ForeignKeyConstraint(
            ["key_id"], ["signing_keys.key_id"], name=op.f("fk_certificates_key_id_signing_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
    )
    op.create_index(op.f("ix_certificates_imei"), "certificates", ["imei"], unique=False)
    op.create_table(
        "intakes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.Column("imei", sa.String(length=16), nullable=False),
        sa.Column("bought_on", sa.Date(), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("features", sa.Text(), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("observation_ids", sa.JSON(), nullable=False),
        sa.Column("seller_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("seller_key", sa.LargeBinary(), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_by", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "(erased_at IS NULL) OR (seller_sealed IS NULL AND seller_key IS NULL)",
            name=op.f("ck_intakes_erased_means_gone"),
        ),
        sa.CheckConstraint("price >= 0", name=op.f("ck_intakes_price")),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealers.id"], name=op.f("fk_intakes_dealer_id_dealers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intakes")),
    )
    op.create_index(
        op.f("ix_intakes_dealer_id_imei"), "intakes", ["dealer_id", "imei"], unique=False
    )
    op.create_table(
        "guarantees",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.Column("imei", sa.String(length=16), nullable=False),
        sa.Column("order_ref", sa.String(length=100), nullable=False),
        sa.Column("sold_on", sa.Date(), nullable=False),
        sa.Column("price", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("terms", sa.Text(), nullable=True),
        sa.Column("term_until", sa.Date(), nullable=True),
        sa.Column("baseline_verdict", sa.String(length=16), nullable=False),
        sa.Column("baseline_ids", sa.JSON(), nullable=False),
        sa.Column("intake_id", sa.Integer(), nullable=True),
        sa.Column("customer_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("customer_key", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "baseline_verdict IN ('clear', 'caution')", name=op.f("ck_guarantees_baseline_verdict")
        ),
        sa.CheckConstraint(
            "kind IN ('lifetime_red', 'return_1y', 'own')", name=op.f("ck_guarantees_kind")
        ),
        sa.CheckConstraint(
            "status IN ('active', 'claimed', 'ended')", name=op.f("ck_guarantees_status")
        ),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealers.id"], name=op.f("fk_guarantees_dealer_id_dealers")
        ),
        sa.ForeignKeyConstraint(
            ["intake_id"], ["intakes.id"], name=op.f("fk_guarantees_intake_id_intakes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guarantees")),
        sa.UniqueConstraint(
            "dealer_id", "order_ref", name=op.f("uq_guarantees_dealer_id_order_ref")
        ),
    )
    op.create_index(op.f("ix_guarantees_imei"), "guarantees", ["imei"], unique=False)
    op.create_table(
        "watches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("imei", sa.String(length=16), nullable=False),
        sa.Column("carrier", sa.String(length=16), nullable=False),
        sa.Column("last_status", sa.String(length=16), nullable=False),
        sa.Column("last_observation_id", sa.Integer(), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "carrier IN ('docomo', 'au', 'softbank', 'rakuten')", name=op.f("ck_watches_carrier")
        ),
        sa.CheckConstraint(
            "last_status IN ('ok', 'pending', 'restricted', 'unregistered', 'unknown')",
            name=op.f("ck_watches_last_status"),
        ),
        sa.ForeignKeyConstraint(
            ["last_observation_id"],
            ["observations.id"],
            name=op.f("fk_watches_last_observation_id_observations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watches")),
        sa.UniqueConstraint("imei", "carrier", name=op.f("uq_watches_imei_carrier")),
    )
    op.create_index(
        op.f("ix_watches_carrier_next_due_at"), "watches", ["carrier", "next_due_at"], unique=False
    )
    op.create_table(
        "status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guarantee_id", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(length=16), nullable=False),
        sa.Column("before_status", sa.String(length=16), nullable=False),
        sa.Column("after_status", sa.String(length=16), nullable=False),
        sa.Column("before_observation_id", sa.Integer(), nullable=True),
        sa.Column("after_observation_id", sa.Integer(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["after_observation_id"],
            ["observations.id"],
            name=op.f("fk_status_changes_after_observation_id_observations"),
        ),
        sa.ForeignKeyConstraint(
            ["before_observation_id"],
            ["observations.id"],
            name=op.f("fk_status_changes_before_observation_id_observations"),
        ),
        sa.ForeignKeyConstraint(
            ["guarantee_id"],
            ["guarantees.id"],
            name=op.f("fk_status_changes_guarantee_id_guarantees"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_changes")),
    )
    op.create_index(
        op.f("ix_status_changes_guarantee_id"), "status_changes", ["guarantee_id"], unique=False
    )
    op.create_table(
        "claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guarantee_id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status <> 'rejected' OR reason IS NOT NULL", name=op.f("ck_claims_rejected_has_reason")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'exchange', 'refund', 'rejected')", name=op.f("ck_claims_status")
        ),
        sa.ForeignKeyConstraint(
            ["change_id"], ["status_changes.id"], name=op.f("fk_claims_change_id_status_changes")
        ),
        sa.ForeignKeyConstraint(
            ["guarantee_id"], ["guarantees.id"], name=op.f("fk_claims_guarantee_id_guarantees")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
        sa.UniqueConstraint("guarantee_id", name=op.f("uq_claims_guarantee_id")),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("given_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint("channel IN ('webhook', 'email')", name=op.f("ck_deliveries_channel")),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["status_changes.id"],
            name=op.f("fk_deliveries_change_id_status_changes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint(
            "change_id",
            "channel",
            "recipient",
            name=op.f("uq_deliveries_change_id_channel_recipient"),
        ),
    )
    op.create_index(
        op.f("ix_deliveries_next_attempt_at"), "deliveries", ["next_attempt_at"], unique=False
    )
    op.create_table(
        "claim_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["claims.id"], name=op.f("fk_claim_actions_claim_id_claims")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_actions")),
    )
    op.create_index(op.f("ix_claim_actions_claim_id"), "claim_actions", ["claim_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_claim_actions_claim_id"), table_name="claim_actions")
    op.drop_table("claim_actions")
    op.drop_index(op.f("ix_deliveries_next_attempt_at"), table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("claims")
    op.drop_index(op.f("ix_status_changes_guarantee_id"), table_name="status_changes")
    op.drop_table("status_changes")
    op.drop_index(op.f("ix_watches_carrier_next_due_at"), table_name="watches")
    op.drop_table("watches")
    op.drop_index(op.f("ix_guarantees_imei"), table_name="guarantees")
    op.drop_table("guarantees")
    op.drop_index(op.f("ix_intakes_dealer_id_imei"), table_name="intakes")
    op.drop_table("intakes")
    op.drop_index(op.f("ix_certificates_imei"), table_name="certificates")
    op.drop_table("certificates")
    op.drop_index(op.f("ix_alert_targets_dealer_id"), table_name="alert_targets")
    op.drop_table("alert_targets")
    op.drop_table("signing_keys")
    op.drop_table("recheck_budget")
