"""Warmup statistics in the analytics database: interactions recorded once with their day's
counters, and the reconcile pass rebuilding those counters from the raw rows."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import text

from penguinmails.db import Database
from penguinmails.repositories.warmup_stats import Interaction, WarmupStatsRepository
from penguinmails.warmup_exchange import reputation_score


async def _days(db: Database, tenant: uuid.UUID, mailbox: uuid.UUID) -> list[tuple[int, ...]]:
    async with db.analytics_session(tenant) as session:
        days = await WarmupStatsRepository(session).days(mailbox, dt.date(2000, 1, 1))
    return [
        (
            d.emails_sent,
            d.opens_received,
            d.replies_received,
            d.rescued_from_spam,
            d.reputation_score,
        )
        for d in days
    ]


async def test_record_counts_each_interaction_once_and_reconcile_rebuilds_the_day(
    db: Database,
) -> None:
    tenant, mailbox = uuid.uuid4(), uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    items = [Interaction("sent", f"<s{n}@a.test>", "p@b.test") for n in range(4)] + [
        Interaction("opened", "<s0@a.test>", "p@b.test"),
        Interaction("opened", "<s1@a.test>", "p@b.test"),
        Interaction("replied", "<s0@a.test>", "p@b.test"),
        Interaction("moved_to_inbox", "<s1@a.test>", "p@b.test"),
        Interaction("received", "<r0@b.test>", "p@b.test"),  # moves no counter
    ]
    async with db.analytics_session(tenant) as session:
        added = await WarmupStatsRepository(session).record(tenant, mailbox, now, items)
    assert added == {"sent": 4, "opened": 2, "replied": 1, "moved_to_inbox": 1, "received": 1}
    expected = (4, 2, 1, 1, reputation_score(4, 2, 1, 1))
    assert await _days(db, tenant, mailbox) == [expected]
    async with db.analytics_session(tenant) as session:  # the same round again
        assert await WarmupStatsRepository(session).record(tenant, mailbox, now, items) == {}
    assert await _days(db, tenant, mailbox) == [expected]

    # Counters that drifted from the raw rows (a crash between two writes, a manual fix):
    # the reconcile pass rebuilds them, twice to the same result.
    async with db.analytics_session(tenant) as session:
        await session.execute(
            text(
                "UPDATE warmup_daily_stats SET emails_sent = 99, reputation_score = 1 "
                "WHERE mailbox_id = :m"
            ),
            {"m": mailbox},
        )
        stale = uuid.uuid4()  # a day row whose interactions are gone
        await session.execute(
            text(
                "INSERT INTO warmup_daily_stats (tenant_id, mailbox_id, date, emails_sent) "
                "VALUES (:t, :m, :d, 7)"
            ),
            {"t": tenant, "m": stale, "d": now.date()},
        )
    for _ in range(2):
        async with db.analytics_session(tenant) as session:
            await WarmupStatsRepository(session).reconcile(
                tenant, now.date() - dt.timedelta(days=1)
            )
        assert await _days(db, tenant, mailbox) == [expected]
        assert await _days(db, tenant, stale) == [(0, 0, 0, 0, 0)]
    # Another tenant's reconcile sees none of it.
    other = uuid.uuid4()
    async with db.analytics_session(other) as session:
        assert await WarmupStatsRepository(session).reconcile(other, now.date()) == 0
    assert await _days(db, other, mailbox) == []
