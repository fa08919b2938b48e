"""IP reputation against the loopback DNS server (a DNSBL zone published there): a listed
IP is quarantined and its domains rotated (a shared one: every tenant's, each told); a
clean one stays; the Schedule starts the check on the dev server, which also tells the
IP's warmup."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import asyncpg
from sqlalchemy import text
from temporalio.client import Client, ScheduleHandle
from temporalio.worker import Worker

from activities.interfaces.reputation import CheckIpInput
from activities.reputation import ReputationActivities, dnsbl_name
from activities.warmups import WarmupActivities
from devstack.dns import Zone
from penguinmails.db import Database
from penguinmails.repositories.ip_addresses import IpAddressRepository
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.repositories.vps import VpsRepository
from penguinmails.repositories.warmups import WarmupRepository
from penguinmails.settings import Settings
from penguinmails.warmup import RampCurve
from tests.fixtures.ip_pool import shared_ip, two_tenants_on_one_shared_ip
from workflows.ip_reputation import IpReputationWorkflow
from workflows.ip_warmup import IpWarmupWorkflow
from workflows.schedules import reputation_schedule
from workflows.warmup_ramp import WarmupInput

ZONES = ["bl.example.test", "dnsbl.example.test"]
_hosts = iter(range(2, 250))


async def _tenant_with_ips(
    db: Database, conn: asyncpg.Connection, n: int
) -> tuple[uuid.UUID, list[uuid.UUID], list[str], uuid.UUID]:
    async with db.admin_session() as session:
        tenant = (await TenantRepository(session).create("Rep Co")).id
    company = await conn.fetchval(
        "INSERT INTO companies (id, tenant_id, name) VALUES (gen_random_uuid(), $1, 'c') "
        "RETURNING id",
        tenant,
    )
    domain = await conn.fetchval(
        "INSERT INTO domains (id, tenant_id, company_id, domain) "
        "VALUES (gen_random_uuid(), $1, $2, $3) RETURNING id",
        tenant,
        company,
        f"r{uuid.uuid4().hex[:8]}.test",
    )
    ids, addresses = [], []
    async with db.tenant_session(tenant) as session:
        vps = await VpsRepository(session).create(tenant, "local", "local")
        for _ in range(n):
            address = f"127.254.{next(_hosts)}.1"
            ip = await IpAddressRepository(session).register(tenant, vps.id, address, "x.test")
            ids.append(ip.id)
            addresses.append(address)
    await conn.execute(
        "INSERT INTO domain_ip_assignments (tenant_id, domain_id, smtp_ip_address_id, status) "
        "VALUES ($1, $2, $3, 'active')",
        tenant,
        domain,
        ids[0],
    )
    return tenant, ids, addresses, domain


def test_the_dnsbl_name_reverses_the_octets() -> None:
    assert dnsbl_name("127.0.0.2", "zen.example.") == "2.0.0.127.zen.example"


async def test_a_listed_ip_is_quarantined_and_its_domains_rotated(
    db: Database, settings: Settings, dns_zone: Zone, admin_conn: asyncpg.Connection
) -> None:
    tenant, [listed_ip, spare], [address, _], domain = await _tenant_with_ips(db, admin_conn, 2)
    dns_zone.add(dnsbl_name(address, ZONES[0]), "A", "127.0.0.2")
    acts = ReputationActivities(db, settings.dns_resolver)
    out = await acts.check_ip_reputation(CheckIpInput(str(tenant), str(listed_ip), address, ZONES))
    assert out.listed_on == [ZONES[0]] and out.quarantined and out.reputation_state == "poor"
    assert len(out.moved_domains) == 1
    async with db.tenant_session(tenant) as session:
        ip = await IpAddressRepository(session).get(listed_ip)
    assert ip is not None and ip.status == "quarantined" and ip.reputation_state == "poor"
    assert ip.provider_blacklist_status["dnsbl"] == {ZONES[0]: True, ZONES[1]: False}
    assert ip.last_reputation_check_at is not None
    rows = await admin_conn.fetch(
        "SELECT smtp_ip_address_id, status FROM domain_ip_assignments WHERE domain_id = $1 "
        "ORDER BY created",
        domain,
    )
    assert [(r[0], r[1]) for r in rows] == [(listed_ip, "expired"), (spare, "active")]

    clean = await acts.check_ip_reputation(
        CheckIpInput(str(tenant), str(spare), "127.254.1.1", ZONES)
    )
    assert (clean.listed_on, clean.quarantined, clean.reputation_state) == ([], False, "good")


async def test_the_schedule_runs_the_check_and_tells_the_warmup(
    temporal_client: Client,
    db: Database,
    settings: Settings,
    dns_zone: Zone,
    admin_conn: asyncpg.Connection,
) -> None:
    tenant, [ip_id], [address], _ = await _tenant_with_ips(db, admin_conn, 1)
    async with db.tenant_session(tenant) as session:
        warmup = await WarmupRepository(session).create(
            tenant, RampCurve(start=10, target=100), dt.date(2000, 1, 1), smtp_ip_address_id=ip_id
        )
    dns_zone.add(dnsbl_name(address, ZONES[1]), "A", "127.0.0.4")
    queue = f"tq-{uuid.uuid4()}"
    rep, warm = ReputationActivities(db, settings.dns_resolver), WarmupActivities(db)
    schedule = reputation_schedule(list(ZONES), settings.reputation_check_minutes)
    schedule.action.task_queue = queue  # type: ignore[attr-defined]
    schedule.action.id = f"ip-reputation-{uuid.uuid4()}"  # type: ignore[attr-defined]
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[IpReputationWorkflow, IpWarmupWorkflow],
        activities=[rep.list_live_ips, rep.check_ip_reputation, warm.advance_warmup],
    ):
        warm_handle = await temporal_client.start_workflow(
            IpWarmupWorkflow.run,
            WarmupInput(str(tenant), str(warmup.id)),
            id=f"ip-warmup:{tenant}:{ip_id}",
            task_queue=queue,
        )
        handle: ScheduleHandle = await temporal_client.create_schedule(
            f"ip-reputation-test-{uuid.uuid4()}", schedule
        )
        try:
            await handle.trigger()
            for _ in range(300):
                state = await warm_handle.query(IpWarmupWorkflow.get_state)
                if state.pending_signals:
                    break
                await asyncio.sleep(0.1)
            assert state.pending_signals == ["blocklist"]
        finally:
            await handle.delete()
            await warm_handle.terminate()
    async with db.tenant_session(tenant) as session:
        ip = await IpAddressRepository(session).get(ip_id)
    assert ip is not None and ip.status == "quarantined"


async def test_a_listed_shared_ip_moves_every_tenant_s_domains_and_tells_each(
    db: Database, settings: Settings, dns_zone: Zone, admin_conn: asyncpg.Connection
) -> None:
    listed_ip, a, b = await two_tenants_on_one_shared_ip(db, admin_conn)
    spare = await shared_ip(admin_conn, owner=listed_ip.owner)
    dns_zone.add(dnsbl_name(listed_ip.address, ZONES[0]), "A", "127.0.0.2")
    acts = ReputationActivities(db, settings.dns_resolver)
    check = CheckIpInput(str(listed_ip.owner), str(listed_ip.ip_id), listed_ip.address, ZONES)
    out = await acts.check_ip_reputation(check)
    assert out.quarantined and sorted(out.moved_domains) == sorted(
        [f"send-{a.tenant_id.hex[:8]}.test", f"send-{b.tenant_id.hex[:8]}.test"]
    )
    for tenant in (a, b):
        async with db.tenant_session(tenant.tenant_id) as session:
            sending = await IpAddressRepository(session).sending_ip(tenant.domain_id)
            notices = (
                await session.execute(
                    text(
                        "SELECT tenant_id, title FROM notifications WHERE type = 'shared_ip_moved'"
                    )
                )
            ).all()
        assert sending is not None and sending.ip_address == spare.address
        assert [tuple(n) for n in notices] == [
            (tenant.tenant_id, f"Shared IP {listed_ip.address} quarantined")
        ]
    # A retry finds it quarantined already: nothing moves or is told twice.
    again = await acts.check_ip_reputation(check)
    assert (again.quarantined, again.moved_domains) == (False, [])
    told = await admin_conn.fetchval(
        "SELECT count(*) FROM notifications WHERE type = 'shared_ip_moved' "
        "AND tenant_id = ANY($1::uuid[])",
        [a.tenant_id, b.tenant_id, listed_ip.owner],
    )
    assert told == 2
