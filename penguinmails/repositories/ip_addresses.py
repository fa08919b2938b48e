"""Sending IPs (`smtp_ip_addresses`) and the domains they send for
(`domain_ip_assignments`): registering a server's IPs, moving domains off them, releasing
them.

An address is live in one tenant at a time: the unique index on live addresses spans
tenants, so registering an address another tenant still holds inserts nothing
(`AddressTaken`), without this tenant ever seeing the other's row.

Dedicated and shared IPs (migration 0019): a tenant's domain sends from one of the tenant's
own IPs (`smtp_ip_address_id`) or from an IP of the platform's shared pool
(`shared_ip_address_id`, a row of the platform's tenant with `pool = 'shared'`). The
assignment is always the tenant's row; what the tenant learns of a shared IP comes through
`shared_ips()` (address, status, HELO name, server), never who else uses it. The platform's
jobs that act on every tenant of a shared IP (rotation off a quarantined one) run in the
system role's session (`move_shared_domains_off`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.infra import SmtpIpAddress
from penguinmails.repositories.pagination import Cursor, after

# The statuses an IP may take domains in (a quarantined, burned or released one may not).
SENDABLE = ("available", "assigned", "warming", "warmed")

# Every IP an assignment of the session's tenant may name, as one relation: its own
# dedicated rows (RLS) and the platform's shared pool (through the SECURITY DEFINER
# `shared_ips()`). Join it with `ON ip.id = ASSIGNED_IP` (the assignment aliased `a`).
TENANT_IPS = (
    "(SELECT id, ip_address, status, coalesce(helo_name, ptr_name) AS helo_name, "
    "vps_instance_id FROM smtp_ip_addresses WHERE pool = 'dedicated' "
    "UNION ALL SELECT id, ip_address, status, helo_name, vps_instance_id FROM shared_ips())"
)
ASSIGNED_IP = "coalesce(a.smtp_ip_address_id, a.shared_ip_address_id)"

# The live assignment a domain sends from: to an IP that may send, `active` before `warming`
# before `scheduled`, then the oldest.
_SENDING_IP = f"""
SELECT a.domain_id, a.status, host(ip.ip_address) AS ip, ip.helo_name AS helo,
       ip.vps_instance_id AS vps,
       CASE WHEN a.shared_ip_address_id IS NULL THEN 'dedicated' ELSE 'shared' END AS pool
FROM domain_ip_assignments a JOIN {TENANT_IPS} ip ON ip.id = {ASSIGNED_IP}
WHERE a.domain_id = :domain AND a.status IN ('scheduled', 'warming', 'active')
  AND ip.status NOT IN ('quarantined', 'burned', 'released')
ORDER BY array_position(ARRAY['active', 'warming', 'scheduled'], a.status),
         a.assigned_at NULLS LAST, a.created, a.id
LIMIT 1
"""  # noqa: S608 — module constants only


class AddressTaken(Exception):
    """The address is live elsewhere (another server, maybe another tenant)."""


class NoUsableIp(Exception):
    """No IP can take the domain (the shared pool has no sendable IP, or the tenant has no
    such sendable IP of its own)."""


@dataclass(frozen=True)
class Assignment:
    """A domain's live assignment, as its tenant sees it."""

    domain_id: UUID
    pool: str  # dedicated | shared
    ip_address: str
    status: str


@dataclass(frozen=True)
class SharedMove:
    """A domain of some tenant moved off a shared IP (a platform job's record)."""

    tenant_id: UUID
    domain: str
    from_ip: str
    to_ip: str | None


@dataclass(frozen=True)
class Move:
    domain: str
    from_ip: str
    to_ip: str | None  # None: no other IP could take it


@dataclass(frozen=True)
class SendingIp:
    """The platform IP a domain's mail leaves from, the name it greets with, and the server
    that holds it (whose sending worker alone can bind the address)."""

    ip_address: str
    helo_name: str | None
    vps_id: UUID


class IpAddressRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def register(
        self, tenant_id: UUID, vps_id: UUID, ip: str, ptr_name: str
    ) -> SmtpIpAddress:
        """The server's address as `available` with its PTR and HELO name; idempotent (an
        address this server registered already is returned as it is)."""
        await self.session.execute(
            text(
                "INSERT INTO smtp_ip_addresses "
                "(tenant_id, vps_instance_id, ip_address, status, ptr_name, helo_name) "
                "VALUES (:tenant, :vps, CAST(:ip AS inet), 'available', :ptr, :ptr) "
                "ON CONFLICT (ip_address) WHERE status <> 'released' DO NOTHING"
            ),
            {"tenant": tenant_id, "vps": vps_id, "ip": ip, "ptr": ptr_name},
        )
        found = (
            await self.session.exec(
                select(SmtpIpAddress).where(
                    SmtpIpAddress.vps_instance_id == vps_id,
                    text("host(ip_address) = :ip AND status <> 'released'").bindparams(ip=ip),
                )
            )
        ).first()
        if found is None:
            raise AddressTaken(ip)
        return found

    async def sending_ip(self, domain_id: UUID) -> SendingIp | None:
        """The IP the domain sends from: among its live assignments to an IP that may send
        (not quarantined, burned or released: the capacity function gives such a domain's
        mailboxes nothing), an `active` assignment before a `warming` one before a
        `scheduled` one, then the oldest; a dedicated or a shared IP alike. None: the domain
        has no platform IP (its mailboxes send through their own provider's servers from
        wherever the worker runs)."""
        row = (await self.session.execute(text(_SENDING_IP), {"domain": domain_id})).first()
        if row is None:
            return None
        return SendingIp(str(row.ip), row.helo, row.vps)

    async def of_vps(self, vps_id: UUID) -> list[SmtpIpAddress]:
        rows = await self.session.exec(
            select(SmtpIpAddress)
            .where(SmtpIpAddress.vps_instance_id == vps_id)
            .order_by(SmtpIpAddress.created, SmtpIpAddress.id)  # type: ignore[arg-type]
        )
        return list(rows)

    async def get(self, ip_id: UUID) -> SmtpIpAddress | None:
        return (
            await self.session.exec(select(SmtpIpAddress).where(SmtpIpAddress.id == ip_id))
        ).first()

    async def page(self, cursor: Cursor | None, limit: int) -> list[SmtpIpAddress]:
        """A page (limit + 1 rows: the extra one says a next page exists)."""
        stmt = after(select(SmtpIpAddress), SmtpIpAddress, cursor, limit)
        return list(await self.session.exec(stmt))

    async def domains_on_vps(self, vps_id: UUID) -> list[str]:
        """Names of the domains with a live assignment on the server's IPs."""
        rows = await self.session.execute(
            text(
                "SELECT DISTINCT d.domain FROM domain_ip_assignments a "
                "JOIN smtp_ip_addresses ip "
                "  ON ip.tenant_id = a.tenant_id AND ip.id = a.smtp_ip_address_id "
                "JOIN domains d ON d.tenant_id = a.tenant_id AND d.id = a.domain_id "
                "WHERE ip.vps_instance_id = :vps "
                "  AND a.status IN ('scheduled', 'warming', 'active') ORDER BY 1"
            ),
            {"vps": vps_id},
        )
        return [str(r[0]) for r in rows]

    async def spare_ip_exists(self, vps_id: UUID) -> bool:
        """Whether the tenant has a sendable IP on another server to move domains to."""
        row = await self.session.execute(
            text(
                "SELECT 1 FROM smtp_ip_addresses "
                "WHERE vps_instance_id <> :vps AND status = ANY(:ok) LIMIT 1"
            ),
            {"vps": vps_id, "ok": list(SENDABLE)},
        )
        return row.first() is not None

    async def move_domains_off(self, ip_ids: Sequence[UUID]) -> list[Move]:
        """Every live assignment on `ip_ids` expires; its domain gets one on the tenant's
        least used sendable IP elsewhere (when there is one, and it has none there yet)."""
        rows = await self.session.execute(
            text(
                "UPDATE domain_ip_assignments a SET status = 'expired', expires_at = now(), "
                "updated = now() FROM smtp_ip_addresses ip, domains d "
                "WHERE ip.tenant_id = a.tenant_id AND ip.id = a.smtp_ip_address_id "
                "  AND d.tenant_id = a.tenant_id AND d.id = a.domain_id "
                "  AND a.smtp_ip_address_id = ANY(:ips) "
                "  AND a.status IN ('scheduled', 'warming', 'active') "
                "RETURNING a.domain_id, d.domain, host(ip.ip_address) AS ip"
            ),
            {"ips": list(ip_ids)},
        )
        moves = []
        for row in rows.all():
            target = (
                await self.session.execute(
                    text(
                        "SELECT id, host(ip_address) AS ip FROM smtp_ip_addresses "
                        "WHERE id <> ALL(:ips) AND status = ANY(:ok) "
                        "ORDER BY assigned_count, created, id LIMIT 1"
                    ),
                    {"ips": list(ip_ids), "ok": list(SENDABLE)},
                )
            ).first()
            if target is not None:
                await self.session.execute(
                    text(
                        "INSERT INTO domain_ip_assignments "
                        "(tenant_id, domain_id, smtp_ip_address_id, status, assigned_at) "
                        "SELECT tenant_id, :domain, id, 'active', now() "
                        "FROM smtp_ip_addresses WHERE id = :ip "
                        "ON CONFLICT (tenant_id, domain_id, smtp_ip_address_id) "
                        "WHERE status <> 'expired' DO NOTHING"
                    ),
                    {"domain": row.domain_id, "ip": target.id},
                )
                await self.session.execute(
                    text(
                        "UPDATE smtp_ip_addresses SET assigned_count = assigned_count + 1, "
                        "status = CASE WHEN status = 'available' THEN 'assigned' ELSE status END, "
                        "updated = now() WHERE id = :ip"
                    ),
                    {"ip": target.id},
                )
            moves.append(Move(row.domain, row.ip, None if target is None else target.ip))
        return moves

    async def assignment(self, domain_id: UUID) -> Assignment | None:
        """The domain's live assignment it sends from (`sending_ip`'s choice), as its tenant
        sees it."""
        row = (await self.session.execute(text(_SENDING_IP), {"domain": domain_id})).first()
        if row is None:
            return None
        return Assignment(row.domain_id, row.pool, str(row.ip), row.status)

    async def assign_shared(self, domain_id: UUID) -> Assignment:
        """The domain on the least used sendable IP of the platform's shared pool, `active`
        at once (a shared IP is warmed by the platform before it joins the pool). Idempotent:
        a domain already on a sendable shared IP keeps it. NoUsableIp when the pool has none.
        The domain must be the tenant's (the caller read it)."""
        current = await self.assignment(domain_id)
        if current is not None and current.pool == "shared":
            return current
        ip = (await self.session.execute(text("SELECT pick_shared_ip(NULL)"))).scalar_one()
        if ip is None:
            raise NoUsableIp("the shared pool has no IP that can take a domain")
        await self._insert_assignment(domain_id, shared_ip=ip)
        await self._expire_others(domain_id, ip)
        found = await self.assignment(domain_id)
        assert found is not None
        return found

    async def assign_dedicated(self, domain_id: UUID, ip_id: UUID) -> Assignment:
        """The domain on one of the tenant's own sendable IPs, `active`; NoUsableIp when the
        tenant has no such IP (another tenant's is not found either: RLS)."""
        ip = (
            await self.session.execute(
                text(
                    "SELECT id FROM smtp_ip_addresses WHERE id = :ip AND pool = 'dedicated' "
                    "AND status = ANY(:ok) FOR UPDATE"
                ),
                {"ip": ip_id, "ok": list(SENDABLE)},
            )
        ).first()
        if ip is None:
            raise NoUsableIp("no such sendable IP of the tenant")
        if await self._insert_assignment(domain_id, own_ip=ip_id):
            await self.session.execute(
                text(
                    "UPDATE smtp_ip_addresses SET assigned_count = assigned_count + 1, "
                    "status = CASE WHEN status = 'available' THEN 'assigned' ELSE status END, "
                    "updated = now() WHERE id = :ip"
                ),
                {"ip": ip_id},
            )
        await self._expire_others(domain_id, ip_id)
        found = await self.assignment(domain_id)
        assert found is not None
        return found

    async def _insert_assignment(
        self, domain_id: UUID, *, own_ip: UUID | None = None, shared_ip: UUID | None = None
    ) -> bool:
        """An `active` assignment of the domain (under its tenant) to the IP; False when one
        is live already."""
        result = await self.session.execute(
            text(
                "INSERT INTO domain_ip_assignments "
                "(tenant_id, domain_id, smtp_ip_address_id, shared_ip_address_id, status, "
                " assigned_at) "
                "SELECT d.tenant_id, d.id, :own, :shared, 'active', now() FROM domains d "
                "WHERE d.id = :domain AND d.deleted IS NULL "
                "ON CONFLICT DO NOTHING"
            ),
            {"domain": domain_id, "own": own_ip, "shared": shared_ip},
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _expire_others(self, domain_id: UUID, ip_id: UUID) -> None:
        """The newest choice wins: the domain's live assignments to other IPs expire."""
        await self.session.execute(
            text(
                "UPDATE domain_ip_assignments SET status = 'expired', expires_at = now(), "
                "updated = now() WHERE domain_id = :domain "
                "AND status IN ('scheduled', 'warming', 'active') "
                "AND coalesce(smtp_ip_address_id, shared_ip_address_id) <> :ip"
            ),
            {"domain": domain_id, "ip": ip_id},
        )

    async def save_reputation(self, ip_id: UUID, state: str, listings: dict[str, bool]) -> bool:
        """Store a blocklist check; a listed IP that sends becomes `quarantined`. True when
        this check quarantined it."""
        row = (
            await self.session.execute(
                text(
                    "UPDATE smtp_ip_addresses ip SET reputation_state = :state, "
                    "  last_reputation_check_at = now(), updated = now(), "
                    "  provider_blacklist_status = ip.provider_blacklist_status "
                    "    || jsonb_build_object('dnsbl', CAST(:listings AS jsonb)), "
                    "  status = CASE WHEN :listed AND ip.status = ANY(:ok) THEN 'quarantined' "
                    "                ELSE ip.status END "
                    "FROM (SELECT id, status FROM smtp_ip_addresses WHERE id = :id FOR UPDATE) "
                    "  AS before "
                    "WHERE ip.id = before.id "
                    # The status before this check: a re-check of a quarantined IP (a retry)
                    # quarantines nothing again.
                    "RETURNING ip.status, (:listed AND before.status = ANY(:ok)) AS quarantined"
                ),
                {
                    "id": ip_id,
                    "state": state,
                    "listings": json.dumps(listings),
                    "listed": any(listings.values()),
                    "ok": list(SENDABLE),
                },
            )
        ).first()
        return bool(row and row.quarantined)

    async def release_vps(self, vps_id: UUID) -> int:
        """Every address of the server becomes `released` (history; the address is free)."""
        result = await self.session.execute(
            text(
                "UPDATE smtp_ip_addresses SET status = 'released', assigned_count = 0, "
                "updated = now() WHERE vps_instance_id = :vps AND status <> 'released'"
            ),
            {"vps": vps_id},
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def move_shared_domains_off(
    session: AsyncSession, ip_ids: Sequence[UUID]
) -> list[SharedMove]:
    """Every tenant's live assignments on the shared IPs `ip_ids` expire; each domain gets
    one on the least used sendable shared IP left (when there is one). A platform job
    (reputation, a pool server's decommission): through `admin_session()` only, since it
    acts on every tenant of the IP."""
    rows = await session.execute(
        text(
            "UPDATE domain_ip_assignments a SET status = 'expired', expires_at = now(), "
            "updated = now() FROM smtp_ip_addresses ip, domains d "
            "WHERE ip.id = a.shared_ip_address_id "
            "  AND d.tenant_id = a.tenant_id AND d.id = a.domain_id "
            "  AND a.shared_ip_address_id = ANY(:ips) "
            "  AND a.status IN ('scheduled', 'warming', 'active') "
            "RETURNING a.tenant_id, a.domain_id, d.domain, host(ip.ip_address) AS ip"
        ),
        {"ips": list(ip_ids)},
    )
    moves = []
    for row in rows.all():
        target = (
            await session.execute(
                text(
                    "SELECT id, host(ip_address) AS ip FROM smtp_ip_addresses "
                    "WHERE id = pick_shared_ip(CAST(:ips AS uuid[]))"
                ),
                {"ips": list(ip_ids)},
            )
        ).first()
        if target is not None:
            await session.execute(
                text(
                    "INSERT INTO domain_ip_assignments "
                    "(tenant_id, domain_id, shared_ip_address_id, status, assigned_at) "
                    "VALUES (:tenant, :domain, :ip, 'active', now()) ON CONFLICT DO NOTHING"
                ),
                {"tenant": row.tenant_id, "domain": row.domain_id, "ip": target.id},
            )
        moves.append(
            SharedMove(row.tenant_id, row.domain, row.ip, None if target is None else target.ip)
        )
    return moves


class IpNotFound(Exception):
    pass


class PoolInUse(Exception):
    """A shared IP still carries other tenants' domains: it cannot become dedicated."""

    def __init__(self, domains: int) -> None:
        super().__init__(f"{domains} domain(s) of other tenants still send from it")
        self.domains = domains


@dataclass(frozen=True)
class PoolChange:
    tenant_id: UUID  # the IP's owner (the platform's tenant for a shared one)
    ip_id: UUID
    ip_address: str
    status: str
    before: str
    pool: str


async def set_pool(session: AsyncSession, ip_id: UUID, pool: str) -> PoolChange:
    """Move a live IP into the shared pool or back to its owner alone (staff, through
    `admin_session()`). Back to dedicated only once no other tenant's domain is on it."""
    row = (
        await session.execute(
            text(
                "SELECT tenant_id, host(ip_address) AS ip, status, pool FROM smtp_ip_addresses "
                "WHERE id = :ip AND status <> 'released' FOR UPDATE"
            ),
            {"ip": ip_id},
        )
    ).first()
    if row is None:
        raise IpNotFound(str(ip_id))
    if pool == "dedicated" and row.pool == "shared":
        others = (
            await session.execute(
                text(
                    "SELECT count(*) FROM domain_ip_assignments WHERE shared_ip_address_id = :ip "
                    "AND status IN ('scheduled', 'warming', 'active')"
                ),
                {"ip": ip_id},
            )
        ).scalar_one()
        if others:
            raise PoolInUse(int(others))
    await session.execute(
        text("UPDATE smtp_ip_addresses SET pool = :pool, updated = now() WHERE id = :ip"),
        {"ip": ip_id, "pool": pool},
    )
    return PoolChange(row.tenant_id, ip_id, str(row.ip), row.status, row.pool, pool)


async def live_addresses(session: AsyncSession) -> list[tuple[UUID, UUID, str]]:
    """(tenant, IP id, address) of every IP not released, across tenants: for platform jobs
    (the reputation check) through `admin_session()` only."""
    rows = await session.execute(
        text(
            "SELECT tenant_id, id, host(ip_address) FROM smtp_ip_addresses "
            "WHERE status <> 'released' ORDER BY created, id"
        )
    )
    return [(r[0], r[1], str(r[2])) for r in rows]


async def all_sending_hosts(session: AsyncSession) -> list[tuple[str, str | None, str]]:
    """(address, PTR name, status) of every IP not released, across tenants: for the dev
    stack's DNS server only (its PTR, A and platform SPF records), through
    `admin_session()`."""
    rows = await session.execute(
        text(
            "SELECT host(ip_address), ptr_name, status FROM smtp_ip_addresses "
            "WHERE status <> 'released' ORDER BY ip_address"
        )
    )
    return [(str(r[0]), r[1], str(r[2])) for r in rows]


__all__ = [
    "ASSIGNED_IP",
    "SENDABLE",
    "TENANT_IPS",
    "AddressTaken",
    "Assignment",
    "IpAddressRepository",
    "IpNotFound",
    "Move",
    "NoUsableIp",
    "PoolChange",
    "PoolInUse",
    "SharedMove",
    "all_sending_hosts",
    "live_addresses",
    "move_shared_domains_off",
    "set_pool",
]
