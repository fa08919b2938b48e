"""IP reputation: each live sending IP looked up in DNS blocklists (dnspython, through the
platform's resolver), the result stored on the IP; a listed IP is quarantined and its
domains rotated to another of the tenant's IPs. A listed IP of the platform's shared pool
moves every tenant's domains on it to another shared IP, and each tenant is told.

A DNSBL answers an A query for the reversed address under its zone
(`4.3.2.1.zen.example` for 1.2.3.4): an answer in 127.0.0.0/8 is a listing, NXDOMAIN is
none. A zone that does not answer concludes nothing (the IP keeps its state)."""

from __future__ import annotations

import ipaddress
from uuid import UUID

import dns.asyncresolver
import dns.exception
from temporalio import activity

from activities.domains import lookup
from activities.interfaces.reputation import (
    CHECK_IP_REPUTATION,
    LIST_LIVE_IPS,
    CheckIpInput,
    CheckIpOutput,
    ListLiveIpsOutput,
    LiveIp,
)
from penguinmails.db import Database
from penguinmails.ip_pool import tell_moved_tenants
from penguinmails.repositories.ip_addresses import (
    IpAddressRepository,
    live_addresses,
    move_shared_domains_off,
)
from penguinmails.resolver import async_resolver


def reputation_state(listings: int) -> str:
    """No listing: good; one: poor; more: critical (`fair` is left to sending signals)."""
    return "good" if listings == 0 else "poor" if listings == 1 else "critical"


def dnsbl_name(ip: str, zone: str) -> str:
    return (
        ipaddress.ip_address(ip)
        .reverse_pointer.removesuffix(".in-addr.arpa")
        .removesuffix(".ip6.arpa")
        + f".{zone.strip('.')}"
    )


async def listed(resolver: dns.asyncresolver.Resolver, ip: str, zone: str) -> bool:
    answers = await lookup(resolver, dnsbl_name(ip, zone), "A")
    return any(ipaddress.ip_address(a) in ipaddress.ip_network("127.0.0.0/8") for a in answers)


class ReputationActivities:
    def __init__(self, db: Database, resolver_address: str | None) -> None:
        self.db = db
        self.resolver_address = resolver_address

    @activity.defn(name=LIST_LIVE_IPS)
    async def list_live_ips(self) -> ListLiveIpsOutput:
        """Every tenant's live IPs: a platform job, so it reads across tenants."""
        async with self.db.admin_session() as session:
            rows = await live_addresses(session)
        return ListLiveIpsOutput([LiveIp(str(t), str(i), ip) for t, i, ip in rows])

    @activity.defn(name=CHECK_IP_REPUTATION)
    async def check_ip_reputation(self, data: CheckIpInput) -> CheckIpOutput:
        resolver = async_resolver(self.resolver_address)
        hits, failed = [], []
        for zone in data.zones:
            try:
                if await listed(resolver, data.ip, zone):
                    hits.append(zone)
            except dns.exception.DNSException:
                failed.append(zone)
        state = reputation_state(len(hits))
        listings = {z: z in hits for z in data.zones if z not in failed}
        ip_id = UUID(data.ip_id)
        async with self.db.tenant_session(data.tenant_id) as session:
            repo = IpAddressRepository(session)
            ip = await repo.get(ip_id)
            shared = ip is not None and ip.pool == "shared"
            if not shared:
                quarantined = await repo.save_reputation(ip_id, state, listings)
                moved = (
                    [m.domain for m in await repo.move_domains_off([ip_id])] if quarantined else []
                )
        if shared:
            quarantined, moved = await self._check_shared(ip_id, data.ip, state, listings)
        if hits:
            activity.logger.warning("IP %s listed on %s", data.ip, ", ".join(hits))
        return CheckIpOutput(data.ip_id, hits, failed, state, quarantined, moved)

    async def _check_shared(
        self, ip_id: UUID, address: str, state: str, listings: dict[str, bool]
    ) -> tuple[bool, list[str]]:
        """A shared pool IP sends for many tenants: its quarantine moves every tenant's
        domains to another shared IP and tells each tenant, in the one transaction that
        quarantines it (a retry finds it quarantined and moves nothing twice). A platform
        job, so the system role's session."""
        async with self.db.admin_session() as session:
            quarantined = await IpAddressRepository(session).save_reputation(ip_id, state, listings)
            moves = await move_shared_domains_off(session, [ip_id]) if quarantined else []
            await tell_moved_tenants(
                session,
                moves,
                f"Shared IP {address} quarantined",
                f"The shared IP {address} was listed on a DNS blocklist.",
            )
        return quarantined, [m.domain for m in moves]
