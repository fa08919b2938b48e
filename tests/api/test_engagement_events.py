"""Tracking hits and sends through the events stream into the analytics database: raw rows,
unique numerators beside raw totals, bots kept but left out, the outbox's first times set
(never its status); a replayed entry changes nothing; a consumer that died mid-batch loses
nothing (its entries are claimed by another); an entry that is not an event is
dead-lettered."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from activities.events import EventsConsumer
from api.services import Services
from penguinmails import tokens
from penguinmails.db import Database
from penguinmails.repositories.analytics_events import AnalyticsEventRepository
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings, asyncpg_dsn
from penguinmails.tokens import TokenClaims, TokenKind
from tests.api.conftest import Tenant
from tests.api.test_tracking import events_of, outbox_id
from tests.api.test_unsubscribe import Sent, send_to_lead

PERSON = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Thunderbird/128.0"}


@pytest.fixture
async def tkey(secret_store: SecretStore, settings: Settings) -> bytes:
    return await tokens.tracking_key(secret_store, settings)


@pytest.fixture
async def analytics(settings: Settings) -> Any:
    assert settings.analytics_database_url
    conn = await asyncpg.connect(asyncpg_dsn(settings.analytics_database_url))
    yield conn
    await conn.close()


def consumer(services: Services, **overrides: Any) -> EventsConsumer:
    settings = services.settings.model_copy(
        update={"events_group": f"test-{uuid.uuid4().hex[:8]}", **overrides}
    )
    return EventsConsumer(services.db, services.redis, None, settings, name="c1")


async def drain(c: EventsConsumer) -> None:
    while await c.cycle(block_ms=None):
        pass


async def sent_event(services: Services, sent: Sent, email_id: str) -> dict[str, str]:
    """What the send activity appends after `sent` (its id the outbox row's), with the row
    marked sent an hour ago."""
    async with services.db.tenant_session(sent.tenant_id) as session:
        row = (
            await session.execute(
                text(
                    "UPDATE inbox_message_refs SET sent_at = now() - interval '1 hour' "
                    "WHERE id = :id RETURNING campaign_id, email_account_id, sent_at"
                ),
                {"id": email_id},
            )
        ).one()
    fields = {
        "id": email_id,
        "type": "sent",
        "tenant": str(sent.tenant_id),
        "campaign": str(row[0]),
        "mailbox": str(row[1]),
        "lead": str(sent.lead_id),
        "at": row[2].isoformat(),
    }
    await services.redis.xadd(services.settings.events_stream, fields)  # type: ignore[arg-type]
    return fields


async def daily(analytics: asyncpg.Connection, tenant_id: uuid.UUID) -> dict[str, int]:
    row = await analytics.fetchrow(
        "SELECT sum(emails_sent) sent, sum(emails_opened) opened, sum(opens_total) opens, "
        "sum(bot_opens) bot_opens, sum(emails_clicked) clicked, sum(clicks_total) clicks "
        "FROM daily_analytics WHERE tenant_id = $1",
        tenant_id,
    )
    return {k: int(v or 0) for k, v in dict(row).items()}


async def test_hits_become_rows_counted_once(
    api: httpx.AsyncClient,
    services: Services,
    db: Database,
    tenant_a: Tenant,
    tkey: bytes,
    analytics: asyncpg.Connection,
    admin_conn: asyncpg.Connection,
) -> None:
    sent = await send_to_lead(db, tenant_a, tkey, f"e.{uuid.uuid4().hex[:6]}@example.com")
    email_id = await outbox_id(db, sent)
    await sent_event(services, sent, email_id)
    open_token = tokens.sign(
        tkey, TokenClaims(str(sent.tenant_id), sent.message_id, TokenKind.OPEN)
    )
    click_token = tokens.sign(
        tkey,
        TokenClaims(str(sent.tenant_id), sent.message_id, TokenKind.CLICK, "https://example.com/a"),
    )
    for _ in range(3):  # three opens of one message: one unique open, three in the total
        assert (await api.get(f"/t/o/{open_token}", headers=PERSON)).status_code == 200
    assert (await api.head(f"/t/o/{open_token}", headers=PERSON)).status_code == 200  # a bot
    assert (await api.get(f"/t/c/{click_token}", headers=PERSON)).status_code == 302

    c = consumer(services)
    await drain(c)
    expected = {"sent": 1, "opened": 1, "opens": 3, "bot_opens": 1, "clicked": 1, "clicks": 1}
    assert await daily(analytics, sent.tenant_id) == expected
    opens = await analytics.fetch(
        "SELECT bot FROM email_opens WHERE email_id = $1 ORDER BY bot", uuid.UUID(email_id)
    )
    assert [r["bot"] for r in opens] == [False, False, False, True]
    row = await admin_conn.fetchrow(
        "SELECT status, opened_at, clicked_at FROM inbox_message_refs WHERE id = $1",
        uuid.UUID(email_id),
    )
    assert row["status"] == "sent" and row["opened_at"] and row["clicked_at"]
    rate = await analytics.fetchval(
        "SELECT max(open_rate) FROM daily_analytics WHERE tenant_id = $1", sent.tenant_id
    )
    assert rate == 100  # one of one: the repeats do not push it past 100%

    # Every entry appended again (a producer's retry, a replay): nothing moves.
    for entry in await events_of(services, tenant=str(sent.tenant_id)):
        await services.redis.xadd(services.settings.events_stream, entry)  # type: ignore[arg-type]
    await drain(c)
    assert await daily(analytics, sent.tenant_id) == expected
    assert (
        await analytics.fetchval(
            "SELECT count(*) FROM email_opens WHERE email_id = $1", uuid.UUID(email_id)
        )
        == 4
    )


async def test_a_consumer_dying_mid_batch_loses_nothing(
    api: httpx.AsyncClient,
    services: Services,
    db: Database,
    tenant_a: Tenant,
    tkey: bytes,
    analytics: asyncpg.Connection,
) -> None:
    sent = await send_to_lead(db, tenant_a, tkey, f"k.{uuid.uuid4().hex[:6]}@example.com")
    email_id = await outbox_id(db, sent)
    survivor = consumer(services, events_claim_idle_seconds=0.2)
    await survivor._ensure_group()  # the group exists before the hits arrive
    await sent_event(services, sent, email_id)
    token = tokens.sign(tkey, TokenClaims(str(sent.tenant_id), sent.message_id, TokenKind.OPEN))
    for _ in range(2):
        assert (await api.get(f"/t/o/{token}", headers=PERSON)).status_code == 200

    # Another consumer of the group reads everything and dies before acknowledging.
    stream, group = services.settings.events_stream, survivor.group
    read = await services.redis.xreadgroup(group, "dead", {stream: ">"}, count=100_000)
    assert sum(len(entries) for _, entries in read) >= 3
    await asyncio.sleep(0.3)  # past the claim idle time
    await drain(survivor)
    assert (await services.redis.xpending(stream, group))["pending"] == 0
    counts = await daily(analytics, sent.tenant_id)
    assert (counts["sent"], counts["opened"], counts["opens"]) == (1, 1, 2)


async def test_an_entry_that_is_not_an_event_is_dead_lettered(services: Services) -> None:
    c = consumer(services)
    await c._ensure_group()
    stream = services.settings.events_stream
    bad = await services.redis.xadd(stream, {"type": "open", "id": "not-a-uuid", "tenant": "x"})
    await drain(c)
    assert (await services.redis.xpending(stream, c.group))["pending"] == 0
    dead = await services.redis.xrange(f"{stream}:dead", "-", "+")
    assert any(fields[b"entry"] == bad for _, fields in dead)


async def test_a_scanner_clicking_every_link_at_once_is_a_bot(
    services: Services, db: Database, analytics: asyncpg.Connection
) -> None:
    tenant, email = uuid.uuid4(), str(uuid.uuid4())
    sent_at = "2026-11-20T10:00:00+00:00"
    base = {"tenant": str(tenant), "email": email, "sent_at": sent_at}
    stream = services.settings.events_stream
    await services.redis.xadd(stream, base | {"id": email, "type": "sent", "at": sent_at})  # type: ignore[arg-type]
    for n in range(3):  # three links within half a second
        at = f"2026-11-20T11:00:00.{n * 2}00000+00:00"
        click = base | {
            "id": str(uuid.uuid4()),
            "type": "click",
            "url": f"https://x.test/{n}",
            "at": at,
        }
        await services.redis.xadd(stream, click)  # type: ignore[arg-type]
    await drain(consumer(services))
    query = (
        "SELECT emails_clicked, clicks_total, bot_clicks FROM daily_analytics WHERE tenant_id = $1"
    )
    # The consumer sees the burst from its second click on.
    assert tuple(await analytics.fetchrow(query, tenant)) == (1, 1, 2)
    async with db.analytics_session(tenant) as session:
        await AnalyticsEventRepository(session).reconcile(tenant, dt.date(2026, 11, 19))
    assert tuple(await analytics.fetchrow(query, tenant)) == (0, 0, 3)
