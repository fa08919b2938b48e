"""The engagement loop's analytics: per-message first engagement, unsubscribes, and
daily roll-ups keyed by the step's variant with unique numerators beside raw totals.

- `email_engagement`: one row per sent message (tenant, outbox id) with its dimensions, the
  day it counts on (its send day in the tenant's zone) and the time of its first human
  open, click, reply, bounce and complaint. Setting `first_opened` only where it is NULL
  (`UPDATE ... RETURNING`) is what makes `emails_opened` count messages, not opens: a rate
  never passes 100%, and two consumers racing on one message count it once.
- `email_unsubscribes`: the unsubscribe events (one per message).
- `daily_analytics`: `variant_id` joins the key; raw totals (`opens_total`,
  `clicks_total`, `replies_total`), bot hits (`bot_opens`, `bot_clicks`) and
  `emails_unsubscribed` beside the unique counts the rates divide.

Revision ID: a0003
Revises: a0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from migrations.rls import enable_tenant_rls

revision: str = "a0003"
down_revision: str | None = "a0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_COUNTERS = (
    "opens_total",
    "clicks_total",
    "replies_total",
    "bot_opens",
    "bot_clicks",
    "emails_unsubscribed",
)


def _uuid(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, UUID(as_uuid=True), nullable=nullable)


def _ts(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "email_engagement",
        _uuid("tenant_id", nullable=False),
        _uuid("email_id", nullable=False),
        _uuid("campaign_id"),
        _uuid("step_id"),
        _uuid("variant_id"),
        _uuid("mailbox_id"),
        _uuid("lead_id"),
        sa.Column("day", sa.Date(), nullable=False),
        _ts("sent"),
        _ts("first_opened"),
        _ts("first_clicked"),
        _ts("first_replied"),
        _ts("first_bounced"),
        _ts("first_complained"),
        _ts("unsubscribed"),
        _now("created"),
        sa.PrimaryKeyConstraint("tenant_id", "email_id", name="pk_email_engagement"),
    )
    op.execute(
        "CREATE INDEX idx_email_engagement_campaign_lookup "
        "ON email_engagement (tenant_id, campaign_id, day)"
    )
    enable_tenant_rls("email_engagement")

    op.create_table(
        "email_unsubscribes",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _uuid("tenant_id", nullable=False),
        _uuid("email_id", nullable=False),
        _uuid("campaign_id"),
        _uuid("step_id"),
        _uuid("variant_id"),
        _uuid("mailbox_id"),
        _uuid("lead_id"),
        sa.Column("via", sa.Text()),
        _now("unsubscribed"),
        _now("created"),
    )
    op.execute(
        "CREATE INDEX idx_email_unsubscribes_unsubscribed_rollup "
        "ON email_unsubscribes (tenant_id, unsubscribed)"
    )
    op.execute(
        "CREATE INDEX idx_email_unsubscribes_email_id_lookup "
        "ON email_unsubscribes (tenant_id, email_id)"
    )
    enable_tenant_rls("email_unsubscribes")

    op.add_column("daily_analytics", _uuid("variant_id"))
    for name in NEW_COUNTERS:
        op.add_column(
            "daily_analytics", sa.Column(name, sa.Integer(), nullable=False, server_default="0")
        )
    op.drop_constraint(
        "uq_daily_analytics_tenant_campaign_step_mailbox_date", "daily_analytics", type_="unique"
    )
    op.create_unique_constraint(
        "uq_daily_analytics_tenant_campaign_step_mailbox_variant_date",
        "daily_analytics",
        ["tenant_id", "campaign_id", "step_id", "mailbox_id", "variant_id", "date"],
        postgresql_nulls_not_distinct=True,
    )


def downgrade() -> None:
    op.drop_constraint(
        "uq_daily_analytics_tenant_campaign_step_mailbox_variant_date",
        "daily_analytics",
        type_="unique",
    )
    # Rows that differ only by variant would collide under the old key: fold them first.
    op.execute("DELETE FROM daily_analytics WHERE variant_id IS NOT NULL")
    op.create_unique_constraint(
        "uq_daily_analytics_tenant_campaign_step_mailbox_date",
        "daily_analytics",
        ["tenant_id", "campaign_id", "step_id", "mailbox_id", "date"],
        postgresql_nulls_not_distinct=True,
    )
    for name in (*NEW_COUNTERS, "variant_id"):
        op.drop_column("daily_analytics", name)
    op.drop_table("email_unsubscribes")
    op.drop_table("email_engagement")
