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
            score = reputation_score(
                day.emails_sent, day.opens_received, day.replies_received, day.rescued_from_spam
            )
            await self.session.execute(
                text("UPDATE warmup_daily_stats SET reputation_score = :s WHERE id = :id"),
                {"s": score, "id": day.id},
            )
        return added

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
