"""Analytics database: login roles, raw events and daily roll-ups.

Every table is tenant-owned under the same row-level security as OLTP. There are no
foreign keys: the ids of OLTP rows live in another database. Each event's `id` is set by
its producer, so ingesting a stream entry twice is a no-op (`ON CONFLICT (id)`).

Revision ID: a0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects.postgresql import INET, UUID

from migrations.rls import create_roles, enable_tenant_rls
from penguinmails.settings import get_settings

revision: str = "a0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _uuid(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, UUID(as_uuid=True), nullable=nullable)


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False, server_default="0")


def _in(table: str, column: str, values: Sequence[str]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=f"ck_{table}_{column}")


def _rate(name: str, count: str) -> sa.Column:
    # NUMERIC(14,2), not the guide's DECIMAL(5,2) that overflows past 999.99% (11 opens of
    # one send): INTEGER counters bound the rate by 2^31 * 100, 12 digits before the point.
    expr = f"CASE WHEN emails_sent > 0 THEN round(({count}::numeric / emails_sent) * 100, 2) ELSE 0 END"
    return sa.Column(name, sa.Numeric(14, 2), sa.Computed(expr, persisted=True), nullable=False)


def _event_table(name: str, at: str, *items: sa.Column | sa.Constraint) -> None:
    """An event: what it is about (OLTP ids), when it happened (`at`), and its details."""
    op.create_table(
        name,
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        _uuid("tenant_id", nullable=False),
        _uuid("email_id", nullable=False),  # inbox_message_refs.id
        _uuid("campaign_id"),
        _uuid("step_id"),
        _uuid("mailbox_id"),  # email_accounts.id
        _uuid("lead_id"),
        _now(at),
        *items,
        _now("created"),
    )
    # Roll-ups scan a tenant's day; conditions and timelines look an e-mail's events up.
    op.execute(f"CREATE INDEX idx_{name}_{at}_rollup ON {name} (tenant_id, {at})")
    op.execute(f"CREATE INDEX idx_{name}_email_id_lookup ON {name} (tenant_id, email_id)")
    enable_tenant_rls(name)


EVENT_TABLES = (
    "email_sends",
    "email_opens",
    "email_clicks",
    "email_bounces",
    "email_replies",
    "email_complaints",
)


def upgrade() -> None:
    # The analytics database may live on another server: the roles are made there too.
    settings = get_settings()
    attrs = context.config.attributes
    create_roles(
        attrs.get("app_password", settings.app_database_password.get_secret_value()),
        attrs.get("system_password", settings.system_database_password.get_secret_value()),
    )

    _event_table("email_sends", "sent")
    _event_table(
        "email_opens", "opened", sa.Column("ip_address", INET()), sa.Column("user_agent", sa.Text())
    )
    _event_table(
        "email_clicks",
        "clicked",
        sa.Column("clicked_url", sa.Text(), nullable=False),
        sa.Column("ip_address", INET()),
        sa.Column("user_agent", sa.Text()),
    )
    _event_table(
        "email_bounces",
        "bounced",
        sa.Column("bounce_type", sa.Text(), nullable=False),
        sa.Column("bounce_reason", sa.Text()),
        _in("email_bounces", "bounce_type", ("hard", "soft")),
    )
    _event_table("email_replies", "replied", sa.Column("message_id", sa.Text()))
    _event_table("email_complaints", "complained", sa.Column("feedback_type", sa.Text()))

    op.create_table(
        "daily_analytics",
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        _uuid("tenant_id", nullable=False),
        _uuid("campaign_id"),
        _uuid("step_id"),
        _uuid("mailbox_id"),
        sa.Column("date", sa.Date(), nullable=False),
        _count("emails_sent"),
        _count("emails_opened"),
        _count("emails_clicked"),
        _count("emails_bounced"),
        _count("emails_replied"),
        _count("emails_complained"),
        _count("warmup_opens"),
        _count("warmup_replies"),
        _rate("open_rate", "emails_opened"),
        _rate("click_rate", "emails_clicked"),
        _rate("bounce_rate", "emails_bounced"),
        _rate("reply_rate", "emails_replied"),
        _rate("complaint_rate", "emails_complained"),
        _now("created"),
        _now("updated"),
        # A NULL dimension is the total over it. The guide's plain UNIQUE never conflicts
        # on NULLs, so totals would duplicate; NULLS NOT DISTINCT makes them upsert targets.
        sa.UniqueConstraint(
            "tenant_id",
            "campaign_id",
            "step_id",
            "mailbox_id",
            "date",
            name="uq_daily_analytics_tenant_campaign_step_mailbox_date",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.execute("CREATE INDEX idx_daily_analytics_date_range ON daily_analytics (tenant_id, date)")
    enable_tenant_rls("daily_analytics")

    op.create_table(
        "warmup_interactions",
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        _uuid("tenant_id", nullable=False),
        _uuid("mailbox_id", nullable=False),
        sa.Column("interaction_type", sa.Text(), nullable=False),
        sa.Column("partner_mailbox", sa.Text()),
        _now("interaction"),
        _now("created"),
        _in(
            "warmup_interactions",
            "interaction_type",
            ("sent", "received", "opened", "replied", "moved_to_inbox", "marked_not_spam"),
        ),
    )
    op.execute(
        "CREATE INDEX idx_warmup_interactions_mailbox_id_rollup "
        "ON warmup_interactions (tenant_id, mailbox_id, interaction)"
    )
    enable_tenant_rls("warmup_interactions")

    op.create_table(
        "warmup_daily_stats",
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        _uuid("tenant_id", nullable=False),
        _uuid("mailbox_id", nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        _count("emails_sent"),
        _count("opens_received"),
        _count("replies_received"),
        _count("reputation_score"),
        _now("created"),
        _now("updated"),
        # The guide's UNIQUE (mailbox_id, date), led by the tenant.
        sa.UniqueConstraint(
            "tenant_id", "mailbox_id", "date", name="uq_warmup_daily_stats_mailbox_date"
        ),
    )
    enable_tenant_rls("warmup_daily_stats")


def downgrade() -> None:
    for table in (
        "warmup_daily_stats",
        "warmup_interactions",
        "daily_analytics",
        *reversed(EVENT_TABLES),
    ):
        op.drop_table(table)
    # Roles are cluster-wide and may serve other databases: never dropped here.
