"""The outbox contract against the real database: reservations within every cap under
concurrency, give-backs to the stored day, and pause against sends in flight."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from penguinmails.db import Database
from penguinmails.repositories.outbox import OutboxRepository, Refused, Reservation
from tests.fixtures.campaigns import SendingTenant, add_leads, sending_tenant


async def _reserve(db: Database, tenant: SendingTenant, lead_id: UUID, **kw: Any) -> Reservation:
    async with db.tenant_session(tenant.tenant_id) as session:
        return await OutboxRepository(session).reserve(tenant.request(lead_id, **kw))


async def _counter(conn: asyncpg.Connection, mailbox_id: UUID) -> int:
    return int(
        await conn.fetchval(
            "SELECT coalesce(sum(sent_count), 0) FROM mailbox_daily_counters "
            "WHERE email_account_id = $1",
            mailbox_id,
        )
    )


async def _waiting_on_lock(conn: asyncpg.Connection, needle: str) -> bool:
    for _ in range(500):
        if await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE $1",
            f"%{needle}%",
        ):
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_reservation_takes_each_slot_once_and_a_retry_finds_it(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn, daily_limit=10)
    lead = next(iter(tenant.leads))
    first = await _reserve(db, tenant, lead)
    again = await _reserve(db, tenant, lead)
    assert first.created_now and not again.created_now
    assert (again.id, again.status, again.message_id) == (first.id, "reserved", first.message_id)
    assert await _counter(admin_conn, tenant.mailbox_id) == 1
    row = await admin_conn.fetchrow(
        "SELECT slot_day, campaign_day, slot_month FROM inbox_message_refs WHERE id = $1",
        first.id,
    )
    today = dt.datetime.now(dt.UTC).date()
    assert (row["slot_day"], row["campaign_day"], row["slot_month"]) == (
        today,
        today,
        today.replace(day=1),
    )
    assert (
        await admin_conn.fetchval(
            "SELECT sent_count FROM campaign_daily_counters WHERE campaign_id = $1",
            tenant.campaign_id,
        )
        == 1
    )


async def test_the_daily_cap_holds_under_concurrent_reservations(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn, leads=20, daily_cap=5)
    results = await asyncio.gather(
        *(_reserve(db, tenant, lead) for lead in tenant.leads), return_exceptions=True
    )
    reserved = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, Refused)]
    assert len(reserved) == 5 and len(refused) == 15, results
    assert {r.reason for r in refused} == {"mailbox_daily_cap"}
    assert await _counter(admin_conn, tenant.mailbox_id) == 5
    # A refused reservation left nothing behind: no row, no slot.
    assert (
        await admin_conn.fetchval(
            "SELECT count(*) FROM inbox_message_refs WHERE campaign_id = $1", tenant.campaign_id
        )
        == 5
    )


async def test_the_day_is_the_mailbox_s_own(db: Database, admin_conn: asyncpg.Connection) -> None:
    tenant = await sending_tenant(admin_conn, mailbox_timezone="Pacific/Kiritimati")  # UTC+14
    reservation = await _reserve(db, tenant, next(iter(tenant.leads)))
    expected = await admin_conn.fetchval("SELECT (now() AT TIME ZONE 'Pacific/Kiritimati')::date")
    assert (
        await admin_conn.fetchval(
            "SELECT slot_day FROM inbox_message_refs WHERE id = $1", reservation.id
        )
        == expected
    )


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (
            "UPDATE campaigns SET status = 'paused', pause_reasons = '{{user}}' WHERE id = '{campaign}'",
            "campaign_not_sending",
        ),
        (
            "UPDATE email_accounts SET pause_reasons = '{{breaker}}' WHERE id = '{mailbox}'",
            "mailbox_not_active",
        ),
        (
            "UPDATE email_accounts SET status = 'authentication_failed' WHERE id = '{mailbox}'",
            "mailbox_not_active",
        ),
        ("UPDATE leads SET status = 'unsubscribed' WHERE id = '{lead}'", "lead_stopped"),
        ("UPDATE leads SET deleted = now() WHERE id = '{lead}'", "lead_stopped"),
        (
            "INSERT INTO suppressions (tenant_id, kind, value, reason) "
            "SELECT tenant_id, 'domain', 'example.test', 'manual' FROM leads WHERE id = '{lead}'",
            "suppressed",
        ),
    ],
)
async def test_what_stops_a_reservation(
    db: Database, admin_conn: asyncpg.Connection, setup: str, reason: str
) -> None:
    tenant = await sending_tenant(admin_conn)
    lead = next(iter(tenant.leads))
    await admin_conn.execute(
        setup.format(campaign=tenant.campaign_id, mailbox=tenant.mailbox_id, lead=lead)
    )
    with pytest.raises(Refused) as refused:
        await _reserve(db, tenant, lead)
    assert refused.value.reason == reason
    assert await _counter(admin_conn, tenant.mailbox_id) == 0


async def test_an_address_suppressed_by_hash_is_refused(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn)
    lead = next(iter(tenant.leads))
    await admin_conn.execute(
        "INSERT INTO suppressions (tenant_id, kind, value, reason) VALUES ($1, 'address', $2, "
        "'unsubscribed')",
        tenant.tenant_id,
        tenant.request(lead).address_hash,
    )
    with pytest.raises(Refused, match="suppressed"):
        await _reserve(db, tenant, lead)


async def test_the_gap_holds_between_reservations(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn)
    first, second = list(tenant.leads)[:2]
    await _reserve(db, tenant, first, gap_seconds=60.0)
    with pytest.raises(Refused) as refused:
        await _reserve(db, tenant, second)
    assert refused.value.reason == "gap" and refused.value.retry_at is not None
    assert refused.value.retry_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=50)


async def test_the_gap_holds_under_concurrent_reservations(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn, leads=10)
    results = await asyncio.gather(
        *(_reserve(db, tenant, lead, gap_seconds=60.0) for lead in tenant.leads),
        return_exceptions=True,
    )
    reserved = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, Refused)]
    assert len(reserved) == 1 and len(refused) == 9, results
    assert {r.reason for r in refused} == {"gap"}
    assert all(r.retry_at is not None for r in refused)
    assert await _counter(admin_conn, tenant.mailbox_id) == 1  # refused slots rolled back


async def test_the_campaign_daily_limit_and_the_monthly_limit(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn, leads=4, daily_limit=2)
    leads = list(tenant.leads)
    await _reserve(db, tenant, leads[0])
    await _reserve(db, tenant, leads[1])
    with pytest.raises(Refused, match="campaign_daily_limit"):
        await _reserve(db, tenant, leads[2])
    await admin_conn.execute(
        "UPDATE campaigns SET daily_limit = NULL WHERE id = $1", tenant.campaign_id
    )
    with pytest.raises(Refused, match="monthly_limit"):
        await _reserve(db, tenant, leads[2], month_limit=2)
    assert (await _reserve(db, tenant, leads[2], month_limit=3)).status == "reserved"


async def test_a_give_back_returns_the_slot_of_the_stored_day(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn)
    reservation = await _reserve(db, tenant, next(iter(tenant.leads)))
    # As if the reservation had been made before midnight and the give-back came after.
    await admin_conn.execute(
        "UPDATE mailbox_daily_counters SET day = day - 1 WHERE email_account_id = $1",
        tenant.mailbox_id,
    )
    await admin_conn.execute(
        "UPDATE inbox_message_refs SET slot_day = slot_day - 1 WHERE id = $1", reservation.id
    )
    await admin_conn.execute(
        "INSERT INTO mailbox_daily_counters (tenant_id, email_account_id, day, sent_count) "
        "VALUES ($1, $2, (now() AT TIME ZONE 'UTC')::date, 7)",
        tenant.tenant_id,
        tenant.mailbox_id,
    )
    async with db.tenant_session(tenant.tenant_id) as session:
        assert await OutboxRepository(session).defer(reservation.id, "refused connection")
    counts = dict(
        await admin_conn.fetch(
            "SELECT day, sent_count FROM mailbox_daily_counters WHERE email_account_id = $1",
            tenant.mailbox_id,
        )
    )
    today = dt.datetime.now(dt.UTC).date()
    assert counts == {today - dt.timedelta(days=1): 0, today: 7}
    # Deferred rows are reserved again, with new slots, keeping their Message-ID.
    again = await _reserve(db, tenant, next(iter(tenant.leads)))
    assert (again.id, again.status, again.message_id) == (
        reservation.id,
        "reserved",
        reservation.message_id,
    )
    assert await _counter(admin_conn, tenant.mailbox_id) == 8


async def test_test_sends_sit_outside_the_step_key_but_inside_the_cap(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn, daily_cap=2)
    lead = next(iter(tenant.leads))
    await admin_conn.execute(
        "UPDATE campaigns SET status = 'draft' WHERE id = $1", tenant.campaign_id
    )
    for n in range(2):
        r = await _reserve(db, tenant, lead, is_test=True, message_id=f"<test-{n}@send.test>")
        assert r.created_now
    with pytest.raises(Refused, match="mailbox_daily_cap"):
        await _reserve(db, tenant, lead, is_test=True, message_id="<test-3@send.test>")


async def test_pause_waits_for_the_send_in_flight_and_no_new_send_passes(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn)
    first, second = list(tenant.leads)[:2]
    in_flight = await _reserve(db, tenant, first)
    later = await _reserve(db, tenant, second)
    req = tenant.request(first)
    order: list[str] = []
    release = asyncio.Event()

    async def send_in_flight() -> None:
        async with db.tenant_session(tenant.tenant_id) as session:
            repo = OutboxRepository(session)
            await repo.lock_campaign_shared(tenant.campaign_id)
            check = await repo.recheck(in_flight.id, req.address_hash, req.to_domain)
            assert check.blocked_by is None
            await release.wait()  # the SMTP exchange
            await repo.mark_sent(in_flight.id)
            order.append("sent")

    async def pause() -> None:
        async with db.tenant_session(tenant.tenant_id) as session:
            status = await OutboxRepository(session).pause_campaign(
                tenant.campaign_id, "user", 5000
            )
            assert status == "paused"
        order.append("paused")

    async def send_after() -> str | None:
        async with db.tenant_session(tenant.tenant_id) as session:
            repo = OutboxRepository(session)
            await repo.lock_campaign_shared(tenant.campaign_id)
            order.append("second locked")
            check = await repo.recheck(later.id, req.address_hash, req.to_domain)
            return check.blocked_by

    sending = asyncio.ensure_future(send_in_flight())
    await asyncio.sleep(0.05)
    pausing = asyncio.ensure_future(pause())
    assert await _waiting_on_lock(admin_conn, "pg_advisory_xact_lock(")
    after = asyncio.ensure_future(send_after())
    # A shared request queues behind the waiting exclusive one: no new send starts.
    assert await _waiting_on_lock(admin_conn, "pg_advisory_xact_lock_shared")
    assert order == []
    release.set()
    await asyncio.gather(sending, pausing)
    assert await after == "campaign_not_sending"
    # The second send locked only after the first ended and the pause had committed (its
    # re-check saw the pause); the pause's own bookkeeping may land either side of it.
    assert order.index("sent") < order.index("second locked")
    assert sorted(order) == ["paused", "second locked", "sent"]


async def test_pause_gives_up_after_its_lock_timeout(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn)
    async with db.tenant_session(tenant.tenant_id) as holding:
        await OutboxRepository(holding).lock_campaign_shared(tenant.campaign_id)
        with pytest.raises(DBAPIError, match="lock timeout"):
            async with db.tenant_session(tenant.tenant_id) as session:
                await OutboxRepository(session).pause_campaign(tenant.campaign_id, "user", 200)
    assert (
        await admin_conn.fetchval("SELECT status FROM campaigns WHERE id = $1", tenant.campaign_id)
        == "sending"
    )


async def test_each_actor_lifts_only_its_own_pause(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    tenant = await sending_tenant(admin_conn)
    async with db.tenant_session(tenant.tenant_id) as session:
        repo = OutboxRepository(session)
        await repo.pause_campaign(tenant.campaign_id, "user", 1000)
        await repo.pause_campaign(tenant.campaign_id, "billing", 1000)
        await repo.pause_campaign(tenant.campaign_id, "user", 1000)  # twice: one reason
        assert await repo.lift_pause(tenant.campaign_id, "user") == ("paused", ["billing"])
        assert await repo.lift_pause(tenant.campaign_id, "billing") == ("sending", [])


async def test_reserve_send_and_pause_together_neither_deadlock_nor_stall(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    """Many leads reserved, sent (some deferred, giving slots back) and the campaign paused
    and resumed, all at once: everything finishes, and the counters match the rows."""
    tenant = await sending_tenant(admin_conn, leads=0, daily_cap=1000)
    leads = await add_leads(admin_conn, tenant, 40)

    async def one(n: int, lead: UUID) -> None:
        try:
            reservation = await _reserve(db, tenant, lead)
        except Refused:
            return
        req = tenant.request(lead)
        async with db.tenant_session(tenant.tenant_id) as session:
            repo = OutboxRepository(session)
            await repo.lock_campaign_shared(tenant.campaign_id)
            check = await repo.recheck(reservation.id, req.address_hash, req.to_domain)
            await asyncio.sleep(0.005)  # the SMTP exchange
            if check.blocked_by or n % 3 == 0:
                await repo.defer(reservation.id, check.blocked_by or "4xx")
            else:
                await repo.mark_sent(reservation.id)

    async def pauses() -> None:
        for _ in range(5):
            async with db.tenant_session(tenant.tenant_id) as session:
                await OutboxRepository(session).pause_campaign(tenant.campaign_id, "user", 5000)
            async with db.tenant_session(tenant.tenant_id) as session:
                await OutboxRepository(session).lift_pause(tenant.campaign_id, "user")
            await asyncio.sleep(0.01)

    await asyncio.wait_for(
        asyncio.gather(pauses(), *(one(n, lead) for n, lead in enumerate(leads))), timeout=60
    )
    sent = await admin_conn.fetchval(
        "SELECT count(*) FROM inbox_message_refs WHERE campaign_id = $1 AND status = 'sent'",
        tenant.campaign_id,
    )
    assert sent > 0
    assert await _counter(admin_conn, tenant.mailbox_id) == sent  # every give-back returned
