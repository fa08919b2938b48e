"""The platform's shared IP pool, changed by staff: an IP of the platform's own tenant moves
into the pool (any tenant's domain may then be assigned to it) or out of it, with its audit
row (in the owner's trail) in the same transaction."""

from __future__ import annotations

from uuid import UUID

from penguinmails.db import Database
from penguinmails.repositories.ip_addresses import PoolChange, set_pool
from penguinmails.repositories.platform_audit import PlatformAuditRepository
from usecases.platform import Actor


async def set_ip_pool(db: Database, actor: Actor, ip_id: UUID, pool: str) -> PoolChange:
    """Raises IpNotFound, or PoolInUse when a shared IP that other tenants' domains still
    use would become dedicated."""
    async with db.admin_session() as session:
        change = await set_pool(session, ip_id, pool)
        if change.before != change.pool:
            await PlatformAuditRepository(session).record(
                actor.type,
                actor.id,
                "ip_address.pool_set",
                "smtp_ip_address",
                str(ip_id),
                {"pool": pool, "before": change.before, "ip_address": change.ip_address},
                tenant_id=change.tenant_id,
            )
    return change
