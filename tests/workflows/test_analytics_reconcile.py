"""The reconcile and retention passes on the dev server: the platform's Schedule exists once (created again
harmlessly), every ten minutes on the infra queue; a run recomputes the roll-ups from the
raw rows, so a counter that drifted and an open reclassified as a bot's afterwards are put
right, and a second run changes nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
from redis.asyncio import Redis
from temporalio.client import Client, ScheduleActionStartWorkflow

from activities.events import EventsConsumer
from activities.interfaces.analytics import (
    ReconcileInput,
    ReconcileOutput,
    RetentionInput,
    RetentionOutput,
)
from penguinmails.db import Database
from penguinmails.settings import Settings, asyncpg_dsn
from workflows.analytics_reconcile import AnalyticsReconcileWorkflow, AnalyticsRetentionWorkflow
from workflows.names import (
    ANALYTICS_RECONCILE_SCHEDULE,
    ANALYTICS_RETENTION_SCHEDULE,
    TaskQueue,
)
from workflows.schedules import RECONCILE_EVERY, RETENTION_EVERY, ensure_schedules


async def test_schedule_is_created_once(temporal_client: Client, app_worker: Any) -> None:
    await ensure_schedules(temporal_client)
    assert await ensure_schedules(temporal_client) == []  # already there: left as it is
    described = await temporal_client.get_schedule_handle(ANALYTICS_RECONCILE_SCHEDULE).describe()
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "AnalyticsReconcileWorkflow" and action.task_queue == TaskQueue.INFRA
    assert [i.every for i in described.schedule.spec.intervals] == [RECONCILE_EVERY]


async def test_a_run_recomputes_the_roll_ups(
    temporal_client: Client, app_worker: Any, db: Database, settings: Settings
) -> None:
    tenant, campaign, email = (str(uuid.uuid4()) for _ in range(3))
    now = dt.datetime.now(dt.UTC).isoformat()
    redis = Redis.from_url(settings.redis_url or "")
    mine = settings.model_copy(
        update={"events_stream": f"reconcile-{uuid.uuid4().hex}", "events_group": "g"}
    )
    base = {"tenant": tenant, "campaign": campaign, "email": email, "sent_at": now, "at": now}
    await redis.xadd(mine.events_stream, base | {"id": email, "type": "sent"})  # type: ignore[arg-type]
    for _ in range(2):
        event = base | {"id": str(uuid.uuid4()), "type": "open"}
        await redis.xadd(mine.events_stream, event)  # type: ignore[arg-type]
    consumer = EventsConsumer(db, redis, None, mine)
    while await consumer.cycle(block_ms=None):
        pass
    await redis.delete(mine.events_stream)
    await redis.aclose()

    assert settings.analytics_database_url
    conn = await asyncpg.connect(asyncpg_dsn(settings.analytics_database_url))
    query = (
        "SELECT emails_sent, emails_opened, opens_total, bot_opens FROM daily_analytics "
        "WHERE tenant_id = $1"
    )
    try:
        assert tuple(await conn.fetchrow(query, uuid.UUID(tenant))) == (1, 1, 2, 0)
        # Drift, and a rule applied later: both opens were a scanner's.
        await conn.execute(
            "UPDATE daily_analytics SET emails_sent = 7 WHERE tenant_id = $1", uuid.UUID(tenant)
        )
        await conn.execute(
            "UPDATE email_opens SET bot = true WHERE tenant_id = $1", uuid.UUID(tenant)
        )
        for _ in range(2):  # idempotent
            out = await temporal_client.execute_workflow(
                AnalyticsReconcileWorkflow.run,
                ReconcileInput(tenant_id=tenant, days=2),
                id=f"reconcile-test-{uuid.uuid4()}",
                task_queue=TaskQueue.INFRA,
                result_type=ReconcileOutput,
            )
            assert out.tenants == 1 and out.rows == 1
            assert tuple(await conn.fetchrow(query, uuid.UUID(tenant))) == (1, 0, 0, 2)
    finally:
        await conn.close()


async def test_retention_deletes_old_raw_events_only(
    temporal_client: Client, app_worker: Any, settings: Settings
) -> None:
    await ensure_schedules(temporal_client)
    described = await temporal_client.get_schedule_handle(ANALYTICS_RETENTION_SCHEDULE).describe()
    assert [i.every for i in described.schedule.spec.intervals] == [RETENTION_EVERY]
    tenant = uuid.uuid4()
    assert settings.analytics_database_url
    conn = await asyncpg.connect(asyncpg_dsn(settings.analytics_database_url))
    try:
        for days in (100, 10):
            when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
            await conn.execute(
                "INSERT INTO email_opens (tenant_id, email_id, opened) VALUES ($1, $2, $3)",
                tenant, uuid.uuid4(), when,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO email_clicks (tenant_id, email_id, clicked, clicked_url) "
                "VALUES ($1, $2, $3, 'https://x.test/')",
                tenant, uuid.uuid4(), when,
            )  # fmt: skip
        for days in (200, 100):
            await conn.execute(
                "INSERT INTO warmup_interactions (tenant_id, mailbox_id, interaction_type, "
                "interaction) VALUES ($1, $2, 'sent', $3)",
                tenant, uuid.uuid4(), dt.datetime.now(dt.UTC) - dt.timedelta(days=days),
            )  # fmt: skip
        out = await temporal_client.execute_workflow(
            AnalyticsRetentionWorkflow.run,
            RetentionInput(tenant_id=str(tenant)),
            id=f"retention-test-{uuid.uuid4()}",
            task_queue=TaskQueue.INFRA,
            result_type=RetentionOutput,
        )
        assert out.deleted == 3
        for table in ("email_opens", "email_clicks", "warmup_interactions"):
            count = await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE tenant_id = $1", tenant
            )
            assert count == 1, table
    finally:
        await conn.close()
