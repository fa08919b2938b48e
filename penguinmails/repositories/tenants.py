"""Tenants with their one-to-one configuration and policies."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.tenancy import Tenant, TenantConfig, TenantPolicy


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
