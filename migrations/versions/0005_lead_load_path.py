"""The bulk lead load path: fewer index entries and foreign-key checks per imported row.

- `lead_list_members` is a join table: its key is the natural `(tenant_id, lead_list_id,
  lead_id)`. The surrogate `id`, its primary key and `UNIQUE (tenant_id, id)` go (nothing
  references a membership), and so does its own foreign key to `tenants`: both composite
  keys (to `lead_lists` and `leads`) already tie a row to its tenant and cascade from it.
  Per imported row that is two index entries and one foreign-key check fewer.
- `leads.email_key`, `lower(email)` stored in the C collation, replaces the expression in
  the live-address unique index. Under row-level security the planner may use a condition
  as an index condition only when its functions are leakproof, and `lower()` is not: a
  lookup by `lower(email)` scanned every lead of the table. A plain column compares with a
  leakproof `=`, so a lookup is one index probe.
- `idx_leads_status_filter` covers only the statuses other than `active`: an import writes
  `active` leads and no longer touches it; a filter on `active` reads the page index.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE lead_list_members "
        "DROP CONSTRAINT fk_lead_list_members_tenant, "
        "DROP CONSTRAINT uq_lead_list_members_tenant_id_id, "
        "DROP CONSTRAINT lead_list_members_pkey, "
        "DROP CONSTRAINT uq_lead_list_members_list_lead, "
        "DROP COLUMN id, "
        "ADD CONSTRAINT lead_list_members_pkey PRIMARY KEY (tenant_id, lead_list_id, lead_id)"
    )
    op.execute(
        'ALTER TABLE leads ADD COLUMN email_key text COLLATE "C" '
        "GENERATED ALWAYS AS (lower(email)) STORED NOT NULL"
    )
    op.execute("DROP INDEX uq_leads_email_live")
    op.execute(
        "CREATE UNIQUE INDEX uq_leads_email_live ON leads (tenant_id, email_key) "
        "WHERE deleted IS NULL"
    )
    op.execute("DROP INDEX idx_leads_status_filter")
    op.execute(
        "CREATE INDEX idx_leads_status_filter ON leads (tenant_id, status) WHERE status <> 'active'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX idx_leads_status_filter")
    op.execute("CREATE INDEX idx_leads_status_filter ON leads (tenant_id, status)")
    op.execute("DROP INDEX uq_leads_email_live")
    op.execute("ALTER TABLE leads DROP COLUMN email_key")
    op.execute(
        "CREATE UNIQUE INDEX uq_leads_email_live ON leads (tenant_id, lower(email)) "
        "WHERE deleted IS NULL"
    )
    op.execute(
        "ALTER TABLE lead_list_members "
        "DROP CONSTRAINT lead_list_members_pkey, "
        "ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid(), "
        "ADD CONSTRAINT lead_list_members_pkey PRIMARY KEY (id), "
        "ADD CONSTRAINT uq_lead_list_members_tenant_id_id UNIQUE (tenant_id, id), "
        "ADD CONSTRAINT uq_lead_list_members_list_lead UNIQUE (tenant_id, lead_list_id, lead_id), "
        "ADD CONSTRAINT fk_lead_list_members_tenant FOREIGN KEY (tenant_id) "
        "REFERENCES tenants (id) ON DELETE CASCADE"
    )
