"""Warmup interactions and their daily roll-up (analytics database, one mailbox's rows).

Each interaction is about one warmup message and is recorded once (unique per tenant,
mailbox, type and Message-ID); `warmup_daily_stats` moves only for the rows actually
inserted, so a repeated exchange round never counts twice. What a row means for the
mailbox it belongs to:

- `sent`: the mailbox sent that warmup message;
- `received`: it received a partner's message;
- `opened`, `replied`, `moved_to_inbox`: a partner opened, answered, or rescued from spam
  the mailbox's message (recorded under the sender's tenant by the partner's round).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.warmup_exchange import reputation_score

# Interaction type -> the daily counter it moves (received moves none).
COUNTERS = {
    "sent": "emails_sent",
    "opened": "opens_received",
    "replied": "replies_received",
    "moved_to_inbox": "rescued_from_spam",
}

_RECORD = text(
    """
    WITH added AS (
        INSERT INTO warmup_interactions
            (tenant_id, mailbox_id, interaction_type, partner_mailbox, message_id, interaction)
        SELECT :tenant_id, :mailbox_id, x.kind, x.partner, x.message_id, :at
        FROM unnest(CAST(:kinds AS text[]), CAST(:partners AS text[]),
                    CAST(:message_ids AS text[])) AS x(kind, partner, message_id)
        ON CONFLICT (tenant_id, mailbox_id, interaction_type, message_id) DO NOTHING
        RETURNING interaction_type
    )
    SELECT interaction_type, count(*) AS n FROM added GROUP BY interaction_type
    """
)

# The reconcile pass: the counters of days from `since` recomputed from the raw interactions
# (absolute values; the days of the interactions' UTC dates, as `record` keys them).
_RECOUNT = text(
    """
    INSERT INTO warmup_daily_stats (tenant_id, mailbox_id, date, emails_sent, opens_received,
                                    replies_received, rescued_from_spam)
    SELECT :tenant_id, mailbox_id, (interaction AT TIME ZONE 'UTC')::date,
           count(*) FILTER (WHERE interaction_type = 'sent'),
           count(*) FILTER (WHERE interaction_type = 'opened'),
           count(*) FILTER (WHERE interaction_type = 'replied'),
           count(*) FILTER (WHERE interaction_type = 'moved_to_inbox')
    FROM warmup_interactions
    WHERE tenant_id = :tenant_id AND interaction >= CAST(:since AS timestamp) AT TIME ZONE 'UTC'
    GROUP BY mailbox_id, (interaction AT TIME ZONE 'UTC')::date
    ON CONFLICT (tenant_id, mailbox_id, date) DO UPDATE SET
        emails_sent = EXCLUDED.emails_sent,
        opens_received = EXCLUDED.opens_received,
        replies_received = EXCLUDED.replies_received,
        rescued_from_spam = EXCLUDED.rescued_from_spam,
        updated = now()
    """
)

_ROLL_UP = text(
    """
    INSERT INTO warmup_daily_stats (tenant_id, mailbox_id, date, emails_sent, opens_received,
                                    replies_received, rescued_from_spam)
    VALUES (:tenant_id, :mailbox_id, :date, :sent, :opened, :replied, :rescued)
    ON CONFLICT (tenant_id, mailbox_id, date) DO UPDATE SET
        emails_sent = warmup_daily_stats.emails_sent + EXCLUDED.emails_sent,
        opens_received = warmup_daily_stats.opens_received + EXCLUDED.opens_received,
        replies_received = warmup_daily_stats.replies_received + EXCLUDED.replies_received,
        rescued_from_spam = warmup_daily_stats.rescued_from_spam + EXCLUDED.rescued_from_spam,
        updated = now()
    RETURNING id, emails_sent, opens_received, replies_received, rescued_from_spam
    """
)


@dataclass(frozen=True)
class Interaction:
    kind: str  # sent, received, opened, replied, moved_to_inbox
    message_id: str
    partner: str | None = None  # the other address of the exchange


@dataclass(frozen=True)
class WarmupDay:
    date: dt.date
    emails_sent: int
    opens_received: int
    replies_received: int
    rescued_from_spam: int
    reputation_score: int


class WarmupStatsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self, tenant_id: UUID) -> None:
        """The tenant's roll-up lock (the one the events consumer and the analytics reconcile
        take): a round's increments and a reconcile pass never interleave."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended('analytics:' || :tenant, 0))"),
            {"tenant": str(tenant_id)},
        )

    async def record(
        self,
        tenant_id: UUID,
        mailbox_id: UUID,
        at: dt.datetime,
        items: list[Interaction],
    ) -> dict[str, int]:
        """Insert the interactions not recorded yet and move the day's counters (the day of
        `at`, UTC) by what was inserted; the new rows by type."""
        if not items:
            return {}
        await self.lock(tenant_id)
        rows = await self.session.execute(
            _RECORD,
            {
                "tenant_id": tenant_id,
                "mailbox_id": mailbox_id,
                "at": at,
                "kinds": [i.kind for i in items],
                "partners": [i.partner for i in items],
                "message_ids": [i.message_id for i in items],
            },
        )
        added = {r.interaction_type: int(r.n) for r in rows}
        moved = {column: added.get(kind, 0) for kind, column in COUNTERS.items()}
        if any(moved.values()):
            day = (
                await self.session.execute(
                    _ROLL_UP,
                    {
                        "tenant_id": tenant_id,
                        "mailbox_id": mailbox_id,
                        "date": at.astimezone(dt.UTC).date(),
                        "sent": moved["emails_sent"],
                        "opened": moved["opens_received"],
                        "replied": moved["replies_received"],
                        "rescued": moved["rescued_from_spam"],
                    },
                )
            ).one()
            await self._score([day])
        return added

    async def reconcile(self, tenant_id: UUID, since: dt.date) -> int:
        """Recompute the daily stats of days from `since` from the raw interactions
        (idempotent: running it twice changes nothing); rows of those days left without
        interactions are zeroed. Rows written."""
        await self.lock(tenant_id)
        params = {"tenant_id": tenant_id, "since": since}
        await self.session.execute(
            text(
                "UPDATE warmup_daily_stats SET emails_sent = 0, opens_received = 0, "
                "replies_received = 0, rescued_from_spam = 0, updated = now() "
                "WHERE tenant_id = :tenant_id AND date >= :since"
            ),
            params,
        )
        result = await self.session.execute(_RECOUNT, params)
        days = await self.session.execute(
            text(
                "SELECT id, emails_sent, opens_received, replies_received, rescued_from_spam "
                "FROM warmup_daily_stats WHERE tenant_id = :tenant_id AND date >= :since"
            ),
            params,
        )
        await self._score(list(days))
        return int(getattr(result, "rowcount", 0) or 0)

    async def _score(self, days: list[Any]) -> None:
        """The reputation score of each day row from its counters (one formula:
        `penguinmails.warmup_exchange.reputation_score`)."""
        if not days:
            return
        await self.session.execute(
            text(
                "UPDATE warmup_daily_stats s SET reputation_score = x.score "
                "FROM unnest(CAST(:ids AS uuid[]), CAST(:scores AS int[])) AS x(id, score) "
                "WHERE s.id = x.id"
            ),
            {
                "ids": [d.id for d in days],
                "scores": [
                    reputation_score(
                        d.emails_sent, d.opens_received, d.replies_received, d.rescued_from_spam
                    )
                    for d in days
                ],
            },
        )

    async def days(self, mailbox_id: UUID, since: dt.date) -> list[WarmupDay]:
        rows = await self.session.execute(
            text(
                "SELECT date, emails_sent, opens_received, replies_received, rescued_from_spam, "
                "reputation_score FROM warmup_daily_stats "
                "WHERE mailbox_id = :m AND date >= :since ORDER BY date"
            ),
            {"m": mailbox_id, "since": since},
        )
        return [WarmupDay(*r) for r in rows]
