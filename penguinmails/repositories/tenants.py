"""Tenants with their one-to-one configuration and policies."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.tenancy import Tenant, TenantConfig, TenantPolicy


@dataclass(frozen=True)
class TenantMatch:
    id: UUID
    name: str
    created: dt.datetime
    suspended: dt.datetime | None
    owner_emails: list[str]
    domains: list[str]


def _like(q: str) -> str:
    """`q` as a case-insensitive substring pattern, its own wildcards taken literally."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Staff search (system role, every tenant): by id, name, an owner's e-mail or a domain.
_SEARCH = """
WITH hits AS (
  SELECT id FROM tenants WHERE id = CAST(:id AS uuid)
  UNION SELECT id FROM tenants WHERE name ILIKE :like
  UNION SELECT tu.tenant_id FROM tenant_users tu JOIN users u ON u.id = tu.user_id
        WHERE tu.deleted IS NULL AND tu.roles @> '["owner"]'::jsonb
          AND (u.email ILIKE :like OR tu.email ILIKE :like)
  UNION SELECT tenant_id FROM domains WHERE deleted IS NULL AND domain ILIKE :like
)
SELECT t.id, t.name, t.created, t.suspended,
       ARRAY(SELECT DISTINCT u.email FROM tenant_users tu JOIN users u ON u.id = tu.user_id
             WHERE tu.tenant_id = t.id AND tu.deleted IS NULL
               AND tu.roles @> '["owner"]'::jsonb ORDER BY u.email) AS owner_emails,
       ARRAY(SELECT d.domain FROM domains d WHERE d.tenant_id = t.id AND d.deleted IS NULL
             ORDER BY d.domain LIMIT 20) AS domains
FROM tenants t JOIN hits h ON h.id = t.id
WHERE t.deleted IS NULL
ORDER BY t.name, t.id
LIMIT :limit
"""


class TenantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, name: str) -> Tenant:
        tenant = Tenant(name=name)
        self.session.add(tenant)
        await self.session.flush()
        return tenant

    async def get(self, tenant_id: UUID) -> Tenant | None:
        result = await self.session.exec(
            select(Tenant).where(Tenant.id == tenant_id, Tenant.deleted.is_(None))  # type: ignore[union-attr]
        )
        return result.first()

    async def search(self, q: str, limit: int = 50) -> list[TenantMatch]:
        """System role: tenants whose id is `q`, or whose name, an owner's e-mail or a
        domain contains it (case-insensitive)."""
        try:
            as_id: str | None = str(UUID(q.strip()))
        except ValueError:
            as_id = None
        rows = await self.session.execute(
            text(_SEARCH), {"id": as_id, "like": _like(q.strip()), "limit": limit}
        )
        return [
            TenantMatch(r.id, r.name, r.created, r.suspended, list(r.owner_emails), list(r.domains))
            for r in rows
        ]

    async def set_suspended(self, tenant_id: UUID, reason: str | None) -> bool | None:
        """Suspend (`reason` given) or lift the suspension (None). True when this call
        changed the tenant, False when it already was so (the reason of a repeated suspend
        is kept), None when there is no such tenant. The row lock orders concurrent calls."""
        before = (
            await self.session.execute(
                text(
                    "SELECT suspended IS NOT NULL AS was FROM tenants "
                    "WHERE id = :t AND deleted IS NULL FOR UPDATE"
                ),
                {"t": tenant_id},
            )
        ).first()
        if before is None:
            return None
        if bool(before.was) == (reason is not None):
            return False
        await self.session.execute(
            text(
                "UPDATE tenants SET suspended = CASE WHEN CAST(:r AS text) IS NULL THEN NULL "
                "ELSE now() END, suspended_reason = :r, updated = now() WHERE id = :t"
            ),
            {"t": tenant_id, "r": reason},
        )
        return True

    async def ensure_config(self, tenant_id: UUID, billing_email: str | None) -> bool:
        """Insert the default configuration once; True when this call created it."""
        row = await self.session.execute(
            text(
                "INSERT INTO tenant_config (tenant_id, billing_email) VALUES (:t, :e) "
                "ON CONFLICT (tenant_id) DO NOTHING RETURNING tenant_id"
            ),
            {"t": tenant_id, "e": billing_email},
        )
        return row.first() is not None

    async def ensure_policies(self, tenant_id: UUID) -> bool:
        row = await self.session.execute(
            text(
                "INSERT INTO tenant_policies (tenant_id) VALUES (:t) "
                "ON CONFLICT (tenant_id) DO NOTHING RETURNING tenant_id"
            ),
            {"t": tenant_id},
        )
        return row.first() is not None

    async def get_config(self, tenant_id: UUID) -> TenantConfig | None:
        return await self.session.get(TenantConfig, tenant_id)

    async def get_policies(self, tenant_id: UUID) -> TenantPolicy | None:
        return await self.session.get(TenantPolicy, tenant_id)
