"""Reading the analytics database's roll-ups (stats, time series)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

# The roll-up counters a report sums, as (report name, daily_analytics column).
SUMS = (
    ("sent", "emails_sent"),
    ("opened", "emails_opened"),
    ("clicked", "emails_clicked"),
    ("replied", "emails_replied"),
    ("bounced", "emails_bounced"),
    ("complained", "emails_complained"),
    ("unsubscribed", "emails_unsubscribed"),
    ("opens_total", "opens_total"),
    ("clicks_total", "clicks_total"),
    ("replies_total", "replies_total"),
    ("bot_opens", "bot_opens"),
    ("bot_clicks", "bot_clicks"),
)
_SELECT_SUMS = ", ".join(f"COALESCE(sum({column}), 0)" for _, column in SUMS)


@dataclass
class Counts:
    values: dict[str, int] = field(default_factory=lambda: {name: 0 for name, _ in SUMS})

    def add(self, other: Counts) -> None:
        for name, value in other.values.items():
            self.values[name] += value


@dataclass(frozen=True)
class StepVariantCounts:
    step_id: UUID | None
    variant_id: UUID | None
    counts: Counts


class AnalyticsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def mailbox_totals(self, since: dt.date) -> dict[UUID, tuple[int, int, int]]:
        """Per mailbox of the tenant: messages sent since `since` (their send day), and how
        many of those bounced and drew a complaint."""
        result = await self.session.execute(
            text(
                "SELECT mailbox_id, sum(emails_sent), sum(emails_bounced), "
                "sum(emails_complained) FROM daily_analytics "
                "WHERE date >= :since AND mailbox_id IS NOT NULL GROUP BY mailbox_id"
            ),
            {"since": since},
        )
        return {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in result}

    async def campaign_by_step_variant(self, campaign_id: UUID) -> list[StepVariantCounts]:
        result = await self.session.execute(
            text(
                f"SELECT step_id, variant_id, {_SELECT_SUMS} FROM daily_analytics "  # noqa: S608 — module constants only
                "WHERE campaign_id = :campaign GROUP BY step_id, variant_id"
            ),
            {"campaign": campaign_id},
        )
        return [
            StepVariantCounts(
                row[0],
                row[1],
                Counts({name: int(v) for (name, _), v in zip(SUMS, row[2:], strict=True)}),
            )
            for row in result
        ]

    async def timeseries(
        self,
        start: dt.date,
        end: dt.date,
        campaign_id: UUID | None = None,
        mailbox_id: UUID | None = None,
    ) -> list[tuple[dt.date, Counts]]:
        """Per day (send day in the tenant's zone) within [start, end], optionally one
        campaign's or one mailbox's."""
        result = await self.session.execute(
            text(
                f"SELECT date, {_SELECT_SUMS} FROM daily_analytics "  # noqa: S608 — module constants only
                "WHERE date BETWEEN :start AND :end "
                "AND (CAST(:campaign AS uuid) IS NULL OR campaign_id = :campaign) "
                "AND (CAST(:mailbox AS uuid) IS NULL OR mailbox_id = :mailbox) "
                "GROUP BY date ORDER BY date"
            ),
            {"start": start, "end": end, "campaign": campaign_id, "mailbox": mailbox_id},
        )
        return [
            (row[0], Counts({name: int(v) for (name, _), v in zip(SUMS, row[1:], strict=True)}))
            for row in result
        ]


@dataclass(frozen=True)
class TimelineEvent:
    type: str
    at: dt.datetime
    email_id: UUID | None
    campaign_id: UUID | None
    detail: str | None = None
    bot: bool = False


# The lead's events in the analytics database: (type, table, time column, detail, bot).
_TIMELINE = (
    ("opened", "email_opens", "opened", "NULL", "bot"),
    ("clicked", "email_clicks", "clicked", "clicked_url", "bot"),
    ("replied", "email_replies", "replied", "NULL", "false"),
    ("bounced", "email_bounces", "bounced", "bounce_type", "false"),
    ("complained", "email_complaints", "complained", "feedback_type", "false"),
    ("unsubscribed", "email_unsubscribes", "unsubscribed", "via", "false"),
)


def _timeline_part(kind: str, table: str, at: str, detail: str, bot: str) -> str:
    return f"""SELECT '{kind}' AS type, {at} AS at, email_id, campaign_id,
        {detail}::text AS detail, {bot} AS bot FROM {table} WHERE lead_id = :lead"""  # noqa: S608 — only module constants are interpolated


async def lead_timeline(session: AsyncSession, lead_id: UUID, limit: int) -> list[TimelineEvent]:
    """The lead's engagement events, newest first."""
    union = " UNION ALL ".join(_timeline_part(*part) for part in _TIMELINE)
    sql = f"""SELECT * FROM ({union}) e ORDER BY at DESC LIMIT :limit"""  # noqa: S608 — only module constants are interpolated
    result = await session.execute(text(sql), {"lead": lead_id, "limit": limit})
    return [TimelineEvent(*row) for row in result]


__all__ = [
    "SUMS",
    "AnalyticsRepository",
    "Counts",
    "StepVariantCounts",
    "TimelineEvent",
    "lead_timeline",
]
