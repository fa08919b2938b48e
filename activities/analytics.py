"""Analytics activities: the reconcile pass of the roll-ups and the retention of raw events
(workflows/analytics_reconcile.py)."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from temporalio import activity

from activities.interfaces.analytics import (
    APPLY_RETENTION,
    RECONCILE_ANALYTICS,
    ReconcileInput,
    ReconcileOutput,
    RetentionInput,
    RetentionOutput,
)
from penguinmails.db import Database
from penguinmails.repositories.analytics_events import AnalyticsEventRepository
from penguinmails.repositories.engagement import EngagementRepository
from penguinmails.repositories.warmup_stats import WarmupStatsRepository


class AnalyticsActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _tenants(self, tenant_id: str) -> list[UUID]:
        if tenant_id:
            return [UUID(tenant_id)]
        async with self.db.admin_session() as session:
            return await EngagementRepository(session).live_tenants()

    @activity.defn(name=APPLY_RETENTION)
    async def apply_retention(self, data: RetentionInput) -> RetentionOutput:
        """Deletes in batches (one transaction each), so a long backlog never holds one
        long transaction; idempotent."""
        now = dt.datetime.now(dt.UTC)
        raw_before = now - dt.timedelta(days=data.raw_days)
        warmup_before = now - dt.timedelta(days=data.warmup_days)
        tenants = await self._tenants(data.tenant_id)
        deleted = 0
        for tenant_id in tenants:
            while True:
                activity.heartbeat(str(tenant_id))
                async with self.db.analytics_session(tenant_id) as session:
                    n = await AnalyticsEventRepository(session).delete_old(
                        raw_before, warmup_before
                    )
                deleted += n
                if n == 0:
                    break
        return RetentionOutput(len(tenants), deleted)

    @activity.defn(name=RECONCILE_ANALYTICS)
    async def reconcile(self, data: ReconcileInput) -> ReconcileOutput:
        """Idempotent: recomputes absolute values from the raw rows, one tenant per
        transaction (under the tenant's roll-up lock, so no consumer batch interleaves)."""
        tenants = await self._tenants(data.tenant_id)
        since = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=max(data.days, 0))
        rows = 0
        for tenant_id in tenants:
            activity.heartbeat(str(tenant_id))
            async with self.db.analytics_session(tenant_id) as session:
                rows += await AnalyticsEventRepository(session).reconcile(tenant_id, since)
                rows += await WarmupStatsRepository(session).reconcile(tenant_id, since)
        return ReconcileOutput(len(tenants), rows)
