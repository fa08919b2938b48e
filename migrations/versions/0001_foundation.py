"""Foundation: login roles, tenancy tables, API keys and the API-key lookup function.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from migrations.rls import APP_ROLE, SYSTEM_ROLE, create_roles, enable_tenant_rls, grant_roles
from penguinmails.settings import get_settings

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _stamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    settings = get_settings()
    attrs = context.config.attributes
    create_roles(
        attrs.get("app_password", settings.app_database_password.get_secret_value()),
        attrs.get("system_password", settings.system_database_password.get_secret_value()),
    )

    op.create_table(
        "tenants",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("compute_id", UUID(as_uuid=True)),
        *_stamps(),
        _ts("deleted"),
    )
    # A tenant sees its own row only; sign-up inserts through the system role.
    enable_tenant_rls("tenants", column="id")

    op.create_table(
        "users",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("name", sa.Text()),
        sa.Column("family_name", sa.Text()),
        sa.Column("given_name", sa.Text()),
        sa.Column("picture", sa.Text()),
        _ts("email_verified"),
        *_stamps(),
        _ts("deleted"),
    )
    # Sign-up e-mails are globally unique (case-insensitive) among live users.
    op.execute(
        "CREATE UNIQUE INDEX uq_users_email_live ON users (lower(email)) WHERE deleted IS NULL"
    )
    op.execute(
        "CREATE INDEX idx_users_deleted_soft_delete ON users (deleted) WHERE deleted IS NOT NULL"
    )
    # Users are global (one person, several tenants). The app role may read only the users
    # who are members of the current tenant: the subquery on tenant_users is itself under
    # RLS. Writes go through the system role.
    op.execute("ALTER TABLE users ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE users FORCE ROW LEVEL SECURITY")
    op.execute(f"GRANT SELECT ON users TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON users TO {SYSTEM_ROLE}")

    op.create_table(
        "tenant_users",
        sa.Column("tenant_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("user_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("roles", JSONB(), nullable=False, server_default="[]"),
        sa.Column("email", sa.Text()),
        *_stamps(),
        _ts("deleted"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_tenant_users_tenant", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_tenant_users_user", ondelete="CASCADE"
        ),
    )
    op.create_index("idx_tenant_users_user", "tenant_users", ["user_id"])
    enable_tenant_rls("tenant_users")
    # Membership is created by the system role (sign-up, invitations): an app-role INSERT
    # with an arbitrary user id would reveal that user's row through the users policy. The
    # app role may change roles or end a membership, never re-point it at another user.
    op.execute(f"REVOKE INSERT, UPDATE ON tenant_users FROM {APP_ROLE}")
    op.execute(f"GRANT UPDATE (roles, email, updated, deleted) ON tenant_users TO {APP_ROLE}")
    # Created here rather than with `users` because it reads tenant_users.
    op.execute(
        "CREATE POLICY tenant_members ON users FOR SELECT USING "
        "(EXISTS (SELECT 1 FROM tenant_users tu WHERE tu.user_id = users.id))"
    )

    op.create_table(
        "api_keys",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        _ts("last_used"),
        _ts("revoked"),
        *_stamps(),
        sa.UniqueConstraint("tenant_id", "id", name="uq_api_keys_tenant_id_id"),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["tenant_users.tenant_id", "tenant_users.user_id"],
            name="fk_api_keys_tenant_user",
            ondelete="CASCADE",
        ),
    )
    enable_tenant_rls("api_keys")

    op.create_table(
        "companies",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("domain", sa.Text()),
        sa.Column("industry", sa.Text()),
        sa.Column("size", sa.Text()),
        sa.Column("status", sa.Text(), nullable=False, server_default="active"),
        sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false()),
        *_stamps(),
        _ts("deleted"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_companies_tenant_id_id"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_companies_tenant", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "status IN ('active', 'inactive', 'archived')", name="ck_companies_status"
        ),
    )
    op.create_index("idx_companies_domain", "companies", ["domain"])
    # One default workspace per tenant, made by the provisioning workflow (idempotently).
    op.execute(
        "CREATE UNIQUE INDEX uq_companies_tenant_default ON companies (tenant_id) "
        "WHERE is_default AND deleted IS NULL"
    )
    enable_tenant_rls("companies")

    op.create_table(
        "tenant_config",
        sa.Column("tenant_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("stripe_customer_id", sa.Text()),
        sa.Column("billing_email", sa.Text()),
        sa.Column("billing_address", JSONB(), nullable=False, server_default="{}"),
        sa.Column(
            "notify_on_billing_changes", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
        sa.Column(
            "notify_on_system_updates", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
        sa.Column(
            "notify_on_security_alerts", sa.Boolean(), nullable=False, server_default=sa.true()
        ),
        sa.Column("theme_primary_color", sa.Text()),
        sa.Column("theme_logo_url", sa.Text()),
        sa.Column("theme_favicon_url", sa.Text()),
        sa.Column(
            "ui_sidebar_default_collapsed", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
        sa.Column("ui_date_format", sa.Text()),
        sa.Column("ui_timezone", sa.Text(), nullable=False, server_default="UTC"),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_tenant_config_tenant", ondelete="CASCADE"
        ),
    )
    enable_tenant_rls("tenant_config")

    op.create_table(
        "tenant_policies",
        sa.Column("tenant_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("password_min_length", sa.Integer(), nullable=False, server_default="8"),
        sa.Column(
            "password_require_uppercase", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
        sa.Column(
            "password_require_numbers", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
        sa.Column(
            "password_require_symbols", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
        sa.Column("session_timeout_minutes", sa.Integer(), nullable=False, server_default="480"),
        sa.Column("max_login_attempts", sa.Integer(), nullable=False, server_default="5"),
        sa.Column(
            "account_lockout_duration_minutes", sa.Integer(), nullable=False, server_default="30"
        ),
        sa.Column("two_factor_required", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("mfa_type", sa.Text()),
        sa.Column("allow_backup_codes", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column(
            "device_tracking_enabled", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
        sa.Column(
            "geographic_alerts_enabled", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
        sa.Column(
            "suspicious_activity_monitoring",
            sa.Boolean(),
            nullable=False,
            server_default=sa.false(),
        ),
        sa.Column("company_default_status", sa.Text(), nullable=False, server_default="active"),
        sa.Column(
            "company_allow_member_invites", sa.Boolean(), nullable=False, server_default=sa.true()
        ),
        sa.Column(
            "company_auto_approve_members", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
        sa.Column(
            "company_require_email_verification",
            sa.Boolean(),
            nullable=False,
            server_default=sa.true(),
        ),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_tenant_policies_tenant", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "mfa_type IS NULL OR mfa_type IN ('totp', 'sms', 'email')",
            name="ck_tenant_policies_mfa_type",
        ),
    )
    enable_tenant_rls("tenant_policies")

    op.create_table(
        "user_preferences",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("theme", sa.Text(), nullable=False, server_default="light"),
        sa.Column("language", sa.Text(), nullable=False, server_default="en"),
        sa.Column("timezone", sa.Text(), nullable=False, server_default="UTC"),
        sa.Column("email_notifications", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("push_notifications", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("weekly_reports", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("marketing_emails", sa.Boolean(), nullable=False, server_default=sa.false()),
        *_stamps(),
        sa.UniqueConstraint("user_id", name="uq_user_preferences_user"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_preferences_user", ondelete="CASCADE"
        ),
    )
    grant_roles("user_preferences")

    # The one thing the API must read before it knows the tenant: the key behind a prefix.
    # SECURITY DEFINER (owned by the migrating admin) so the app role needs no policy hole;
    # it returns the hash for a constant-time comparison in Python, never a list.
    op.execute(
        """
        CREATE FUNCTION auth_api_key(p_prefix text)
        RETURNS TABLE (api_key_id uuid, tenant_id uuid, user_id uuid, key_hash text, roles jsonb)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT k.id, k.tenant_id, k.user_id, k.key_hash, tu.roles
            FROM api_keys k
            JOIN tenant_users tu ON tu.tenant_id = k.tenant_id AND tu.user_id = k.user_id
            JOIN tenants t ON t.id = k.tenant_id
            WHERE k.prefix = p_prefix AND k.revoked IS NULL
              AND tu.deleted IS NULL AND t.deleted IS NULL
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION auth_api_key(text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION auth_api_key(text) TO {APP_ROLE}, {SYSTEM_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS auth_api_key(text)")
    # The users policy reads tenant_users: it goes first, or that table cannot be dropped.
    op.execute("DROP POLICY IF EXISTS tenant_members ON users")
    for table in (
        "user_preferences",
        "tenant_policies",
        "tenant_config",
        "companies",
        "api_keys",
        "tenant_users",
        "users",
        "tenants",
    ):
        op.drop_table(table)
    # Roles are cluster-wide and may serve other databases: never dropped here.
