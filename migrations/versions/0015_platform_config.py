"""Platform configuration: per-tenant feature-flag overrides, the audit trail of
platform-wide staff changes, the staff permissions of flags and system configuration, and
what the transactional e-mail sender needs.

- `feature_flag_overrides`: one row per (flag, tenant) forcing the flag on or off for that
  tenant, whatever the rollout says. Global and staff only (the flag cache reads every
  override through the system role, like `stripe_events`: `tenant_id` says whose).
- `platform_audit_logs`: staff changes to what belongs to no tenant (a flag's global state
  or percentage, a `system_config` key), with the staff member as actor. A change that
  concerns one tenant (a flag override) is written to that tenant's `audit_logs` instead.
  Global, system role only.
- Permissions `flags.read`, `flags.write`, `config.read`, `config.write`; only
  `super_admin` may write either.
- `transactional_emails` becomes the outbox of the platform's own e-mail: `attempts` (SMTP
  tries so far), `next_attempt` (when a queued message is due; a claim moves it forward
  as a lease) and `dedup_key`, unique per tenant, so an activity retried or a request
  repeated queues one message.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from migrations.rls import SYSTEM_ROLE

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERMISSIONS = {
    "flags.read": ("platform", "see feature flags and their overrides"),
    "flags.write": ("platform", "change feature flags, rollouts and overrides"),
    "config.read": ("platform", "see the system configuration"),
    "config.write": ("platform", "change the system configuration"),
}
ROLES = {
    "super_admin": tuple(PERMISSIONS),
    "support": ("flags.read", "config.read"),
    "billing": ("flags.read", "config.read"),
    "read_only": ("flags.read", "config.read"),
}


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _permissions() -> None:
    bind = op.get_bind()
    for name, (category, description) in PERMISSIONS.items():
        bind.execute(
            sa.text(
                "INSERT INTO permissions (name, category, description) VALUES (:n, :c, :d) "
                "ON CONFLICT (name) DO NOTHING"
            ),
            {"n": name, "c": category, "d": description},
        )
    for role, granted in ROLES.items():
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
    op.create_table(
        "feature_flag_overrides",
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        sa.Column("flag_id", UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_by", UUID(as_uuid=True), nullable=True),
        _now("created"),
        _now("updated"),
        sa.UniqueConstraint("flag_id", "tenant_id", name="uq_feature_flag_overrides_flag_tenant"),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["feature_flags.id"],
            name="fk_feature_flag_overrides_flag",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_feature_flag_overrides_tenant",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name="fk_feature_flag_overrides_updated_by",
            ondelete="SET NULL",
        ),
    )
    op.execute(
        "CREATE INDEX idx_feature_flag_overrides_tenant_id ON feature_flag_overrides (tenant_id)"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON feature_flag_overrides TO {SYSTEM_ROLE}")

    op.create_table(
        "platform_audit_logs",
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        sa.Column("actor_type", sa.Text(), nullable=False),
        sa.Column("actor_id", UUID(as_uuid=True), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("entity_type", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=True),
        sa.Column("details", JSONB(), nullable=False, server_default="{}"),
        _now("created"),
        sa.CheckConstraint(
            "actor_type IN ('staff', 'system')", name="ck_platform_audit_logs_actor_type"
        ),
    )
    op.execute("CREATE INDEX idx_platform_audit_logs_created ON platform_audit_logs (created DESC)")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON platform_audit_logs TO {SYSTEM_ROLE}")

    op.add_column(
        "transactional_emails",
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("transactional_emails", sa.Column("dedup_key", sa.Text(), nullable=True))
    op.add_column(
        "transactional_emails",
        sa.Column(
            "next_attempt", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.execute(
        "CREATE INDEX idx_transactional_emails_due ON transactional_emails (next_attempt) "
        "WHERE status = 'queued'"
    )
    op.create_unique_constraint(
        "uq_transactional_emails_tenant_dedup", "transactional_emails", ["tenant_id", "dedup_key"]
    )
    _permissions()


def downgrade() -> None:
    bind = op.get_bind()
    for name in PERMISSIONS:
        bind.execute(sa.text("DELETE FROM permissions WHERE name = :n"), {"n": name})
    op.drop_constraint("uq_transactional_emails_tenant_dedup", "transactional_emails")
    op.execute("DROP INDEX IF EXISTS idx_transactional_emails_due")
    op.drop_column("transactional_emails", "next_attempt")
    op.drop_column("transactional_emails", "dedup_key")
    op.drop_column("transactional_emails", "attempts")
    op.drop_table("platform_audit_logs")
    op.drop_table("feature_flag_overrides")
