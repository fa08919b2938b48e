"""Sending infrastructure as workflows: what the VPS lifecycle, the IP pool and warmup add to
the tables of 0002.

- `vps_instances.last_error`: why the provider or a lifecycle step failed (the status says
  `failed`, this says why, in the provider's words).
- `smtp_ip_addresses.ptr_name`, `helo_name`: the IP's reverse DNS name, set at the provider
  when the IP is registered, and the name its sending host gives in HELO (one per IP, the
  PTR name, whatever domains share the IP).
- `warmups`: one row per warmup of a mailbox or an IP, with today's cap. The cap lives in
  OLTP because the send transaction reads it (it cannot read the analytics database); the
  warmup workflow moves it once a day.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from migrations.rls import enable_tenant_rls

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WARMUP_STATUSES = ("active", "paused", "held", "completed", "stopped")
LIVE_WARMUP = "status IN ('active', 'paused', 'held')"


def upgrade() -> None:
    op.add_column("vps_instances", sa.Column("last_error", sa.Text(), nullable=True))
    op.add_column("smtp_ip_addresses", sa.Column("ptr_name", sa.Text(), nullable=True))
    op.add_column("smtp_ip_addresses", sa.Column("helo_name", sa.Text(), nullable=True))

    op.create_table(
        "warmups",
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("email_account_id", UUID(as_uuid=True), nullable=True),
        sa.Column("smtp_ip_address_id", UUID(as_uuid=True), nullable=True),
        sa.Column("status", sa.Text(), nullable=False, server_default="active"),
        sa.Column("curve", JSONB(), nullable=False, server_default="{}"),
        sa.Column("day", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("today_cap", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cap_date", sa.Date(), nullable=True),
        sa.Column("last_reason", sa.Text(), nullable=True),
        sa.Column("ended", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("tenant_id", "id", name="uq_warmups_tenant_id_id"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_warmups_tenant", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "email_account_id"],
            ["email_accounts.tenant_id", "email_accounts.id"],
            name="fk_warmups_email_account",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "smtp_ip_address_id"],
            ["smtp_ip_addresses.tenant_id", "smtp_ip_addresses.id"],
            name="fk_warmups_smtp_ip_address",
        ),
        sa.CheckConstraint(
            "num_nonnulls(email_account_id, smtp_ip_address_id) = 1", name="ck_warmups_target"
        ),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in WARMUP_STATUSES) + ")",
            name="ck_warmups_status",
        ),
        sa.CheckConstraint("today_cap >= 0 AND day >= 0", name="ck_warmups_cap"),
    )
    enable_tenant_rls("warmups")
    # One live warmup per mailbox and per IP; the capacity function looks them up by target.
    op.execute(
        "CREATE UNIQUE INDEX uq_warmups_email_account_live ON warmups "
        f"(tenant_id, email_account_id) WHERE email_account_id IS NOT NULL AND {LIVE_WARMUP}"
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_warmups_smtp_ip_address_live ON warmups "
        f"(tenant_id, smtp_ip_address_id) WHERE smtp_ip_address_id IS NOT NULL AND {LIVE_WARMUP}"
    )


def downgrade() -> None:
    op.drop_table("warmups")
    op.drop_column("smtp_ip_addresses", "helo_name")
    op.drop_column("smtp_ip_addresses", "ptr_name")
    op.drop_column("vps_instances", "last_error")
