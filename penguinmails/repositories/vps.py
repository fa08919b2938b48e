"""VPS instances of a tenant: their lifecycle columns (provider id, status, billing period,
decommission date, last error) and the monthly cost summed over the live ones."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.base import utcnow
from penguinmails.models.infra import VpsInstance
from penguinmails.repositories.pagination import Cursor, after

LIVE_STATUSES = ("provisioning", "active", "scheduled_decommission")


class VpsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, tenant_id: UUID, provider: str, region: str) -> VpsInstance:
        vps = VpsInstance(tenant_id=tenant_id, provider=provider, region=region)
        self.session.add(vps)
        await self.session.flush()
        return vps

    async def get(self, vps_id: UUID, *, for_update: bool = False) -> VpsInstance | None:
        stmt = select(VpsInstance).where(VpsInstance.id == vps_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt)).first()

    async def page(self, cursor: Cursor | None, limit: int) -> list[VpsInstance]:
        """A page (limit + 1 rows: the extra one says a next page exists)."""
        return list(await self.session.exec(after(select(VpsInstance), VpsInstance, cursor, limit)))

    async def save(self, vps: VpsInstance, **changes: Any) -> VpsInstance:
        for name, value in changes.items():
            setattr(vps, name, value)
        vps.updated = utcnow()
        self.session.add(vps)
        await self.session.flush()
        return vps

    async def set_period(self, vps: VpsInstance, start: datetime, end: datetime) -> VpsInstance:
        return await self.save(
            vps, current_billing_period_start=start, current_billing_period_end=end
        )

    async def monthly_cost(self) -> tuple[Decimal, int]:
        """The tenant's monthly cost of its live servers, and how many there are."""
        row = (
            await self.session.execute(
                text(
                    "SELECT coalesce(sum(monthly_cost), 0) AS total, count(*) AS servers "
                    "FROM vps_instances WHERE status = ANY(:live)"
                ),
                {"live": list(LIVE_STATUSES)},
            )
        ).one()
        return Decimal(row.total), int(row.servers)


async def live_local_servers(session: AsyncSession) -> list[UUID]:
    """Ids of the `local` provider's servers that hold IPs (active, or active until their
    scheduled decommission), across tenants: for the dev stack, which runs each one's
    sending worker on this machine, through `admin_session()`."""
    rows = await session.execute(
        text(
            "SELECT id FROM vps_instances WHERE provider = 'local' "
            "AND status IN ('active', 'scheduled_decommission') ORDER BY created, id"
        )
    )
    return [r[0] for r in rows]


__all__ = ["LIVE_STATUSES", "VpsRepository", "live_local_servers"]
