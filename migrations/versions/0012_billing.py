"""Billing: the seeded plan catalogue, the subscription mirror's Stripe columns, and the
store of received Stripe events.

- `plans`: a trial and three paid tiers, their limits and features as data (JSONB:
  `mailboxes`, `domains`, `active_leads`, `emails_per_month`, `users`, `api_keys`;
  `ab_variants`, `webhooks`, `dedicated_ips`). `stripe_price_id` holds the Stripe Price in
  production and the Stripe Plan id in development (localstripe has no Prices). A retired
  plan (`is_active = false`) keeps its subscribers and is no longer offered.
- `subscriptions`: one row per tenant, written at sign-up (the mirror of its `SubscriptionWorkflow`), with the
  period end, cancel-at-period-end, the Stripe time of the state it
  holds (`stripe_as_of`, event ordering) and the end of a dunning grace period.
- `stripe_events`: every verified webhook event, unique on Stripe's id, with when it was
  handed to the tenant's workflow (NULL: not yet; the next delivery hands it over). Global
  and staff only: it holds payloads of every tenant.

- Staff roles `super_admin`, `support`, `billing`, `read_only` and the permissions they
  hold (`plans.read`, `plans.write`, `tenants.read`, `tenants.suspend`, `audit.read`).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from migrations.rls import SYSTEM_ROLE

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, monthly price, Stripe id in development, limits, features)
PLANS: tuple[tuple[str, str, str | None, dict[str, int], dict[str, bool]], ...] = (
    (
        "trial",
        "0.00",
        None,
        {
            "mailboxes": 3,
            "domains": 2,
            "active_leads": 1000,
            "emails_per_month": 1000,
            "users": 3,
            "api_keys": 5,
        },
        {"ab_variants": False, "webhooks": False, "dedicated_ips": False},
    ),
    (
        "starter",
        "49.00",
        "plan_pm_starter",
        {
            "mailboxes": 10,
            "domains": 3,
            "active_leads": 5000,
            "emails_per_month": 20000,
            "users": 3,
            "api_keys": 5,
        },
        {"ab_variants": False, "webhooks": True, "dedicated_ips": False},
    ),
    (
        "growth",
        "149.00",
        "plan_pm_growth",
        {
            "mailboxes": 50,
            "domains": 10,
            "active_leads": 50000,
            "emails_per_month": 150000,
            "users": 10,
            "api_keys": 20,
        },
        {"ab_variants": True, "webhooks": True, "dedicated_ips": False},
    ),
    (
        "scale",
        "499.00",
        "plan_pm_scale",
        {
            "mailboxes": 250,
            "domains": 50,
            "active_leads": 500000,
            "emails_per_month": 1000000,
            "users": 50,
            "api_keys": 100,
        },
        {"ab_variants": True, "webhooks": True, "dedicated_ips": True},
    ),
)


# Staff permissions, and the roles that hold them (every /v1/staff route names one).
PERMISSIONS = {
    "plans.read": ("billing", "see every plan, retired ones included"),
    "plans.write": ("billing", "add and retire plans"),
    "tenants.read": ("support", "find tenants and see their overview"),
    "tenants.suspend": ("support", "suspend and unsuspend tenants"),
    "audit.read": ("support", "read the staff audit log"),
}
ROLES = {
    "super_admin": ("everything", tuple(PERMISSIONS)),
    "support": ("helps tenants", ("plans.read", "tenants.read", "tenants.suspend", "audit.read")),
    "billing": ("plans and payments", ("plans.read", "plans.write", "tenants.read")),
    "read_only": ("looks only", ("plans.read", "tenants.read", "audit.read")),
}


def _staff_roles() -> None:
    bind = op.get_bind()
    for name, (category, description) in PERMISSIONS.items():
        bind.execute(
            sa.text(
                "INSERT INTO permissions (name, category, description) VALUES (:n, :c, :d) "
                "ON CONFLICT (name) DO NOTHING"
            ),
            {"n": name, "c": category, "d": description},
        )
    for role, (description, granted) in ROLES.items():
        bind.execute(
            sa.text(
                "INSERT INTO staff_roles (name, description) VALUES (:n, :d) "
                "ON CONFLICT (name) DO NOTHING"
            ),
            {"n": role, "d": description},
        )
        for permission in granted:
            bind.execute(
                sa.text(
                    "INSERT INTO staff_role_permissions (role_id, permission_id) "
                    "SELECT r.id, p.id FROM staff_roles r, permissions p "
                    "WHERE r.name = :r AND p.name = :p ON CONFLICT DO NOTHING"
                ),
                {"r": role, "p": permission},
            )


def upgrade() -> None:
    _staff_roles()
    bind = op.get_bind()
    for name, price, stripe_id, limits, features in PLANS:
        bind.execute(
            sa.text(
                "INSERT INTO plans (plan_name, price, currency, billing_cycle, stripe_price_id, "
                "limits, features) VALUES (:name, CAST(:price AS numeric), 'USD', 'monthly', "
                ":stripe_id, CAST(:limits AS jsonb), CAST(:features AS jsonb)) "
                "ON CONFLICT (plan_name) DO NOTHING"
            ),
            {
                "name": name,
                "price": price,
                "stripe_id": stripe_id,
                "limits": json.dumps(limits),
                "features": json.dumps(features),
            },
        )

    op.add_column(
        "subscriptions",
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "subscriptions",
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("subscriptions", sa.Column("stripe_as_of", sa.BigInteger(), nullable=True))
    op.add_column(
        "subscriptions", sa.Column("grace_ends", sa.DateTime(timezone=True), nullable=True)
    )
    # A webhook finds its tenant by the Stripe customer (`tenant_config.stripe_customer_id`).
    op.execute(
        "CREATE UNIQUE INDEX uq_tenant_config_stripe_customer_id "
        "ON tenant_config (stripe_customer_id) WHERE stripe_customer_id IS NOT NULL"
    )

    op.create_table(
        "stripe_events",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=True),
        sa.Column("stripe_created", sa.BigInteger(), nullable=False),
        sa.Column("payload", JSONB(), nullable=False, server_default="{}"),
        sa.Column("handed_off", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_stripe_events"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_stripe_events_tenant", ondelete="CASCADE"
        ),
    )
    op.execute(
        "CREATE INDEX idx_stripe_events_unhanded ON stripe_events (created) "
        "WHERE handed_off IS NULL AND tenant_id IS NOT NULL"
    )
    op.execute("CREATE INDEX idx_stripe_events_tenant_id ON stripe_events (tenant_id)")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON stripe_events TO {SYSTEM_ROLE}")


def downgrade() -> None:
    op.execute(
        "DELETE FROM staff_roles WHERE name IN ('super_admin', 'support', 'billing', 'read_only') "
        "AND NOT EXISTS (SELECT 1 FROM staff_members m WHERE m.role_id = staff_roles.id)"
    )
    op.execute(
        "DELETE FROM permissions WHERE name IN "
        "('plans.read', 'plans.write', 'tenants.read', 'tenants.suspend', 'audit.read')"
    )
    op.drop_table("stripe_events")
    op.execute("DROP INDEX IF EXISTS uq_tenant_config_stripe_customer_id")
    for column in (
        "grace_ends",
        "stripe_as_of",
        "cancel_at_period_end",
        "current_period_end",
    ):
        op.drop_column("subscriptions", column)
    op.execute("DELETE FROM plans WHERE plan_name IN ('trial', 'starter', 'growth', 'scale')")
