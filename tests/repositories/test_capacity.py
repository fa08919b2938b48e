"""The capacity function against the real database: each limit it takes the least of, what
blocks a mailbox, the plan's monthly limit, and when a full limit opens again."""

from __future__ import annotations

import uuid
from uuid import UUID

import asyncpg
import pytest

from penguinmails.db import Database
from penguinmails.repositories.capacity import CapacityRepository, MailboxCapacity
from penguinmails.repositories.outbox import OutboxRepository, Refused
from tests.fixtures.campaigns import SendingTenant, add_mailbox, sending_tenant


async def _capacity(
    db: Database, tenant: SendingTenant, mailbox: UUID, campaign: UUID | None = None
) -> MailboxCapacity:
    async with db.tenant_session(tenant.tenant_id) as session:
        repo = CapacityRepository(session)
        limit = await repo.month_limit()
        [cap] = await repo.mailboxes([mailbox], campaign_id=campaign, month_limit=limit)
        return cap


async def _use(conn: asyncpg.Connection, tenant: SendingTenant, mailbox: UUID, n: int) -> None:
    await conn.execute(
        "INSERT INTO mailbox_daily_counters (tenant_id, email_account_id, day, sent_count) "
        "SELECT tenant_id, id, (now() AT TIME ZONE timezone)::date, $2 FROM email_accounts "
        "WHERE id = $1",
        mailbox,
        n,
    )


async def test_the_least_of_the_mailbox_the_campaign_and_the_month(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn, daily_cap=10, daily_limit=6)
    await _use(admin_conn, tenant, tenant.mailbox_id, 3)
    cap = await _capacity(db, tenant, tenant.mailbox_id, tenant.campaign_id)
    assert (cap.daily_left, cap.campaign_left, cap.month_left, cap.allowed) == (7, 6, None, 6)

    # Sends through the reserve step count against the campaign and the month.
    async with db.tenant_session(tenant.tenant_id) as session:
        for lead in list(tenant.leads)[:2]:
            await OutboxRepository(session).reserve(tenant.request(lead))
    cap = await _capacity(db, tenant, tenant.mailbox_id, tenant.campaign_id)
    assert (cap.daily_left, cap.campaign_left, cap.allowed) == (5, 4, 4)

    # The plan's monthly limit: 3 sends a month, 2 taken.
    plan = await admin_conn.fetchval(
        "INSERT INTO plans (id, plan_name, price, limits) VALUES (gen_random_uuid(), $1, 10, "
        "'{\"emails_per_month\": 3}') RETURNING id",
        f"plan-{uuid.uuid4().hex[:8]}",
    )
    await admin_conn.execute(
        "INSERT INTO subscriptions (id, tenant_id, plan_id, status) "
        "VALUES (gen_random_uuid(), $1, $2, 'active')",
        tenant.tenant_id,
        plan,
    )
    cap = await _capacity(db, tenant, tenant.mailbox_id, tenant.campaign_id)
    assert (cap.month_left, cap.allowed) == (1, 1)


async def test_a_mailbox_s_campaigns_sum_their_limits(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn, daily_cap=100, daily_limit=5)
    other = await admin_conn.fetchval(
        "INSERT INTO campaigns (id, tenant_id, company_id, name, status, daily_limit) "
        "VALUES (gen_random_uuid(), $1, $2, 'Other', 'sending', 7) RETURNING id",
        tenant.tenant_id,
        tenant.company_id,
    )
    paused = await admin_conn.fetchval(
        "INSERT INTO campaigns (id, tenant_id, company_id, name, status, pause_reasons, "
        "daily_limit) VALUES (gen_random_uuid(), $1, $2, 'Paused', 'paused', '{user}', 50) "
        "RETURNING id",
        tenant.tenant_id,
        tenant.company_id,
    )
    for campaign in (tenant.campaign_id, other, paused):
        await admin_conn.execute(
            "INSERT INTO campaign_mailboxes (id, tenant_id, campaign_id, email_account_id) "
            "VALUES (gen_random_uuid(), $1, $2, $3)",
            tenant.tenant_id,
            campaign,
            tenant.mailbox_id,
        )
    cap = await _capacity(db, tenant, tenant.mailbox_id)
    assert (cap.campaign_left, cap.allowed) == (12, 12)  # 5 + 7, the paused one not counted
    await admin_conn.execute("UPDATE campaigns SET daily_limit = NULL WHERE id = $1", other)
    assert (await _capacity(db, tenant, tenant.mailbox_id)).campaign_left is None


async def test_what_blocks_a_mailbox_and_when_it_opens_again(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn, daily_cap=2, mailbox_timezone="America/New_York")
    mailbox = tenant.mailbox_id
    await admin_conn.execute(
        "UPDATE email_accounts SET next_send_at = now() + interval '90 seconds' WHERE id = $1",
        mailbox,
    )
    gap = await _capacity(db, tenant, mailbox, tenant.campaign_id)
    assert (gap.allowed, gap.limited_by) == (0, "gap")
    assert gap.retry_at() == gap.next_send_at
    await admin_conn.execute("UPDATE email_accounts SET next_send_at = NULL WHERE id = $1", mailbox)

    await _use(admin_conn, tenant, mailbox, 2)
    full = await _capacity(db, tenant, mailbox, tenant.campaign_id)
    midnight = await admin_conn.fetchval(
        "SELECT (date_trunc('day', now() AT TIME ZONE 'America/New_York') + interval '1 day') "
        "AT TIME ZONE 'America/New_York'"
    )
    assert (full.allowed, full.limited_by, full.retry_at()) == (0, "mailbox_daily_cap", midnight)

    second = await add_mailbox(admin_conn, tenant, daily_cap=5)
    for setup in (
        "UPDATE email_accounts SET pause_reasons = '{breaker}' WHERE id = $1",
        "UPDATE email_accounts SET pause_reasons = '{}', status = 'authentication_failed' "
        "WHERE id = $1",
        "UPDATE email_accounts SET status = 'active', deleted = now() WHERE id = $1",
    ):
        await admin_conn.execute(setup, second)
        blocked = await _capacity(db, tenant, second)
        assert (blocked.allowed, blocked.limited_by) == (0, "mailbox_not_active"), setup
    await admin_conn.execute("UPDATE email_accounts SET deleted = NULL WHERE id = $1", second)
    assert (await _capacity(db, tenant, second)).allowed == 5


async def test_the_rotation_lists_the_campaign_s_mailboxes_with_room_first(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn, daily_cap=10)
    boxes = [tenant.mailbox_id, await add_mailbox(admin_conn, tenant, daily_cap=10)]
    boxes.append(await add_mailbox(admin_conn, tenant, daily_cap=10))
    for box, used in zip(boxes, (4, 10, 1), strict=True):
        await _use(admin_conn, tenant, box, used)
        await admin_conn.execute(
            "INSERT INTO campaign_mailboxes (id, tenant_id, campaign_id, email_account_id) "
            "VALUES (gen_random_uuid(), $1, $2, $3)",
            tenant.tenant_id,
            tenant.campaign_id,
            box,
        )
    async with db.tenant_session(tenant.tenant_id) as session:
        rotation = await CapacityRepository(session).campaign_rotation(tenant.campaign_id)
    assert [c.mailbox_id for c in rotation] == [boxes[2], boxes[0], boxes[1]]
    assert [c.allowed for c in rotation] == [9, 6, 0]


# --- the infrastructure: warmup caps and IP state -------------------------------------------

_ip_hosts = iter(range(2, 250))


async def _ip(conn: asyncpg.Connection, tenant: SendingTenant, status: str = "available") -> UUID:
    vps = await conn.fetchval(
        "INSERT INTO vps_instances (tenant_id, provider, status) VALUES ($1, 'local', 'active') "
        "RETURNING id",
        tenant.tenant_id,
    )
    ip: UUID = await conn.fetchval(
        "INSERT INTO smtp_ip_addresses (tenant_id, vps_instance_id, ip_address, status) "
        "VALUES ($1, $2, $3::inet, $4) RETURNING id",
        tenant.tenant_id,
        vps,
        f"127.253.{next(_ip_hosts)}.1",
        status,
    )
    await conn.execute(
        "INSERT INTO domain_ip_assignments (tenant_id, domain_id, smtp_ip_address_id, status) "
        "VALUES ($1, $2, $3, 'active')",
        tenant.tenant_id,
        tenant.domain_id,
        ip,
    )
    return ip


async def _warmup(
    conn: asyncpg.Connection, tenant: SendingTenant, cap: int, **target: UUID
) -> UUID:
    ((column, value),) = target.items()
    warmup: UUID = await conn.fetchval(
        f"INSERT INTO warmups (tenant_id, {column}, today_cap) VALUES ($1, $2, $3) RETURNING id",
        tenant.tenant_id,
        value,
        cap,
    )
    return warmup


async def test_a_mailbox_in_warmup_sends_no_more_than_its_ramp(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn, daily_cap=50, daily_limit=40)
    cap = await _capacity(db, tenant, tenant.mailbox_id, tenant.campaign_id)
    assert (cap.infrastructure_left, cap.allowed) == (None, 40)  # no platform IP, no warmup
    warmup = await _warmup(admin_conn, tenant, 8, email_account_id=tenant.mailbox_id)
    await _use(admin_conn, tenant, tenant.mailbox_id, 3)
    cap = await _capacity(db, tenant, tenant.mailbox_id, tenant.campaign_id)
    assert (cap.infrastructure_left, cap.own_left, cap.allowed) == (5, 5, 5)
    # The engine's caps still bind when they are lower than the ramp.
    await admin_conn.execute(
        "UPDATE campaigns SET daily_limit = 2 WHERE id = $1", tenant.campaign_id
    )
    cap = await _capacity(db, tenant, tenant.mailbox_id, tenant.campaign_id)
    assert (cap.infrastructure_left, cap.allowed, cap.limited_by) == (5, 2, None)
    # A paused warmup still caps; a stopped one no longer does.
    await admin_conn.execute("UPDATE warmups SET status = 'paused' WHERE id = $1", warmup)
    assert (await _capacity(db, tenant, tenant.mailbox_id)).infrastructure_left == 5
    await admin_conn.execute("UPDATE warmups SET status = 'stopped' WHERE id = $1", warmup)
    assert (await _capacity(db, tenant, tenant.mailbox_id)).infrastructure_left is None


async def test_a_quarantined_ip_s_mailboxes_send_nothing_until_moved(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn, daily_cap=50, daily_limit=None)
    ip = await _ip(admin_conn, tenant)
    cap = await _capacity(db, tenant, tenant.mailbox_id)
    assert (cap.infrastructure_left, cap.allowed) == (None, 50)
    await admin_conn.execute(
        "UPDATE smtp_ip_addresses SET status = 'quarantined' WHERE id = $1", ip
    )
    cap = await _capacity(db, tenant, tenant.mailbox_id)
    assert (cap.infrastructure_left, cap.allowed, cap.limited_by) == (0, 0, "mailbox_daily_cap")
    assert cap.retry_at() == cap.mailbox_midnight
    # Moved to a healthy IP in warmup: that IP's ramp is the limit, shared by its mailboxes.
    other = await _ip(admin_conn, tenant)
    await _warmup(admin_conn, tenant, 12, smtp_ip_address_id=other)
    second = await add_mailbox(admin_conn, tenant, daily_cap=50)
    await _use(admin_conn, tenant, second, 4)
    caps = {c.mailbox_id: c for c in await _many(db, tenant, [tenant.mailbox_id, second])}
    assert caps[tenant.mailbox_id].infrastructure_left == 8  # 12 - the 4 the other sent
    assert caps[second].infrastructure_left == 8 and caps[second].allowed == 8
    await admin_conn.execute(
        "UPDATE domain_ip_assignments SET status = 'expired' WHERE smtp_ip_address_id = $1", ip
    )
    assert (await _capacity(db, tenant, tenant.mailbox_id)).infrastructure_left == 8
    # Another usable IP with no warmup: no infrastructure limit.
    await _ip(admin_conn, tenant, status="warmed")
    assert (await _capacity(db, tenant, tenant.mailbox_id)).infrastructure_left is None


async def _many(db: Database, tenant: SendingTenant, ids: list[UUID]) -> list[MailboxCapacity]:
    async with db.tenant_session(tenant.tenant_id) as session:
        return await CapacityRepository(session).mailboxes(ids)


async def test_the_reserve_step_enforces_the_warmup_and_the_quarantine(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn, leads=4, daily_cap=50)
    await _warmup(admin_conn, tenant, 1, email_account_id=tenant.mailbox_id)
    leads = list(tenant.leads)
    async with db.tenant_session(tenant.tenant_id) as session:
        await OutboxRepository(session).reserve(tenant.request(leads[0]))
    with pytest.raises(Refused) as refused:
        async with db.tenant_session(tenant.tenant_id) as session:
            await OutboxRepository(session).reserve(tenant.request(leads[1]))
    assert refused.value.reason == "mailbox_daily_cap"

    quarantined = await sending_tenant(admin_conn, leads=2, daily_cap=50)
    ip = await _ip(admin_conn, quarantined, status="quarantined")
    lead = next(iter(quarantined.leads))
    with pytest.raises(Refused) as refused:
        async with db.tenant_session(quarantined.tenant_id) as session:
            await OutboxRepository(session).reserve(quarantined.request(lead))
    assert refused.value.reason == "mailbox_daily_cap"
    await admin_conn.execute("UPDATE smtp_ip_addresses SET status = 'warmed' WHERE id = $1", ip)
    async with db.tenant_session(quarantined.tenant_id) as session:
        await OutboxRepository(session).reserve(quarantined.request(lead))
