"""Campaign reads and status moves for the campaign engine, and the analytics reads of its
condition steps. Pausing and its lock live in `OutboxRepository` (the send's contract).

The capacity here is deliberately minimal: it only sizes the enrollment window (how many
sequences run at once). The send itself takes every limit through the counters of the
reserve step (DESIGN "Capacity"), whose full function belongs to the delivery activity.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.campaigns import OPEN_ENROLLMENT_STATUSES

# Status moves the engine makes; an ended campaign never moves again.
ENDED = ("completed", "cancelled")


@dataclass(frozen=True)
class CampaignSettings:
    status: str
    pause_reasons: list[str]
    timezone: str
    configuration: dict[str, Any]
    stop_on_reply: bool
    stop_for_company: bool


@dataclass(frozen=True)
class StepRow:
    id: UUID
    step_order: int
    step_type: str
    wait_duration_hours: int | None
    wait_until_date: dt.datetime | None
    condition_type: str | None
    condition_value: str | None


@dataclass(frozen=True)
class StatusRow:
    status: str
    started_at: dt.datetime | None
    completed_at: dt.datetime | None


class CampaignRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _rows(self, sql: str, **params: Any) -> list[Any]:
        return list((await self.session.execute(text(sql), params)).all())

    async def settings(self, campaign_id: UUID) -> CampaignSettings | None:
        rows = await self._rows(
            "SELECT status, pause_reasons, timezone, configuration, stop_on_reply, "
            "stop_for_company FROM campaigns WHERE id = :id",
            id=campaign_id,
        )
        if not rows:
            return None
        r = rows[0]
        return CampaignSettings(
            r.status,
            list(r.pause_reasons),
            r.timezone,
            dict(r.configuration or {}),
            r.stop_on_reply,
            r.stop_for_company,
        )

    async def name(self, campaign_id: UUID) -> str | None:
        rows = await self._rows("SELECT name FROM campaigns WHERE id = :id", id=campaign_id)
        return str(rows[0][0]) if rows else None

    async def steps_after(self, campaign_id: UUID, step_order: int) -> list[StepRow]:
        """The campaign's active steps after `step_order`, in order."""
        rows = await self._rows(
            "SELECT id, step_order, step_type, wait_duration_hours, wait_until_date, "
            "condition_type, condition_value FROM campaign_sequence_steps "
            "WHERE campaign_id = :id AND is_active AND step_order > :after ORDER BY step_order",
            id=campaign_id,
            after=step_order,
        )
        return [StepRow(*r) for r in rows]

    async def lead_zone_and_domain(self, lead_id: UUID) -> tuple[str | None, str | None] | None:
        """The lead's time zone as stored (maybe not IANA) and its address's domain."""
        rows = await self._rows(
            "SELECT timezone, split_part(email_key, '@', 2) FROM leads WHERE id = :id",
            id=lead_id,
        )
        return (rows[0][0], rows[0][1] or None) if rows else None

    async def set_status(self, campaign_id: UUID, status: str) -> StatusRow | None:
        """The workflow's status mirrored: `started_at` on the first `sending`,
        `completed_at` at an end; an ended campaign keeps its end."""
        rows = await self._rows(
            f"""
            UPDATE campaigns
            SET status = CASE WHEN status IN {_sql_list(ENDED)} THEN status ELSE :status END,
                started_at = CASE WHEN :status = 'sending' THEN coalesce(started_at, now())
                                  ELSE started_at END,
                completed_at = CASE WHEN :status IN {_sql_list(ENDED)}
                                    THEN coalesce(completed_at, now()) ELSE completed_at END,
                updated = now()
            WHERE id = :id
            RETURNING status, started_at, completed_at
            """,  # noqa: S608 — only module constants (status lists, table names) are interpolated
            id=campaign_id,
            status=status,
        )
        return StatusRow(*rows[0]) if rows else None

    async def complete_when_done(self, campaign_id: UUID) -> tuple[StatusRow, bool] | None:
        """`completed`, unless an enrollment is open: (the row, True when this call completed
        it); None without the campaign. The row lock comes first and the count in a statement
        of its own after it (READ COMMITTED: a fresh snapshot), so it cannot miss an
        enrollment committed meanwhile: enrolling locks the same row and refuses an ended
        campaign, so either the enrollment committed before this count sees it, or it waits
        and finds the campaign completed."""
        rows = await self._rows(
            "SELECT status, started_at, completed_at FROM campaigns WHERE id = :id FOR UPDATE",
            id=campaign_id,
        )
        if not rows:
            return None
        still_open = await self._rows(
            f"SELECT 1 FROM campaign_leads WHERE campaign_id = :id AND status IN "  # noqa: S608 — a module constant
            f"{_sql_list(OPEN_ENROLLMENT_STATUSES)} LIMIT 1",
            id=campaign_id,
        )
        if still_open:
            return StatusRow(*rows[0]), False
        row = await self.set_status(campaign_id, "completed")
        return (row, True) if row is not None else None

    async def window_capacity(self, campaign_id: UUID) -> int:
        """Sends the campaign can make in a day: the daily caps of its active, unpaused
        mailboxes, within the campaign's own daily limit."""
        rows = await self._rows(
            """
            SELECT least(coalesce(sum(ea.daily_cap), 0), coalesce(c.daily_limit, 2147483647))
            FROM campaigns c
            LEFT JOIN campaign_mailboxes cm ON cm.campaign_id = c.id
            LEFT JOIN email_accounts ea ON ea.id = cm.email_account_id
              AND ea.status = 'active' AND ea.pause_reasons = '{}' AND ea.deleted IS NULL
            WHERE c.id = :id
            GROUP BY c.daily_limit
            """,
            id=campaign_id,
        )
        return int(rows[0][0]) if rows else 0

    async def sends_in_flight(self, campaign_id: UUID) -> list[str]:
        """Outbox rows of the campaign whose send may be in its SMTP exchange (reserved and
        attempted): what holds the campaign's lock when a pause times out."""
        rows = await self._rows(
            "SELECT message_id FROM inbox_message_refs WHERE campaign_id = :id "
            "AND direction = 'outbound' AND status = 'reserved' AND attempts > 0 "
            "ORDER BY updated LIMIT 50",
            id=campaign_id,
        )
        return [str(r[0]) for r in rows]

    async def add_pause_reason(self, campaign_id: UUID, reason: str) -> str | None:
        """The reason recorded without the lock (after a pause's lock timed out): no new
        send passes its re-check; the status after."""
        rows = await self._rows(
            """
            UPDATE campaigns
            SET pause_reasons = CASE WHEN :reason = ANY(pause_reasons) THEN pause_reasons
                                     ELSE array_append(pause_reasons, :reason) END,
                status = CASE WHEN status IN ('sending', 'scheduled', 'paused') THEN 'paused'
                              ELSE status END,
                updated = now()
            WHERE id = :id RETURNING status
            """,
            id=campaign_id,
            reason=reason,
        )
        return str(rows[0][0]) if rows else None

    async def pause_reasons(self, campaign_id: UUID) -> list[str]:
        rows = await self._rows(
            "SELECT pause_reasons FROM campaigns WHERE id = :id", id=campaign_id
        )
        return list(rows[0][0]) if rows else []


class ConditionRepository:
    """The analytics database: what a lead did with the campaign's messages. Opens and clicks
    flagged as bots (scanners, link checkers) never count."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _exists(self, table: str, extra: str, campaign_id: UUID, lead_id: UUID) -> bool:
        row = (
            await self.session.execute(
                text(
                    f"SELECT EXISTS (SELECT 1 FROM {table} WHERE campaign_id = :campaign_id "  # noqa: S608 — only module constants (status lists, table names) are interpolated
                    f"AND lead_id = :lead_id{extra})"
                ),
                {"campaign_id": campaign_id, "lead_id": lead_id},
            )
        ).scalar_one()
        return bool(row)

    async def replied(self, campaign_id: UUID, lead_id: UUID) -> bool:
        return await self._exists("email_replies", "", campaign_id, lead_id)

    async def opened(self, campaign_id: UUID, lead_id: UUID) -> bool:
        return await self._exists("email_opens", " AND NOT bot", campaign_id, lead_id)

    async def clicked(self, campaign_id: UUID, lead_id: UUID) -> bool:
        return await self._exists("email_clicks", " AND NOT bot", campaign_id, lead_id)


def _sql_list(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"
