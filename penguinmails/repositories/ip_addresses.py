"""Sending IPs (`smtp_ip_addresses`) and the domains they send for
(`domain_ip_assignments`): registering a server's IPs, moving domains off them, releasing
them.

An address is live in one tenant at a time: the unique index on live addresses spans
tenants, so registering an address another tenant still holds inserts nothing
(`AddressTaken`), without this tenant ever seeing the other's row.
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


class AddressTaken(Exception):
    """The address is live elsewhere (another server, maybe another tenant)."""


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
        `scheduled` one, then the oldest. None: the domain has no platform IP (its mailboxes
        send through their own provider's servers from wherever the worker runs)."""
        row = (
            await self.session.execute(
                text(
                    "SELECT host(ip.ip_address) AS ip, coalesce(ip.helo_name, ip.ptr_name) AS helo, "
                    "       ip.vps_instance_id AS vps "
                    "FROM domain_ip_assignments a "
                    "JOIN smtp_ip_addresses ip "
                    "  ON ip.tenant_id = a.tenant_id AND ip.id = a.smtp_ip_address_id "
                    "WHERE a.domain_id = :domain "
                    "  AND a.status IN ('scheduled', 'warming', 'active') "
                    "  AND ip.status NOT IN ('quarantined', 'burned', 'released') "
                    "ORDER BY array_position(ARRAY['active', 'warming', 'scheduled'], a.status), "
                    "  a.assigned_at NULLS LAST, a.created, a.id LIMIT 1"
                ),
                {"domain": domain_id},
            )
        ).first()
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

    async def save_reputation(self, ip_id: UUID, state: str, listings: dict[str, bool]) -> bool:
        """Store a blocklist check; a listed IP that sends becomes `quarantined`. True when
        this check quarantined it."""
        row = (
            await self.session.execute(
                text(
                    "UPDATE smtp_ip_addresses SET reputation_state = :state, "
                    "  last_reputation_check_at = now(), updated = now(), "
                    "  provider_blacklist_status = provider_blacklist_status "
                    "    || jsonb_build_object('dnsbl', CAST(:listings AS jsonb)), "
                    "  status = CASE WHEN :listed AND status = ANY(:ok) THEN 'quarantined' "
                    "                ELSE status END "
                    "WHERE id = :id "
                    "RETURNING status, (:listed AND status = 'quarantined') AS quarantined"
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
    "SENDABLE",
    "AddressTaken",
    "IpAddressRepository",
    "Move",
    "all_sending_hosts",
    "live_addresses",
]
