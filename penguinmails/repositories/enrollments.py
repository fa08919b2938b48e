"""Enrollment (`campaign_leads`): a lead's place in a campaign, as the campaign engine reads
and moves it. The campaign workflow pages it with a keyset cursor on the enrollment id (the
index `(tenant_id, campaign_id, status, id)`); lead ids never live in workflow state.

An enrollment is *claimed* when the campaign moves it `pending -> active` to start its
sequence, and *started* when the sequence's first activity stamps `started_at`. A claimed
row without `started_at` is claimed again by a retried claim, so a page whose answer was
lost is never stranded; starting a sequence twice finds it started.

Endings are written once: a status outside the open ones (`pending`, `active`, `paused`)
is never overwritten, so a cancel racing a reply keeps whichever came first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.campaigns import OPEN_ENROLLMENT_STATUSES

# The open statuses as an SQL list (constants only: nothing from outside reaches it).
OPEN = "(" + ", ".join(f"'{status}'" for status in OPEN_ENROLLMENT_STATUSES) + ")"


@dataclass(frozen=True)
class Enrollment:
    id: UUID
    lead_id: UUID
    status: str
    current_step: int
    email_account_id: UUID | None
    variant_draw: float


@dataclass(frozen=True)
class Counts:
    pending: int = 0
    active: int = 0
    paused: int = 0


class EnrollmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _rows(self, sql: str, **params: Any) -> list[Any]:
        return list((await self.session.execute(text(sql), params)).all())

    async def start(self, campaign_id: UUID, lead_id: UUID) -> Enrollment | None:
        """The sequence's first step: `pending -> active` (when the claim did not already),
        `started_at` stamped once. None when there is no such enrollment."""
        rows = await self._rows(
            f"""
            UPDATE campaign_leads
            SET status = CASE WHEN status = 'pending' THEN 'active' ELSE status END,
                started_at = CASE WHEN status IN {OPEN} THEN coalesce(started_at, now())
                                  ELSE started_at END,
                updated = now()
            WHERE campaign_id = :campaign_id AND lead_id = :lead_id
            RETURNING id, lead_id, status, current_step, email_account_id, variant_draw
            """,  # noqa: S608 — OPEN is a module constant
            campaign_id=campaign_id,
            lead_id=lead_id,
        )
        return Enrollment(*rows[0]) if rows else None

    async def thread_message_id(self, campaign_id: UUID, lead_id: UUID) -> str | None:
        """The Message-ID of the lead's first message in the campaign (follow-ups thread
        under it): the outbox keeps it, one row per (campaign, lead, step)."""
        rows = await self._rows(
            """
            SELECT m.message_id FROM inbox_message_refs m
            JOIN campaign_sequence_steps s ON s.id = m.step_id
            WHERE m.direction = 'outbound' AND NOT m.is_test AND m.campaign_id = :campaign_id
              AND m.lead_id = :lead_id AND m.status NOT IN ('reserved', 'deferred', 'failed')
            ORDER BY s.step_order LIMIT 1
            """,
            campaign_id=campaign_id,
            lead_id=lead_id,
        )
        return str(rows[0][0]) if rows else None

    async def record_progress(
        self,
        campaign_id: UUID,
        lead_id: UUID,
        step_order: int,
        mailbox_id: UUID | None,
        skip_reason: str | None,
    ) -> bool:
        """The step done; the first touch's mailbox becomes sticky (never replaced). False
        when the enrollment has ended meanwhile."""
        rows = await self._rows(
            f"""
            UPDATE campaign_leads
            SET current_step = greatest(current_step, :step),
                email_account_id = coalesce(email_account_id, CAST(:mailbox AS uuid)),
                last_skip_reason = CAST(:skip AS text),
                next_action_at = NULL,
                updated = now()
            WHERE campaign_id = :campaign_id AND lead_id = :lead_id AND status IN {OPEN}
            RETURNING id
            """,  # noqa: S608 — OPEN is a module constant
            campaign_id=campaign_id,
            lead_id=lead_id,
            step=step_order,
            mailbox=mailbox_id,
            skip=skip_reason,
        )
        return bool(rows)

    async def end(
        self, campaign_id: UUID, lead_id: UUID, status: str, reason: str | None
    ) -> tuple[str, bool] | None:
        """(status now, True when this call ended it); None without an enrollment."""
        rows = await self._rows(
            f"""
            UPDATE campaign_leads
            SET status = :status, finished_at = now(), next_action_at = NULL,
                last_skip_reason = coalesce(CAST(:reason AS text), last_skip_reason),
                updated = now()
            WHERE campaign_id = :campaign_id AND lead_id = :lead_id AND status IN {OPEN}
            RETURNING status
            """,  # noqa: S608 — OPEN is a module constant
            campaign_id=campaign_id,
            lead_id=lead_id,
            status=status,
            reason=reason or None,
        )
        if rows:
            return str(rows[0][0]), True
        rows = await self._rows(
            "SELECT status FROM campaign_leads WHERE campaign_id = :campaign_id "
            "AND lead_id = :lead_id",
            campaign_id=campaign_id,
            lead_id=lead_id,
        )
        return (str(rows[0][0]), False) if rows else None

    async def ended_counts(self, campaign_id: UUID) -> dict[str, int]:
        """How the campaign's enrollments ended: count per closed status."""
        rows = await self._rows(
            f"SELECT status, count(*) FROM campaign_leads WHERE campaign_id = :campaign_id "  # noqa: S608 — OPEN is a module constant
            f"AND status NOT IN {OPEN} GROUP BY status",
            campaign_id=campaign_id,
        )
        return {str(status): int(n) for status, n in rows}

    async def counts(self, campaign_id: UUID) -> Counts:
        rows = await self._rows(
            f"SELECT status, count(*) FROM campaign_leads WHERE campaign_id = :campaign_id "  # noqa: S608 — OPEN is a module constant
            f"AND status IN {OPEN} GROUP BY status",
            campaign_id=campaign_id,
        )
        found = {str(status): int(n) for status, n in rows}
        return Counts(found.get("pending", 0), found.get("active", 0), found.get("paused", 0))

    async def claim(
        self, campaign_id: UUID, after: UUID | None, limit: int
    ) -> list[tuple[UUID, UUID]]:
        """The next page after the cursor of enrollments to start, claimed `pending ->
        active`: (enrollment id, lead id) in id order. Rows claimed earlier but not started
        (a retried claim, a continue-as-new in between) come back too."""
        rows = await self._rows(
            """
            WITH page AS (
              SELECT id FROM campaign_leads
              WHERE campaign_id = :campaign_id
                AND (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid))
                AND (status = 'pending' OR (status = 'active' AND started_at IS NULL))
              ORDER BY id
              LIMIT :limit
              FOR UPDATE
            )
            UPDATE campaign_leads c SET status = 'active', updated = now()
            FROM page WHERE c.id = page.id
            RETURNING c.id, c.lead_id
            """,
            campaign_id=campaign_id,
            after=after,
            limit=limit,
        )
        return sorted((r[0], r[1]) for r in rows)

    async def open_page(
        self, campaign_id: UUID, after: UUID | None, limit: int, statuses: tuple[str, ...]
    ) -> list[tuple[UUID, UUID]]:
        """(enrollment id, lead id) of one keyset page of the campaign's enrollments in
        `statuses`."""
        rows = await self._rows(
            """
            SELECT id, lead_id FROM campaign_leads
            WHERE campaign_id = :campaign_id AND status = ANY(:statuses)
              AND (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid))
            ORDER BY id LIMIT :limit
            """,
            campaign_id=campaign_id,
            after=after,
            limit=limit,
            statuses=list(statuses),
        )
        return [(r[0], r[1]) for r in rows]

    async def stop(self, ids: list[UUID], reason: str) -> list[UUID]:
        """Open enrollments among `ids` marked `stopped`: the lead ids of those it stopped."""
        rows = await self._rows(
            f"""
            UPDATE campaign_leads
            SET status = 'stopped', finished_at = now(), next_action_at = NULL,
                last_skip_reason = :reason, updated = now()
            WHERE id = ANY(:ids) AND status IN {OPEN}
            RETURNING lead_id
            """,  # noqa: S608 — OPEN is a module constant
            ids=ids,
            reason=reason,
        )
        return [r[0] for r in rows]

    async def stop_company(self, campaign_id: UUID, lead_id: UUID, domain: str) -> list[UUID]:
        """Stop-for-company: the campaign's other open enrollments whose address is at
        `domain`, marked `stopped`; their lead ids (their workflows are cancelled next)."""
        rows = await self._rows(
            f"""
            UPDATE campaign_leads c
            SET status = 'stopped', finished_at = now(), next_action_at = NULL,
                last_skip_reason = 'company_replied', updated = now()
            FROM leads l
            WHERE c.campaign_id = :campaign_id AND c.lead_id <> :lead_id
              AND c.status IN {OPEN} AND l.id = c.lead_id
              AND split_part(l.email_key, '@', 2) = :domain
            RETURNING c.lead_id
            """,  # noqa: S608 — OPEN is a module constant
            campaign_id=campaign_id,
            lead_id=lead_id,
            domain=domain.lower(),
        )
        return [r[0] for r in rows]
