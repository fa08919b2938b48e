"""What staff see of one tenant: its campaigns by status, its mailboxes with their health and
its recent failures. Read in the tenant's own session (row-level security keeps every
statement to that tenant); the plan and usage come from the subscription and plan-limit
repositories."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

RECENT_FAILURES = 20


@dataclass(frozen=True)
class TenantRow:
    id: UUID
    name: str
    created: dt.datetime
    suspended: dt.datetime | None
    suspended_reason: str | None


@dataclass(frozen=True)
class MailboxHealth:
    id: UUID
    email: str
    status: str
    pause_reasons: list[str]
    daily_cap: int
    sent_today: int


@dataclass(frozen=True)
class Failure:
    kind: str  # `send` (a failed or unknown outbox row) or `notification` (error, critical)
    id: UUID
    at: dt.datetime
    summary: str
    detail: str | None


# Sends today from the mailbox's own day counter (the capacity function's); the bounce and
# complaint figures come from the analytics roll-up (AnalyticsRepository.mailbox_totals),
# not from a scan of the outbox.
_MAILBOXES = """
SELECT ea.id, ea.email, ea.status, ea.pause_reasons, ea.daily_cap,
       coalesce(mdc.sent_count, 0) AS sent_today
FROM email_accounts ea
LEFT JOIN mailbox_daily_counters mdc
  ON mdc.email_account_id = ea.id AND mdc.day = (now() AT TIME ZONE ea.timezone)::date
WHERE ea.deleted IS NULL
ORDER BY ea.email
"""

# The sends through their partial index (idx_inbox_message_refs_failures, migration 0014).
_FAILURES = """
(SELECT 'send' AS kind, id, updated AS at,
        'send ' || status || coalesce(' to mailbox ' || email_account_id::text, '') AS summary,
        error_message AS detail
 FROM inbox_message_refs
 WHERE direction = 'outbound' AND status IN ('failed', 'unknown')
 ORDER BY updated DESC LIMIT :n)
UNION ALL
(SELECT 'notification', id, created, type || ': ' || title, message
 FROM notifications WHERE severity IN ('error', 'critical')
 ORDER BY created DESC LIMIT :n)
ORDER BY at DESC LIMIT :n
"""


class TenantOverviewRepository:
    """A tenant session's view of its own tenant, for staff."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def tenant(self, tenant_id: UUID) -> TenantRow | None:
        row = (
            await self.session.execute(
                text(
                    "SELECT id, name, created, suspended, suspended_reason FROM tenants "
                    "WHERE id = :t AND deleted IS NULL"
                ),
                {"t": tenant_id},
            )
        ).first()
        return None if row is None else TenantRow(**row._mapping)

    async def campaigns_by_status(self) -> dict[str, int]:
        rows = await self.session.execute(
            text("SELECT status, count(*) AS n FROM campaigns GROUP BY status")
        )
        return {r.status: int(r.n) for r in rows}

    async def mailboxes(self) -> list[MailboxHealth]:
        rows = await self.session.execute(text(_MAILBOXES))
        return [
            MailboxHealth(**{**r._mapping, "pause_reasons": list(r.pause_reasons or [])})
            for r in rows
        ]

    async def recent_failures(self) -> list[Failure]:
        rows = await self.session.execute(text(_FAILURES), {"n": RECENT_FAILURES})
        return [Failure(**r._mapping) for r in rows]


__all__ = ["Failure", "MailboxHealth", "TenantOverviewRepository", "TenantRow"]
