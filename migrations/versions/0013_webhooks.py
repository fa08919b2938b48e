"""Outbound webhooks: a tenant's endpoints, the deliveries waiting for each, and every
attempt (the delivery log).

- `webhook_endpoints`: URL, subscribed event types, the Vault path of its signing secret,
  `active`/`disabled` (with the reason), `failing_since` (the first failure after the last
  success; a day of it disables the endpoint).
- `webhook_deliveries`: one per (endpoint, event), unique on the event id so an event
  published twice is delivered once; `pending` until `delivered` or `failed` (3 days of
  retries, or the endpoint disabled); `next_attempt_at` is what the endpoint's workflow
  reads, never a signal per event.
- `webhook_attempts`: each POST with its status code or error and its duration.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from migrations.rls import enable_tenant_rls

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _ts(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def _tenant_table(name: str, *items: sa.Column | sa.Constraint) -> None:
    op.create_table(
        name,
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        *items,
        sa.UniqueConstraint("tenant_id", "id", name=f"uq_{name}_tenant_id_id"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{name}_tenant", ondelete="CASCADE"
        ),
    )
    enable_tenant_rls(name)


def _fk(table: str, column: str, parent: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{parent}.tenant_id", f"{parent}.id"],
        name=f"fk_{table}_{column.removesuffix('_id')}",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    _tenant_table(
        "webhook_endpoints",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("event_types", ARRAY(sa.Text()), nullable=False),
        sa.Column("vault_key_path", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default="active"),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        _ts("failing_since"),
        _ts("last_success_at"),
        _now("created"),
        _now("updated"),
        _ts("deleted"),
        sa.CheckConstraint("status IN ('active', 'disabled')", name="ck_webhook_endpoints_status"),
    )
    op.create_index(
        "idx_webhook_endpoints_tenant_live",
        "webhook_endpoints",
        ["tenant_id", "created", "id"],
        postgresql_where=sa.text("deleted IS NULL"),
    )
    _tenant_table(
        "webhook_deliveries",
        sa.Column("endpoint_id", UUID(as_uuid=True), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSONB(), nullable=False, server_default="{}"),
        sa.Column("status", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        _now("next_attempt_at"),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("delivered_at"),
        _now("created"),
        _fk("webhook_deliveries", "endpoint_id", "webhook_endpoints"),
        sa.UniqueConstraint(
            "tenant_id", "endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name="ck_webhook_deliveries_status"
        ),
    )
    # What an endpoint's workflow reads: its pending deliveries, the due ones first.
    op.create_index(
        "idx_webhook_deliveries_due",
        "webhook_deliveries",
        ["tenant_id", "endpoint_id", "next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "idx_webhook_deliveries_log",
        "webhook_deliveries",
        ["tenant_id", "endpoint_id", "created", "id"],
    )
    _tenant_table(
        "webhook_attempts",
        sa.Column("delivery_id", UUID(as_uuid=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        _now("attempted_at"),
        _fk("webhook_attempts", "delivery_id", "webhook_deliveries"),
    )
    op.create_index(
        "idx_webhook_attempts_delivery", "webhook_attempts", ["tenant_id", "delivery_id"]
    )


def downgrade() -> None:
    for table in ("webhook_attempts", "webhook_deliveries", "webhook_endpoints"):
        op.drop_table(table)
