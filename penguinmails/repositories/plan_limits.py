"""The plan's limits where the work happens: creating a mailbox, a domain, a member or an API
key takes the tenant's lock for that limit first, then counts and compares in the same
transaction, which inserts the object and commits (the lock is transaction-scoped, so two
concurrent creations are never both counted before either is inserted).

The tenant is passed explicitly, so the same check runs in a tenant session (RLS) and in
the system role's session (a membership is written there).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.billing import PlanLimitExceeded

# What counts against each limit (live objects only; a deleted mailbox frees its place).
_USED = {
    "mailboxes": "SELECT count(*) FROM email_accounts WHERE tenant_id = :t AND deleted IS NULL",
    "domains": "SELECT count(*) FROM domains WHERE tenant_id = :t AND deleted IS NULL",
    "users": "SELECT count(*) FROM tenant_users WHERE tenant_id = :t AND deleted IS NULL",
    "api_keys": "SELECT count(*) FROM api_keys WHERE tenant_id = :t AND revoked IS NULL",
    "active_leads": (
        "SELECT count(*) FROM leads WHERE tenant_id = :t AND status = 'active' AND deleted IS NULL"
    ),
    "emails_per_month": (
        "SELECT coalesce(sum(sent_count), 0) FROM tenant_monthly_counters WHERE tenant_id = :t "
        "AND month = date_trunc('month', now() AT TIME ZONE 'UTC')::date"
    ),
}

_ALLOWED = """
SELECT CAST(p.limits ->> CAST(:limit AS text) AS integer) AS allowed, p.id, p.plan_name
FROM subscriptions s JOIN plans p ON p.id = s.plan_id
WHERE s.tenant_id = :t ORDER BY s.created DESC LIMIT 1
"""


@dataclass(frozen=True)
class LimitUse:
    limit: str
    allowed: int | None  # None: no limit (or no plan)
    used: int


@dataclass(frozen=True)
class UsageReport:
    plan_id: UUID | None
    plan_name: str | None
    period_start: dt.datetime
    period_end: dt.datetime
    items: list[LimitUse]


class PlanLimitRepository:
    def __init__(self, session: AsyncSession, tenant_id: UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def _lock(self, limit: str) -> None:
        """The tenant's lock for `limit`, until the transaction ends."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('plan_limit:' || :limit), hashtext(:t))"),
            {"limit": limit, "t": str(self.tenant_id)},
        )

    async def allowed(self, limit: str) -> int | None:
        row = (
            await self.session.execute(text(_ALLOWED), {"t": self.tenant_id, "limit": limit})
        ).first()
        return None if row is None else row.allowed

    async def used(self, limit: str) -> int:
        return int(
            (await self.session.execute(text(_USED[limit]), {"t": self.tenant_id})).scalar_one()
        )

    async def take(self, limit: str, count: int = 1) -> None:
        """Room for `count` more under `limit`, or PlanLimitExceeded. Holds the tenant's lock
        for this limit until the transaction ends: call it before the insert, in the
        transaction that inserts."""
        allowed = await self.allowed(limit)
        if allowed is None:  # no limit: nothing to serialize
            return
        await self._lock(limit)
        used = await self.used(limit)
        if used + count > allowed:
            raise PlanLimitExceeded(limit, allowed, used)

    async def room(self, limit: str) -> int | None:
        """How many more fit (None: no limit), under the same lock as `take`."""
        allowed = await self.allowed(limit)
        if allowed is None:
            return None
        await self._lock(limit)
        return max(allowed - await self.used(limit), 0)

    async def report(self, limits: tuple[str, ...]) -> UsageReport:
        items = [LimitUse(name, await self.allowed(name), await self.used(name)) for name in limits]
        row = (
            await self.session.execute(
                text(
                    "SELECT p.id, p.plan_name, "
                    "date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start, "
                    "(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month') "
                    "AT TIME ZONE 'UTC' AS end "
                    "FROM (SELECT 1) one LEFT JOIN subscriptions s ON s.tenant_id = :t "
                    "LEFT JOIN plans p ON p.id = s.plan_id ORDER BY s.created DESC LIMIT 1"
                ),
                {"t": self.tenant_id},
            )
        ).one()
        return UsageReport(row.id, row.plan_name, row.start, row.end, items)
