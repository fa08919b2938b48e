"""The warmup pool: mailbox warmups that opt in exchange warmup messages with each other.

- `warmups.pool`: the warmup takes part in the platform-wide pool (opt-in, off by default).
- `warmup_pool_partners(p_mailbox, p_limit)`: the pool is the one place where a tenant's
  code learns of another tenant's mailbox, so it is a SECURITY DEFINER function that answers
  only addresses (never content, names or settings), only to a caller whose own mailbox is
  in the pool under the tenant of its transaction, and never a partner of the caller's own
  domain.

Revision ID: 0018
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.rls import APP_ROLE, SYSTEM_ROLE

revision: str = "0018"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "warmups", sa.Column("pool", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.execute(
        "CREATE INDEX idx_warmups_pool ON warmups (email_account_id) "
        "WHERE pool AND status = 'active' AND email_account_id IS NOT NULL"
    )
    op.execute(
        """
        CREATE FUNCTION warmup_pool_partners(p_mailbox uuid, p_limit int)
        RETURNS TABLE (tenant_id uuid, email_account_id uuid, email text)
        LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            WITH me AS (
                SELECT a.id, a.tenant_id, lower(split_part(a.email, '@', 2)) AS domain
                FROM email_accounts a
                JOIN warmups w ON w.tenant_id = a.tenant_id AND w.email_account_id = a.id
                WHERE a.id = p_mailbox AND a.tenant_id = NULLIF(current_setting('app.current_tenant_id', true), '')::uuid
                  AND w.pool AND w.status = 'active' AND a.deleted IS NULL
                LIMIT 1
            )
            SELECT a.tenant_id, a.id, a.email
            FROM warmups w
            JOIN email_accounts a ON a.tenant_id = w.tenant_id AND a.id = w.email_account_id
            JOIN me ON true
            WHERE w.pool AND w.status = 'active' AND a.status = 'active'
              AND a.deleted IS NULL AND a.id <> me.id
              AND lower(split_part(a.email, '@', 2)) <> me.domain
            ORDER BY random()
            LIMIT greatest(0, least(p_limit, 500))
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION warmup_pool_partners(uuid, int) FROM PUBLIC")
    op.execute(
        f"GRANT EXECUTE ON FUNCTION warmup_pool_partners(uuid, int) TO {APP_ROLE}, {SYSTEM_ROLE}"
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS warmup_pool_partners(uuid, int)")
    op.execute("DROP INDEX IF EXISTS idx_warmups_pool")
    op.drop_column("warmups", "pool")
