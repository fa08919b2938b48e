"""Platform schema: staff, platform config, billing, leads, content, campaigns and the
outbox, sending infrastructure, notifications and the audit trail.

Every tenant table gets `tenant_id NOT NULL`, `UNIQUE (tenant_id, id)` (the index leading
with tenant_id, and the target of composite foreign keys), a foreign key to `tenants`
and row-level security (`enable_tenant_rls`). Foreign keys between tenant tables are
composite `(tenant_id, x_id) -> (tenant_id, id)`: a foreign-key check ignores RLS, so a
plain one would let a tenant point at another tenant's row. Decisions: docs/schema.md.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID

from migrations.rls import APP_ROLE, SYSTEM_ROLE, enable_tenant_rls

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# --- column and constraint helpers ---------------------------------------------------------


def _id() -> sa.Column:
    return sa.Column(
        "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
    )


def _uuid(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, UUID(as_uuid=True), nullable=nullable)


def _text(name: str, nullable: bool = True, default: str | None = None) -> sa.Column:
    return sa.Column(
        name, sa.Text(), nullable=nullable if default is None else False, server_default=default
    )


def _int(name: str, default: int | None = None, nullable: bool = True) -> sa.Column:
    if default is None:
        return sa.Column(name, sa.Integer(), nullable=nullable)
    return sa.Column(name, sa.Integer(), nullable=False, server_default=str(default))


def _bool(name: str, default: bool) -> sa.Column:
    return sa.Column(
        name, sa.Boolean(), nullable=False, server_default=sa.true() if default else sa.false()
    )


def _jsonb(name: str) -> sa.Column:
    return sa.Column(name, JSONB(), nullable=False, server_default="{}")


def _ts(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _stamps() -> list[sa.Column]:
    return [_now("created"), _now("updated")]


def _money(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Numeric(10, 2), nullable=nullable)


def _in(
    table: str, column: str, values: Sequence[str], nullable: bool = False
) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    expr = f"{column} IN ({allowed})"
    if nullable:
        expr = f"{column} IS NULL OR {expr}"
    return sa.CheckConstraint(expr, name=f"ck_{table}_{column}")


def _check(table: str, column: str, expr: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(expr, name=f"ck_{table}_{column}")


def _fk(
    table: str,
    column: str,
    parent: str,
    parent_column: str = "id",
    ondelete: str | None = None,
    name: str | None = None,
) -> sa.ForeignKeyConstraint:
    """Composite foreign key between two tenant tables."""
    return sa.ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{parent}.tenant_id", f"{parent}.{parent_column}"],
        name=name or f"fk_{table}_{column.removesuffix('_id')}",
        ondelete=ondelete,
    )


def _tenant_table(name: str, *items: sa.Column | sa.Constraint) -> None:
    op.create_table(
        name,
        _id(),
        _uuid("tenant_id", nullable=False),
        *items,
        sa.UniqueConstraint("tenant_id", "id", name=f"uq_{name}_tenant_id_id"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{name}_tenant", ondelete="CASCADE"
        ),
    )
    enable_tenant_rls(name)


def _system_only(table: str) -> None:
    """Global staff/platform table: the system role only (admin_session)."""
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {SYSTEM_ROLE}")


def _app_reads(table: str) -> None:
    """Global catalogue the application reads (plans, flags); staff write it."""
    _system_only(table)
    op.execute(f"GRANT SELECT ON {table} TO {APP_ROLE}")


def _index(
    name: str, table: str, columns: str, where: str | None = None, unique: bool = False
) -> None:
    # Raw SQL: expressions, DESC and predicates read as they run.
    kind = "UNIQUE INDEX" if unique else "INDEX"
    op.execute(
        f"CREATE {kind} {name} ON {table} ({columns})" + (f" WHERE {where}" if where else "")
    )


# Status vocabularies (the guide's, plus the states the workflows need; docs/schema.md).
BILLING_CYCLES = ("monthly", "yearly")
SUBSCRIPTION_STATUSES = (
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "incomplete",
    "incomplete_expired",
    "paused",
)
PAYMENT_STATUSES = ("pending", "processing", "succeeded", "failed", "canceled", "refunded")
LEAD_STATUSES = ("active", "bounced", "unsubscribed", "replied", "complained", "erased")
LEAD_LIST_SOURCES = ("csv", "manual", "api")
LEAD_LIST_STATUSES = ("importing", "ready", "failed", "archived")
SUPPRESSION_KINDS = ("address", "domain")
SUPPRESSION_REASONS = ("unsubscribed", "bounced", "complained", "erased", "manual")
CAMPAIGN_STATUSES = ("draft", "scheduled", "sending", "paused", "completed", "cancelled")
STEP_TYPES = ("email", "wait", "condition")
CONDITION_TYPES = ("always", "no_reply", "no_open", "no_click")
DIRECTIONS = ("inbound", "outbound")
MESSAGE_TYPES = ("email", "bounce", "auto_reply", "complaint")
MESSAGE_STATUSES = (
    "queued",
    "reserved",
    "sent",
    "delivered",
    "bounced",
    "failed",
    "unknown",
    "opened",
    "replied",
    "received",
)
BOUNCE_TYPES = ("hard", "soft")
VPS_PROVIDERS = ("hostwinds", "local")
VPS_STATUSES = ("provisioning", "active", "scheduled_decommission", "decommissioned", "failed")
IP_STATUSES = (
    "available",
    "assigned",
    "warming",
    "warmed",
    "degraded",
    "burned",
    "quarantined",
    "released",
)
REPUTATION_STATES = ("good", "fair", "poor", "critical")
DOMAIN_VERIFICATION_STATUSES = ("pending", "verifying", "verified", "failed")
EMAIL_ACCOUNT_STATUSES = (
    "active",
    "warming",
    "paused",
    "authentication_failed",
    "suspended",
    "deleted",
)
ASSIGNMENT_STATUSES = ("scheduled", "warming", "active", "expired")
WARMUP_STATES = ("unwarmed", "warming", "warmed")
CHANNELS = ("in_app", "email")
SEVERITIES = ("info", "warning", "error", "critical")
TRANSACTIONAL_STATUSES = ("queued", "sent", "failed")
ACTOR_TYPES = ("user", "api_key", "staff", "system", "workflow")

CURRENCY = "currency ~ '^[A-Z]{3}$'"
SHA256_HEX = "'^[0-9a-f]{64}$'"


def upgrade() -> None:
    _staff()
    _platform()
    _billing()
    _leads()
    _content()
    _infra()
    _campaigns()
    _notifications()
    _audit()
    _user_preferences_rls()
    # 0001 left this status unchecked: the statuses of `companies`.
    op.create_check_constraint(
        "ck_tenant_policies_company_default_status",
        "tenant_policies",
        "company_default_status IN ('active', 'inactive', 'archived')",
    )


# --- global: staff and platform ------------------------------------------------------------


def _staff() -> None:
    op.create_table(
        "staff_roles",
        _id(),
        _text("name", nullable=False),
        _text("description"),
        *_stamps(),
        sa.UniqueConstraint("name", name="uq_staff_roles_name"),
    )
    op.create_table(
        "permissions",
        _id(),
        _text("name", nullable=False),
        _text("description"),
        _text("category", default="general"),
        *_stamps(),
        sa.UniqueConstraint("name", name="uq_permissions_name"),
    )
    _index("idx_permissions_category", "permissions", "category")
    op.create_table(
        "staff_role_permissions",
        _uuid("role_id", nullable=False),
        _uuid("permission_id", nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("role_id", "permission_id", name="pk_staff_role_permissions"),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["staff_roles.id"],
            name="fk_staff_role_permissions_role",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["permission_id"],
            ["permissions.id"],
            name="fk_staff_role_permissions_permission",
            ondelete="CASCADE",
        ),
    )
    _index("idx_staff_role_permissions_permission_id", "staff_role_permissions", "permission_id")
    op.create_table(
        "staff_members",
        _uuid("user_id", nullable=False),
        _uuid("role_id"),
        _text("notes"),
        *_stamps(),
        sa.PrimaryKeyConstraint("user_id", name="pk_staff_members"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_staff_members_user", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["role_id"], ["staff_roles.id"], name="fk_staff_members_role"),
    )
    _index("idx_staff_members_role_id", "staff_members", "role_id")
    for table in ("staff_roles", "permissions", "staff_role_permissions", "staff_members"):
        _system_only(table)


def _platform() -> None:
    op.create_table(
        "system_config",
        _text("key", nullable=False),
        _jsonb("value"),
        _text("description"),
        _text("category"),
        _bool("is_sensitive", False),
        _uuid("updated_by"),
        *_stamps(),
        sa.PrimaryKeyConstraint("key", name="pk_system_config"),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name="fk_system_config_updated_by", ondelete="SET NULL"
        ),
    )
    _index("idx_system_config_category", "system_config", "category")
    # May hold sensitive values: staff only.
    _system_only("system_config")

    op.create_table(
        "feature_flags",
        _id(),
        _text("key", nullable=False),
        _text("description"),
        _bool("is_enabled", False),
        _int("rollout_percentage", default=0),
        _uuid("updated_by"),
        *_stamps(),
        sa.UniqueConstraint("key", name="uq_feature_flags_key"),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name="fk_feature_flags_updated_by", ondelete="SET NULL"
        ),
        _check("feature_flags", "rollout_percentage", "rollout_percentage BETWEEN 0 AND 100"),
    )
    _app_reads("feature_flags")


# --- billing -------------------------------------------------------------------------------


def _billing() -> None:
    op.create_table(
        "plans",
        _id(),
        _text("plan_name", nullable=False),
        _money("price"),
        _text("currency", default="USD"),
        _text("billing_cycle", default="monthly"),
        _text("stripe_price_id"),
        _jsonb("features"),
        _jsonb("limits"),
        _bool("is_active", True),
        *_stamps(),
        sa.UniqueConstraint("plan_name", name="uq_plans_plan_name"),
        sa.UniqueConstraint("stripe_price_id", name="uq_plans_stripe_price_id"),
        _in("plans", "billing_cycle", BILLING_CYCLES),
        _check("plans", "price", "price >= 0"),
        _check("plans", "currency", CURRENCY),
    )
    _app_reads("plans")

    _tenant_table(
        "subscriptions",
        _uuid("plan_id", nullable=False),
        _uuid("pending_plan_id"),
        _uuid("billing_contact_user_id"),
        _text("stripe_subscription_id"),
        _text("status", default="active"),
        _now("started"),
        _ts("expires"),
        _bool("auto_renew", True),
        *_stamps(),
        sa.UniqueConstraint(
            "stripe_subscription_id", name="uq_subscriptions_stripe_subscription_id"
        ),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name="fk_subscriptions_plan"),
        sa.ForeignKeyConstraint(
            ["pending_plan_id"], ["plans.id"], name="fk_subscriptions_pending_plan"
        ),
        # Removing a member keeps the subscription: only the contact column is cleared.
        _fk(
            "subscriptions",
            "billing_contact_user_id",
            "tenant_users",
            "user_id",
            ondelete="SET NULL (billing_contact_user_id)",
            name="fk_subscriptions_billing_contact",
        ),
        _in("subscriptions", "status", SUBSCRIPTION_STATUSES),
    )
    _index("idx_subscriptions_plan_id", "subscriptions", "plan_id")

    _tenant_table(
        "payments",
        _uuid("subscription_id"),
        _uuid("initiated_by_user_id"),
        _text("stripe_payment_id"),
        _money("amount"),
        _text("currency", default="USD"),
        _text("status", nullable=False),
        _ts("paid"),
        *_stamps(),
        sa.UniqueConstraint("stripe_payment_id", name="uq_payments_stripe_payment_id"),
        _fk("payments", "subscription_id", "subscriptions"),
        _fk(
            "payments",
            "initiated_by_user_id",
            "tenant_users",
            "user_id",
            ondelete="SET NULL (initiated_by_user_id)",
            name="fk_payments_initiated_by",
        ),
        _in("payments", "status", PAYMENT_STATUSES),
        _check("payments", "currency", CURRENCY),
    )
    _index("idx_payments_subscription_id", "payments", "tenant_id, subscription_id")
    _index("idx_payments_paid_history", "payments", "tenant_id, paid DESC")


# --- leads and suppression -----------------------------------------------------------------


def _leads() -> None:
    _tenant_table(
        "leads",
        _text("email", nullable=False),
        _text("first_name"),
        _text("last_name"),
        _text("company"),
        _text("position"),
        _text("timezone"),
        _jsonb("custom_fields"),
        _text("status", default="active"),
        _now("imported"),
        *_stamps(),
        _ts("deleted"),
        _in("leads", "status", LEAD_STATUSES),
    )
    # Import dedups on the address: one live lead per address per tenant.
    _index(
        "uq_leads_email_live",
        "leads",
        "tenant_id, lower(email)",
        where="deleted IS NULL",
        unique=True,
    )
    _index("idx_leads_status_filter", "leads", "tenant_id, status")

    _tenant_table(
        "lead_lists",
        _text("name", nullable=False),
        _text("description"),
        _text("source", default="csv"),
        _text("status", default="ready"),
        _text("content_storage_key"),
        _text("original_filename"),
        _int("row_count", default=0),
        *_stamps(),
        _ts("deleted"),
        _in("lead_lists", "source", LEAD_LIST_SOURCES),
        _in("lead_lists", "status", LEAD_LIST_STATUSES),
        _check("lead_lists", "row_count", "row_count >= 0"),
    )

    _tenant_table(
        "lead_list_members",
        _uuid("lead_list_id", nullable=False),
        _uuid("lead_id", nullable=False),
        _now("created"),
        sa.UniqueConstraint(
            "tenant_id", "lead_list_id", "lead_id", name="uq_lead_list_members_list_lead"
        ),
        _fk("lead_list_members", "lead_list_id", "lead_lists", ondelete="CASCADE"),
        _fk("lead_list_members", "lead_id", "leads", ondelete="CASCADE"),
    )
    _index("idx_lead_list_members_lead_id", "lead_list_members", "tenant_id, lead_id")

    # An address is kept only as the sha256 hex of its normalised form, so an erased
    # person stays suppressed; a domain is kept lower-case.
    _tenant_table(
        "suppressions",
        _text("kind", nullable=False),
        _text("value", nullable=False),
        _text("reason", nullable=False),
        _jsonb("details"),
        *_stamps(),
        sa.UniqueConstraint("tenant_id", "kind", "value", name="uq_suppressions_tenant_kind_value"),
        _in("suppressions", "kind", SUPPRESSION_KINDS),
        _in("suppressions", "reason", SUPPRESSION_REASONS),
        _check(
            "suppressions",
            "value",
            f"(kind = 'address' AND value ~ {SHA256_HEX}) "
            "OR (kind = 'domain' AND value = lower(value) AND value <> '')",
        ),
    )


# --- content store and template library ----------------------------------------------------


def _content() -> None:
    _tenant_table(
        "content_objects",
        _text("content_storage_key", nullable=False),
        _text("content_type", default="application/octet-stream"),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        # Derived by the database from the body, so they cannot disagree with it.
        sa.Column(
            "sha256",
            sa.Text(),
            sa.Computed("encode(sha256(body), 'hex')", persisted=True),
            nullable=False,
        ),
        sa.Column(
            "size",
            sa.BigInteger(),
            sa.Computed("octet_length(body)", persisted=True),
            nullable=False,
        ),
        _now("created"),
        sa.UniqueConstraint(
            "tenant_id", "content_storage_key", name="uq_content_objects_tenant_key"
        ),
    )

    _tenant_table("folders", _text("name", nullable=False), *_stamps())

    _tenant_table(
        "templates",
        _text("name", nullable=False),
        _text("subject"),
        _text("content_storage_key", nullable=False),
        _jsonb("variables"),
        _bool("is_active", True),
        *_stamps(),
        _ts("deleted"),
    )
    _index(
        "idx_templates_name_active",
        "templates",
        "tenant_id, name",
        where="is_active AND deleted IS NULL",
    )

    _tenant_table(
        "templates_folders",
        _uuid("folder_id", nullable=False),
        _uuid("template_id", nullable=False),
        _now("created"),
        sa.UniqueConstraint(
            "tenant_id", "folder_id", "template_id", name="uq_templates_folders_folder_template"
        ),
        _fk("templates_folders", "folder_id", "folders", ondelete="CASCADE"),
        _fk("templates_folders", "template_id", "templates", ondelete="CASCADE"),
    )
    _index("idx_templates_folders_template_id", "templates_folders", "tenant_id, template_id")

    _tenant_table(
        "tags",
        _text("name", nullable=False),
        _text("description"),
        _text("default_value"),
        *_stamps(),
        sa.UniqueConstraint("tenant_id", "name", name="uq_tags_tenant_name"),
    )

    _tenant_table(
        "template_tags",
        _uuid("template_id", nullable=False),
        _uuid("tag_id", nullable=False),
        _text("value"),
        *_stamps(),
        sa.UniqueConstraint(
            "tenant_id", "template_id", "tag_id", name="uq_template_tags_template_tag"
        ),
        _fk("template_tags", "template_id", "templates", ondelete="CASCADE"),
        _fk("template_tags", "tag_id", "tags", ondelete="CASCADE"),
    )
    _index("idx_template_tags_tag_id", "template_tags", "tenant_id, tag_id")


# --- sending infrastructure ----------------------------------------------------------------


def _infra() -> None:
    _tenant_table(
        "vps_instances",
        _text("provider", default="hostwinds"),
        _text("provider_instance_id"),
        sa.Column("ip_address", INET()),
        _text("region"),
        _text("status", default="provisioning"),
        _money("monthly_cost", nullable=True),
        _int("billing_day"),
        _ts("current_billing_period_start"),
        _ts("current_billing_period_end"),
        _ts("decommission_scheduled_for"),
        *_stamps(),
        sa.UniqueConstraint(
            "provider", "provider_instance_id", name="uq_vps_instances_provider_instance"
        ),
        _in("vps_instances", "provider", VPS_PROVIDERS),
        _in("vps_instances", "status", VPS_STATUSES),
        _check(
            "vps_instances", "billing_day", "billing_day IS NULL OR billing_day BETWEEN 1 AND 31"
        ),
    )
    # The lifecycle workflows and staff look VPS up by state and address across tenants.
    _index("idx_vps_instances_status", "vps_instances", "status")
    _index("idx_vps_instances_ip_address", "vps_instances", "ip_address")

    _tenant_table(
        "smtp_ip_addresses",
        _uuid("vps_instance_id", nullable=False),
        sa.Column("ip_address", INET(), nullable=False),
        _text("status", default="available"),
        _text("reputation_state", default="good"),
        _ts("last_reputation_check_at"),
        _int("assigned_count", default=0),
        _jsonb("provider_blacklist_status"),
        *_stamps(),
        _fk("smtp_ip_addresses", "vps_instance_id", "vps_instances"),
        _in("smtp_ip_addresses", "status", IP_STATUSES),
        _in("smtp_ip_addresses", "reputation_state", REPUTATION_STATES),
    )
    # An address sends for one tenant at a time (released rows are history).
    _index(
        "uq_smtp_ip_addresses_ip_address_live",
        "smtp_ip_addresses",
        "ip_address",
        where="status <> 'released'",
        unique=True,
    )
    _index(
        "idx_smtp_ip_addresses_vps_instance_id", "smtp_ip_addresses", "tenant_id, vps_instance_id"
    )
    _index("idx_smtp_ip_addresses_status_filter", "smtp_ip_addresses", "tenant_id, status")

    _tenant_table(
        "domains",
        _uuid("company_id", nullable=False),
        _text("domain", nullable=False),
        _text("verification_status", default="pending"),
        _jsonb("dns_records"),
        _text("dkim_selector"),
        _text("vault_key_path"),
        _bool("is_primary", False),
        _ts("verified_at"),
        _ts("last_checked_at"),
        *_stamps(),
        _ts("deleted"),
        _fk("domains", "company_id", "companies"),
        _check("domains", "domain", "domain = lower(domain) AND domain <> ''"),
        _in("domains", "verification_status", DOMAIN_VERIFICATION_STATUSES),
    )
    # A domain is unique in the world, so across tenants (the API's one 409 on another
    # tenant's row); a deleted one may be added again.
    _index("uq_domains_domain_live", "domains", "domain", where="deleted IS NULL", unique=True)
    _index(
        "uq_domains_primary_tenant",
        "domains",
        "tenant_id",
        where="is_primary AND deleted IS NULL",
        unique=True,
    )
    _index("idx_domains_company_id", "domains", "tenant_id, company_id")
    _index("idx_domains_verification_status_filter", "domains", "tenant_id, verification_status")

    _tenant_table(
        "email_accounts",
        _uuid("domain_id", nullable=False),
        _text("email", nullable=False),
        _text("from_name"),
        _text("provider", default="mailu"),
        _text("vault_key_path", nullable=False),
        _jsonb("imap_settings"),
        _jsonb("smtp_settings"),
        _text("status", default="active"),
        _int("daily_cap", default=50),
        _text("timezone", default="UTC"),
        _ts("last_warmed_at"),
        *_stamps(),
        _ts("deleted"),
        _fk("email_accounts", "domain_id", "domains"),
        _check("email_accounts", "email", "email = lower(email) AND email <> ''"),
        _in("email_accounts", "status", EMAIL_ACCOUNT_STATUSES),
        _check("email_accounts", "daily_cap", "daily_cap > 0"),
    )
    # Inbound mail is routed by recipient before the tenant is known: unique worldwide.
    _index(
        "uq_email_accounts_email_live",
        "email_accounts",
        "email",
        where="deleted IS NULL",
        unique=True,
    )
    _index("idx_email_accounts_domain_id_status", "email_accounts", "tenant_id, domain_id, status")

    _tenant_table(
        "domain_ip_assignments",
        _uuid("domain_id", nullable=False),
        _uuid("smtp_ip_address_id", nullable=False),
        _text("status", default="scheduled"),
        _ts("assigned_at"),
        _ts("expires_at"),
        _text("warmup_state", default="unwarmed"),
        _ts("last_sent_at"),
        *_stamps(),
        _fk("domain_ip_assignments", "domain_id", "domains", ondelete="CASCADE"),
        _fk("domain_ip_assignments", "smtp_ip_address_id", "smtp_ip_addresses"),
        _in("domain_ip_assignments", "status", ASSIGNMENT_STATUSES),
        _in("domain_ip_assignments", "warmup_state", WARMUP_STATES),
    )
    _index(
        "uq_domain_ip_assignments_domain_ip_live",
        "domain_ip_assignments",
        "tenant_id, domain_id, smtp_ip_address_id",
        where="status <> 'expired'",
        unique=True,
    )
    _index(
        "idx_domain_ip_assignments_smtp_ip_address_id",
        "domain_ip_assignments",
        "tenant_id, smtp_ip_address_id",
    )


# --- campaigns, the outbox and the capacity counters ---------------------------------------


def _campaigns() -> None:
    _tenant_table(
        "campaigns",
        _uuid("company_id", nullable=False),
        _text("name", nullable=False),
        _text("description"),
        _text("status", default="draft"),
        _jsonb("configuration"),
        _int("daily_limit"),
        _ts("scheduled_at"),
        _ts("started_at"),
        _ts("completed_at"),
        *_stamps(),
        _fk("campaigns", "company_id", "companies"),
        _in("campaigns", "status", CAMPAIGN_STATUSES),
        _check("campaigns", "daily_limit", "daily_limit IS NULL OR daily_limit > 0"),
    )
    _index("idx_campaigns_company_id_status", "campaigns", "tenant_id, company_id, status")
    _index(
        "idx_campaigns_scheduled_at_scheduled",
        "campaigns",
        "scheduled_at",
        where="scheduled_at IS NOT NULL",
    )

    _tenant_table(
        "campaign_sequence_steps",
        _uuid("campaign_id", nullable=False),
        _int("step_order", nullable=False),
        _text("step_type", nullable=False),
        _uuid("email_account_id"),
        _uuid("template_id"),
        _text("subject_override"),
        _text("from_name_override"),
        _int("wait_duration_hours"),
        _ts("wait_until_date"),
        _text("condition_type"),
        _text("condition_value"),
        _text("send_condition"),
        _bool("is_active", True),
        _int("executed_count", default=0),
        _ts("last_executed_at"),
        *_stamps(),
        # Deferrable so a reorder can swap positions inside one transaction.
        sa.UniqueConstraint(
            "tenant_id",
            "campaign_id",
            "step_order",
            name="uq_campaign_sequence_steps_campaign_order",
            deferrable=True,
            initially="IMMEDIATE",
        ),
        _fk("campaign_sequence_steps", "campaign_id", "campaigns", ondelete="CASCADE"),
        _fk("campaign_sequence_steps", "email_account_id", "email_accounts"),
        _fk("campaign_sequence_steps", "template_id", "templates"),
        _in("campaign_sequence_steps", "step_type", STEP_TYPES),
        _in("campaign_sequence_steps", "condition_type", CONDITION_TYPES, nullable=True),
        _check("campaign_sequence_steps", "step_order", "step_order >= 1"),
        _check(
            "campaign_sequence_steps",
            "wait_duration_hours",
            "wait_duration_hours IS NULL OR wait_duration_hours >= 0",
        ),
    )

    # The outbox (DESIGN "Outbox"), and the record of inbound replies and bounces.
    _tenant_table(
        "inbox_message_refs",
        _uuid("email_account_id", nullable=False),
        _uuid("campaign_id"),
        _uuid("lead_id"),
        _uuid("step_id"),
        _uuid("parent_message_id"),
        _text("direction", nullable=False),
        _text("message_type", default="email"),
        _text("message_id", nullable=False),
        _text("in_reply_to"),
        _text("from_email"),
        _text("to_email"),
        _text("subject"),
        _text("status", default="queued"),
        _text("content_storage_key"),
        _text("error_message"),
        _text("bounce_type"),
        _text("bounce_reason"),
        _ts("sent_at"),
        _ts("opened_at"),
        _ts("clicked_at"),
        _ts("replied_at"),
        _ts("bounced_at"),
        _ts("processed_at"),
        *_stamps(),
        _fk("inbox_message_refs", "email_account_id", "email_accounts"),
        _fk("inbox_message_refs", "campaign_id", "campaigns"),
        _fk("inbox_message_refs", "lead_id", "leads"),
        _fk("inbox_message_refs", "step_id", "campaign_sequence_steps"),
        _fk("inbox_message_refs", "parent_message_id", "inbox_message_refs"),
        _in("inbox_message_refs", "direction", DIRECTIONS),
        _in("inbox_message_refs", "message_type", MESSAGE_TYPES),
        _in("inbox_message_refs", "status", MESSAGE_STATUSES),
        _in("inbox_message_refs", "bounce_type", BOUNCE_TYPES, nullable=True),
    )
    # Outbound: our deterministic Message-IDs are unique worldwide (replies and bounces are
    # routed by them before the tenant is known) and each step goes to a lead once. Inbound
    # rows have no step and may share a Message-ID across mailboxes (one mail to two of our
    # addresses): unique per mailbox, which makes re-polling IMAP idempotent.
    _index(
        "uq_inbox_message_refs_message_id_outbound",
        "inbox_message_refs",
        "message_id",
        where="direction = 'outbound'",
        unique=True,
    )
    _index(
        "uq_inbox_message_refs_campaign_lead_step",
        "inbox_message_refs",
        "tenant_id, campaign_id, lead_id, step_id",
        where="direction = 'outbound'",
        unique=True,
    )
    _index(
        "uq_inbox_message_refs_account_message_id_inbound",
        "inbox_message_refs",
        "tenant_id, email_account_id, message_id",
        where="direction = 'inbound'",
        unique=True,
    )
    _index(
        "idx_inbox_message_refs_campaign_lead",
        "inbox_message_refs",
        "tenant_id, campaign_id, lead_id",
    )
    _index(
        "idx_inbox_message_refs_lead_id_timeline",
        "inbox_message_refs",
        "tenant_id, lead_id, created",
    )
    _index(
        "idx_inbox_message_refs_parent_message_id_threading",
        "inbox_message_refs",
        "tenant_id, parent_message_id",
        where="parent_message_id IS NOT NULL",
    )
    # Sends in doubt, shown to the tenant and never resent automatically.
    _index(
        "idx_inbox_message_refs_status_unresolved",
        "inbox_message_refs",
        "tenant_id, status",
        where="status IN ('reserved', 'unknown')",
    )

    _tenant_table(
        "mailbox_daily_counters",
        _uuid("email_account_id", nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _int("sent_count", default=0),
        *_stamps(),
        sa.UniqueConstraint(
            "tenant_id", "email_account_id", "day", name="uq_mailbox_daily_counters_account_day"
        ),
        _fk("mailbox_daily_counters", "email_account_id", "email_accounts", ondelete="CASCADE"),
        _check("mailbox_daily_counters", "sent_count", "sent_count >= 0"),
    )


# --- notifications -------------------------------------------------------------------------


def _notifications() -> None:
    _tenant_table(
        "notifications",
        _uuid("user_id"),
        _text("type", nullable=False),
        _text("title", nullable=False),
        _text("message", nullable=False),
        _text("channel", default="in_app"),
        _text("severity", default="info"),
        _bool("is_read", False),
        _ts("read"),
        _ts("expires"),
        _now("created"),
        _fk("notifications", "user_id", "tenant_users", "user_id", ondelete="CASCADE"),
        _in("notifications", "channel", CHANNELS),
        _in("notifications", "severity", SEVERITIES),
    )
    _index(
        "idx_notifications_user_id_unread",
        "notifications",
        "tenant_id, user_id, created DESC",
        where="NOT is_read",
    )
    _index("idx_notifications_created_recent", "notifications", "tenant_id, created DESC")

    _tenant_table(
        "transactional_emails",
        _uuid("user_id"),
        _text("to_email", nullable=False),
        _text("type", nullable=False),
        _jsonb("payload"),
        _text("status", default="queued"),
        _text("workflow_id"),
        _now("queued"),
        _ts("sent"),
        _ts("failed"),
        _text("last_error_message"),
        _fk(
            "transactional_emails",
            "user_id",
            "tenant_users",
            "user_id",
            ondelete="SET NULL (user_id)",
        ),
        _in("transactional_emails", "status", TRANSACTIONAL_STATUSES),
    )
    _index(
        "idx_transactional_emails_queued_recent", "transactional_emails", "tenant_id, queued DESC"
    )

    # Staff alerts. Global and staff only: the application role cannot read any row, so an
    # alert about one tenant never reaches another. What a tenant should see is a
    # `notifications` row.
    op.create_table(
        "system_notifications",
        _id(),
        _text("category", nullable=False),
        _text("title", nullable=False),
        _text("message", nullable=False),
        _text("severity", default="info"),
        _bool("is_resolved", False),
        _ts("resolved"),
        _uuid("tenant_id"),
        _uuid("user_id"),
        _now("created"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_system_notifications_tenant", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_system_notifications_user", ondelete="SET NULL"
        ),
        _in("system_notifications", "severity", SEVERITIES),
    )
    _index(
        "idx_system_notifications_severity_unresolved",
        "system_notifications",
        "severity, created DESC",
        where="NOT is_resolved",
    )
    _index("idx_system_notifications_tenant_id", "system_notifications", "tenant_id")
    _system_only("system_notifications")


# --- audit trail ---------------------------------------------------------------------------


def _audit() -> None:
    _tenant_table(
        "audit_logs",
        _text("actor_type", nullable=False),
        _uuid("actor_id"),
        _text("action", nullable=False),
        _text("entity_type", nullable=False),
        _text("entity_id"),
        _jsonb("details"),
        _text("request_id"),
        sa.Column("ip_address", INET()),
        _text("user_agent"),
        _now("created"),
        _in("audit_logs", "actor_type", ACTOR_TYPES),
    )
    _index("idx_audit_logs_created_recent", "audit_logs", "tenant_id, created DESC")
    _index("idx_audit_logs_entity_lookup", "audit_logs", "tenant_id, entity_type, entity_id")
    # Append-only for the application; retention purges run as the system role.
    op.execute(f"REVOKE UPDATE, DELETE ON audit_logs FROM {APP_ROLE}")


# --- user_preferences (0001) -----------------------------------------------------------------


def _user_preferences_rls() -> None:
    # 0001 granted the app role all of user_preferences with no policy: any tenant could
    # read or change anyone's. Same rule as `users`: members of the current tenant only.
    member = "EXISTS (SELECT 1 FROM tenant_users tu WHERE tu.user_id = user_preferences.user_id)"
    op.execute("ALTER TABLE user_preferences ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE user_preferences FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_members ON user_preferences FOR ALL USING ({member}) WITH CHECK ({member})"
    )


# Children before parents.
TABLES = (
    "audit_logs",
    "system_notifications",
    "transactional_emails",
    "notifications",
    "mailbox_daily_counters",
    "inbox_message_refs",
    "campaign_sequence_steps",
    "campaigns",
    "domain_ip_assignments",
    "email_accounts",
    "domains",
    "smtp_ip_addresses",
    "vps_instances",
    "template_tags",
    "tags",
    "templates_folders",
    "templates",
    "folders",
    "content_objects",
    "suppressions",
    "lead_list_members",
    "lead_lists",
    "leads",
    "payments",
    "subscriptions",
    "plans",
    "feature_flags",
    "system_config",
    "staff_members",
    "staff_role_permissions",
    "permissions",
    "staff_roles",
)


def downgrade() -> None:
    op.drop_constraint(
        "ck_tenant_policies_company_default_status", "tenant_policies", type_="check"
    )
    op.execute("DROP POLICY tenant_members ON user_preferences")
    op.execute("ALTER TABLE user_preferences NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE user_preferences DISABLE ROW LEVEL SECURITY")
    for table in TABLES:
        op.drop_table(table)
