"""Dedicated and shared IPs against the real database as the application role: two tenants
on one shared IP of the platform send from it, neither sees the other's assignment or
domain, a quarantine of the shared IP stops both, and no tenant can point an assignment at
another tenant's dedicated IP."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from penguinmails.db import Database
from penguinmails.repositories.capacity import CapacityRepository
from penguinmails.repositories.domains import DomainRepository
from penguinmails.repositories.ip_addresses import (
    IpAddressRepository,
    NoUsableIp,
    all_sending_hosts,
    move_shared_domains_off,
)
from penguinmails.repositories.outbox import OutboxRepository, Refused
from tests.fixtures.campaigns import sending_tenant
from tests.fixtures.ip_pool import (
    empty_pool,
    fresh_address,
    shared_ip,
    two_tenants_on_one_shared_ip,
)


async def test_two_tenants_send_from_one_shared_ip_and_see_only_their_own(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    ip, a, b = await two_tenants_on_one_shared_ip(db, admin_conn, leads=2)

    # Both send from the shared IP: its address, its PTR name in HELO, its server's worker.
    for tenant in (a, b):
        async with db.tenant_session(tenant.tenant_id) as session:
            sending = await IpAddressRepository(session).sending_ip(tenant.domain_id)
            assert sending is not None
            assert (sending.ip_address, sending.helo_name, sending.vps_id) == (
                ip.address,
                ip.helo_name,
                ip.vps_id,
            )
            # The domain's SPF IPs include the shared one.
            assert await DomainRepository(session).assigned_ips(tenant.domain_id) == [ip.address]

    async with db.tenant_session(a.tenant_id) as session:
        assignments = (
            await session.execute(text("SELECT tenant_id, domain_id FROM domain_ip_assignments"))
        ).all()
        assert [tuple(r) for r in assignments] == [(a.tenant_id, a.domain_id)]
        domains = (await session.execute(text("SELECT id FROM domains"))).scalars().all()
        assert domains == [a.domain_id]
        # B's domain is unknown to A through every repository that reads a domain's IP.
        ips = IpAddressRepository(session)
        assert await ips.sending_ip(b.domain_id) is None
        assert await ips.assignment(b.domain_id) is None
        assert await DomainRepository(session).assigned_ips(b.domain_id) == []
        assert await DomainRepository(session).get(b.domain_id) is None
        # The platform's row itself stays the platform's: not listed, not readable.
        assert await ips.page(None, 50) == []
        assert await ips.get(ip.ip_id) is None
        # What the pool answers a tenant: address, state, HELO name, server; no tenant.
        pool = (await session.execute(text("SELECT * FROM shared_ips()"))).mappings().all()
        mine = [dict(r) for r in pool if r["id"] == ip.ip_id]
        assert len(mine) == 1 and set(mine[0]) == {
            "id",
            "ip_address",
            "status",
            "helo_name",
            "vps_instance_id",
        }
        # Moving its domain to the pool again is idempotent.
        again = await ips.assign_shared(a.domain_id)
        assert again.ip_address == ip.address
    live = await admin_conn.fetchval(
        "SELECT count(*) FROM domain_ip_assignments WHERE shared_ip_address_id = $1 "
        "AND status = 'active'",
        ip.ip_id,
    )
    assert live == 2

    # The platform's SPF record lists its IPs, the shared ones included.
    async with db.admin_session() as session:
        hosts = await all_sending_hosts(session)
    assert (ip.address, ip.helo_name, "warmed") in hosts


async def test_a_quarantined_shared_ip_stops_every_tenant_on_it(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    ip, a, b = await two_tenants_on_one_shared_ip(db, admin_conn, leads=2)
    for tenant in (a, b):
        async with db.tenant_session(tenant.tenant_id) as session:
            [cap] = await CapacityRepository(session).mailboxes([tenant.mailbox_id])
        assert (cap.infrastructure_left, cap.allowed) == (None, 50)

    # The owner's blocklist check quarantines it (under the owner's tenant).
    async with db.tenant_session(ip.owner) as session:
        assert await IpAddressRepository(session).save_reputation(
            ip.ip_id, "poor", {"bl.test": True}
        )

    for tenant in (a, b):
        async with db.tenant_session(tenant.tenant_id) as session:
            [cap] = await CapacityRepository(session).mailboxes([tenant.mailbox_id])
            assert await IpAddressRepository(session).sending_ip(tenant.domain_id) is None
        assert (cap.infrastructure_left, cap.allowed, cap.limited_by) == (
            0,
            0,
            "mailbox_daily_cap",
        )
        with pytest.raises(Refused) as refused:
            async with db.tenant_session(tenant.tenant_id) as session:
                lead = next(iter(tenant.leads))
                await OutboxRepository(session).reserve(tenant.request(lead))
        assert refused.value.reason == "mailbox_daily_cap"

    # Rotated by the platform to another shared IP: both send again, from it.
    spare = await shared_ip(admin_conn)
    async with db.admin_session() as session:
        moves = await move_shared_domains_off(session, [ip.ip_id])
    assert sorted((m.tenant_id, m.to_ip) for m in moves) == sorted(
        [(a.tenant_id, spare.address), (b.tenant_id, spare.address)]
    )
    for tenant in (a, b):
        async with db.tenant_session(tenant.tenant_id) as session:
            [cap] = await CapacityRepository(session).mailboxes([tenant.mailbox_id])
            sending = await IpAddressRepository(session).sending_ip(tenant.domain_id)
            await OutboxRepository(session).reserve(tenant.request(next(iter(tenant.leads))))
        assert cap.allowed == 50 and sending is not None and sending.ip_address == spare.address


async def test_no_tenant_points_an_assignment_at_another_tenant_s_dedicated_ip(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    a = await sending_tenant(admin_conn, leads=0)
    b = await sending_tenant(admin_conn, leads=0)
    vps = await admin_conn.fetchval(
        "INSERT INTO vps_instances (tenant_id, provider, status) VALUES ($1, 'local', 'active') "
        "RETURNING id",
        b.tenant_id,
    )
    address = fresh_address()
    b_ip: UUID = await admin_conn.fetchval(
        "INSERT INTO smtp_ip_addresses (tenant_id, vps_instance_id, ip_address, status) "
        "VALUES ($1, $2, $3::inet, 'available') RETURNING id",
        b.tenant_id,
        vps,
        address,
    )
    # As a shared IP: the guard trigger refuses (the plain key alone would accept it).
    with pytest.raises(IntegrityError, match="not a shared IP"):
        async with db.tenant_session(a.tenant_id) as session:
            await session.execute(
                text(
                    "INSERT INTO domain_ip_assignments "
                    "(tenant_id, domain_id, shared_ip_address_id, status) "
                    "VALUES (:t, :d, :ip, 'active')"
                ),
                {"t": a.tenant_id, "d": a.domain_id, "ip": b_ip},
            )
    # As its own: not found (RLS), so nothing is assigned.
    with pytest.raises(NoUsableIp):
        async with db.tenant_session(a.tenant_id) as session:
            await IpAddressRepository(session).assign_dedicated(a.domain_id, b_ip)
    assert (
        await admin_conn.fetchval(
            "SELECT count(*) FROM domain_ip_assignments WHERE domain_id = $1", a.domain_id
        )
        == 0
    )
    # B may use it, and moving B's domain to it expires B's earlier shared assignment.
    await empty_pool(admin_conn)
    await shared_ip(admin_conn)
    async with db.tenant_session(b.tenant_id) as session:
        ips = IpAddressRepository(session)
        assert (await ips.assign_shared(b.domain_id)).pool == "shared"
        own = await ips.assign_dedicated(b.domain_id, b_ip)
    assert (own.pool, own.ip_address) == ("dedicated", address)
    rows = await admin_conn.fetch(
        "SELECT shared_ip_address_id IS NULL AS own, status FROM domain_ip_assignments "
        "WHERE domain_id = $1 ORDER BY status",
        b.domain_id,
    )
    assert [(r["own"], r["status"]) for r in rows] == [(True, "active"), (False, "expired")]
    assert (
        await admin_conn.fetchval("SELECT status FROM smtp_ip_addresses WHERE id = $1", b_ip)
        == "assigned"
    )


async def test_an_empty_pool_takes_no_domain(db: Database, admin_conn: asyncpg.Connection) -> None:
    await empty_pool(admin_conn)
    await shared_ip(admin_conn, status="quarantined")
    tenant = await sending_tenant(admin_conn, leads=0)
    with pytest.raises(NoUsableIp):
        async with db.tenant_session(tenant.tenant_id) as session:
            await IpAddressRepository(session).assign_shared(tenant.domain_id)
