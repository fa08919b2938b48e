"""Dedicated and shared IPs: the platform's shared pool.

- `smtp_ip_addresses.pool`: `dedicated` (the default: the IP sends only for the tenant that
  owns it) or `shared` (an IP of the platform's own servers, owned by the platform's tenant,
  that any tenant's domain may be assigned to). A shared IP keeps every column, workflow and
  job of an IP (VPS lifecycle, PTR, warmup, reputation) under its owner.
- `domain_ip_assignments.shared_ip_address_id`: a tenant's assignment to a shared IP. The
  assignment row stays the tenant's (RLS), so a tenant sees its own domains on a shared IP
  and nobody else's; exactly one of `smtp_ip_address_id` (own IP, composite key) and
  `shared_ip_address_id` (plain key, guarded by a trigger: it must name a shared IP) is set.
- `shared_ips()`: what a tenant may know of the pool (address, status, HELO name, server),
  never which tenants or domains use an IP; `pick_shared_ip(exclude)`: the least used
  sendable shared IP. Both SECURITY DEFINER: no policy is loosened.
- Permission `ip_pool.write` (super_admin only): staff move an IP of the platform's tenant
  into the shared pool or out of it.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from migrations.rls import APP_ROLE, SYSTEM_ROLE

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


PERMISSION = "ip_pool.write"


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "INSERT INTO permissions (name, category, description) VALUES (:n, 'platform', "
            "'move IPs into the shared pool or out of it') ON CONFLICT (name) DO NOTHING"
        ),
        {"n": PERMISSION},
    )
    bind.execute(
        sa.text(
            "INSERT INTO staff_role_permissions (role_id, permission_id) "
            "SELECT r.id, p.id FROM staff_roles r, permissions p "
            "WHERE r.name = 'super_admin' AND p.name = :n ON CONFLICT DO NOTHING"
        ),
        {"n": PERMISSION},
    )

    op.add_column(
        "smtp_ip_addresses",
        sa.Column("pool", sa.Text(), nullable=False, server_default="dedicated"),
    )
    op.create_check_constraint(
        "ck_smtp_ip_addresses_pool", "smtp_ip_addresses", "pool IN ('dedicated', 'shared')"
    )
    op.execute(
        "CREATE INDEX idx_smtp_ip_addresses_shared ON smtp_ip_addresses (id) "
        "WHERE pool = 'shared' AND status <> 'released'"
    )

    op.alter_column("domain_ip_assignments", "smtp_ip_address_id", nullable=True)
    op.add_column(
        "domain_ip_assignments",
        sa.Column("shared_ip_address_id", UUID(as_uuid=True), nullable=True),
    )
    op.create_foreign_key(
        "fk_domain_ip_assignments_shared_ip_address",
        "domain_ip_assignments",
        "smtp_ip_addresses",
        ["shared_ip_address_id"],
        ["id"],
    )
    op.create_check_constraint(
        "ck_domain_ip_assignments_ip",
        "domain_ip_assignments",
        "num_nonnulls(smtp_ip_address_id, shared_ip_address_id) = 1",
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_domain_ip_assignments_domain_shared_ip_live "
        "ON domain_ip_assignments (tenant_id, domain_id, shared_ip_address_id) "
        "WHERE shared_ip_address_id IS NOT NULL AND status <> 'expired'"
    )
    # The platform's jobs (rotation off a quarantined shared IP) find assignments by IP.
    op.execute(
        "CREATE INDEX idx_domain_ip_assignments_shared_ip_address_id "
        "ON domain_ip_assignments (shared_ip_address_id) WHERE shared_ip_address_id IS NOT NULL"
    )

    # A plain foreign key ignores RLS: without this guard a tenant could point an
    # assignment at another tenant's dedicated IP. SECURITY DEFINER: the caller cannot see
    # the platform's row it checks.
    op.execute(
        """
        CREATE FUNCTION domain_ip_assignments_shared_guard() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
            IF NEW.shared_ip_address_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM smtp_ip_addresses
                WHERE id = NEW.shared_ip_address_id AND pool = 'shared'
            ) THEN
                RAISE EXCEPTION 'not a shared IP' USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER trg_domain_ip_assignments_shared_guard "
        "BEFORE INSERT OR UPDATE OF shared_ip_address_id ON domain_ip_assignments "
        "FOR EACH ROW EXECUTE FUNCTION domain_ip_assignments_shared_guard()"
    )
    op.execute("REVOKE ALL ON FUNCTION domain_ip_assignments_shared_guard() FROM PUBLIC")

    op.execute(
        """
        CREATE FUNCTION shared_ips()
        RETURNS TABLE (id uuid, ip_address inet, status text, helo_name text,
                       vps_instance_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT id, ip_address, status, coalesce(helo_name, ptr_name), vps_instance_id
            FROM smtp_ip_addresses WHERE pool = 'shared'
        $$
        """
    )
    # The least used sendable shared IP (live assignments of every tenant counted, none
    # named), not one of `p_exclude`; NULL when the pool has none.
    op.execute(
        """
        CREATE FUNCTION pick_shared_ip(p_exclude uuid[])
        RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT ip.id FROM smtp_ip_addresses ip
            WHERE ip.pool = 'shared' AND ip.status IN ('available', 'assigned', 'warming', 'warmed')
              AND ip.id <> ALL(coalesce(p_exclude, '{}'))
            ORDER BY (SELECT count(*) FROM domain_ip_assignments a
                      WHERE a.shared_ip_address_id = ip.id
                        AND a.status IN ('scheduled', 'warming', 'active')),
                     ip.created, ip.id
            LIMIT 1
        $$
        """
    )
    for function in ("shared_ips()", "pick_shared_ip(uuid[])"):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {APP_ROLE}, {SYSTEM_ROLE}")


def downgrade() -> None:
    # The role grants go with the permission (their key cascades, as in 0015).
    op.get_bind().execute(sa.text("DELETE FROM permissions WHERE name = :n"), {"n": PERMISSION})
    op.execute("DROP FUNCTION IF EXISTS pick_shared_ip(uuid[])")
    op.execute("DROP FUNCTION IF EXISTS shared_ips()")
    op.execute(
        "DROP TRIGGER IF EXISTS trg_domain_ip_assignments_shared_guard ON domain_ip_assignments"
    )
    op.execute("DROP FUNCTION IF EXISTS domain_ip_assignments_shared_guard()")
    # Assignments to shared IPs cannot be expressed without the column: they go with it.
    op.execute("DELETE FROM domain_ip_assignments WHERE shared_ip_address_id IS NOT NULL")
    op.execute("DROP INDEX IF EXISTS idx_domain_ip_assignments_shared_ip_address_id")
    op.execute("DROP INDEX IF EXISTS uq_domain_ip_assignments_domain_shared_ip_live")
    op.drop_constraint("ck_domain_ip_assignments_ip", "domain_ip_assignments", type_="check")
    op.drop_constraint(
        "fk_domain_ip_assignments_shared_ip_address", "domain_ip_assignments", type_="foreignkey"
    )
    op.drop_column("domain_ip_assignments", "shared_ip_address_id")
    op.alter_column("domain_ip_assignments", "smtp_ip_address_id", nullable=False)
    op.execute("DROP INDEX IF EXISTS idx_smtp_ip_addresses_shared")
    op.drop_constraint("ck_smtp_ip_addresses_pool", "smtp_ip_addresses", type_="check")
    op.drop_column("smtp_ip_addresses", "pool")
