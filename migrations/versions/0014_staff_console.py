"""The staff console: tenant suspension, account credits and the permissions of the new
staff routes.

- `tenants.suspended` (when, NULL: not suspended) and `suspended_reason`. `auth_api_key`
  returns `suspended` too, so the key lookup the API already makes refuses a suspended
  tenant's keys without another round trip.
- `account_credits`: a credit a staff member granted a tenant (amount in cents, reason,
  who). Local only: the development Stripe server has no customer balance transactions.
- `idx_inbox_message_refs_failures`: the tenant's failed and unknown sends by time, partial
  (failures are few), so the staff overview's recent failures never scan the outbox.
- Permissions `billing.credit`, `billing.trial`, `notifications.read`,
  `notifications.write`, granted as the staff console needs them (`super_admin` holds all).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from migrations.rls import APP_ROLE, SYSTEM_ROLE, enable_tenant_rls

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERMISSIONS = {
    "billing.credit": ("billing", "credit a tenant's account"),
    "billing.trial": ("billing", "extend a tenant's trial"),
    "notifications.read": ("support", "read the system notifications"),
    "notifications.write": ("support", "resolve system notifications"),
}
GRANTS = {
    "super_admin": tuple(PERMISSIONS),
    "support": ("notifications.read", "notifications.write"),
    "billing": ("billing.credit", "billing.trial", "notifications.read"),
    "read_only": ("notifications.read",),
}

_AUTH_BODY = """
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT k.id, k.tenant_id, k.user_id, k.key_hash, tu.roles{extra}
            FROM api_keys k
            JOIN tenant_users tu ON tu.tenant_id = k.tenant_id AND tu.user_id = k.user_id
            JOIN tenants t ON t.id = k.tenant_id
            WHERE k.prefix = p_prefix AND k.revoked IS NULL
              AND tu.deleted IS NULL AND t.deleted IS NULL
        $$
"""
_AUTH_RETURNS = "api_key_id uuid, tenant_id uuid, user_id uuid, key_hash text, roles jsonb"


def _auth_function(with_suspended: bool) -> None:
    # The return type changes: CREATE OR REPLACE cannot do that, so drop and create.
    op.execute("DROP FUNCTION IF EXISTS auth_api_key(text)")
    returns = _AUTH_RETURNS + (", suspended boolean" if with_suspended else "")
    extra = ", t.suspended IS NOT NULL" if with_suspended else ""
    op.execute(
        f"CREATE FUNCTION auth_api_key(p_prefix text) RETURNS TABLE ({returns})"
        + _AUTH_BODY.format(extra=extra)
    )
    op.execute("REVOKE ALL ON FUNCTION auth_api_key(text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION auth_api_key(text) TO {APP_ROLE}, {SYSTEM_ROLE}")


def upgrade() -> None:
    op.add_column("tenants", sa.Column("suspended", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tenants", sa.Column("suspended_reason", sa.Text(), nullable=True))
    _auth_function(with_suspended=True)

    op.create_table(
        "account_credits",
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False, server_default="USD"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("staff_user_id", UUID(as_uuid=True), nullable=True),
        sa.Column(
            "created", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("tenant_id", "id", name="uq_account_credits_tenant_id_id"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_account_credits_tenant", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["users.id"],
            name="fk_account_credits_staff_user",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("amount_cents > 0", name="ck_account_credits_amount_cents"),
    )
    enable_tenant_rls("account_credits")
    op.execute(
        "CREATE INDEX idx_inbox_message_refs_failures ON inbox_message_refs (tenant_id, updated) "
        "WHERE direction = 'outbound' AND status IN ('failed', 'unknown')"
    )

    bind = op.get_bind()
    for name, (category, description) in PERMISSIONS.items():
        bind.execute(
            sa.text(
                "INSERT INTO permissions (name, category, description) VALUES (:n, :c, :d) "
                "ON CONFLICT (name) DO NOTHING"
            ),
            {"n": name, "c": category, "d": description},
        )
    for role, granted in GRANTS.items():
        for permission in granted:
            bind.execute(
                sa.text(
                    "INSERT INTO staff_role_permissions (role_id, permission_id) "
                    "SELECT r.id, p.id FROM staff_roles r, permissions p "
                    "WHERE r.name = :r AND p.name = :p ON CONFLICT DO NOTHING"
                ),
                {"r": role, "p": permission},
            )


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(
        sa.text("DELETE FROM permissions WHERE name = ANY(:names)"),
        {"names": list(PERMISSIONS)},
    )
    op.execute("DROP INDEX IF EXISTS idx_inbox_message_refs_failures")
    op.drop_table("account_credits")
    _auth_function(with_suspended=False)
    op.drop_column("tenants", "suspended_reason")
    op.drop_column("tenants", "suspended")
