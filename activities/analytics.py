"""Analytics activities: the reconcile pass of the roll-ups (workflows/analytics_reconcile.py)."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from temporalio import activity

from activities.interfaces.analytics import RECONCILE_ANALYTICS, ReconcileInput, ReconcileOutput
from penguinmails.db import Database
from penguinmails.repositories.analytics_events import AnalyticsEventRepository
from penguinmails.repositories.engagement import EngagementRepository


class AnalyticsActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name=RECONCILE_ANALYTICS)
    async def reconcile(self, data: ReconcileInput) -> ReconcileOutput:
        """Idempotent: recomputes absolute values from the raw rows, one tenant per
        transaction (under the tenant's roll-up lock, so no consumer batch interleaves)."""
        if data.tenant_id:
            tenants = [UUID(data.tenant_id)]
        else:
            async with self.db.admin_session() as session:
                tenants = await EngagementRepository(session).live_tenants()
        since = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=max(data.days, 0))
        rows = 0
        for tenant_id in tenants:
            activity.heartbeat(str(tenant_id))
            async with self.db.analytics_session(tenant_id) as session:
                rows += await AnalyticsEventRepository(session).reconcile(tenant_id, since)
        return ReconcileOutput(len(tenants), rows)
