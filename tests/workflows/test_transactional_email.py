"""The platform's e-mail sender on the dev server: its Schedule exists once, every minute
on the infra queue; a run (the real worker and activity) delivers a sign-up's welcome to
the session's SMTP sink and marks it sent."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
from temporalio.client import Client, ScheduleActionStartWorkflow

from devstack.smtp_sink import SmtpSink
from penguinmails.db import Database
from usecases.tenancy import sign_up
from workflows.names import TRANSACTIONAL_EMAIL_SCHEDULE, TaskQueue
from workflows.schedules import TRANSACTIONAL_EMAIL_EVERY, ensure_schedules


async def test_the_schedule_sends_the_welcome_to_the_sink(
    temporal_client: Client,
    app_worker: Any,
    db: Database,
    smtp_sink: SmtpSink,
    admin_conn: asyncpg.Connection,
) -> None:
    await ensure_schedules(temporal_client)
    assert TRANSACTIONAL_EMAIL_SCHEDULE not in await ensure_schedules(temporal_client)
    handle = temporal_client.get_schedule_handle(TRANSACTIONAL_EMAIL_SCHEDULE)
    described = await handle.describe()
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "TransactionalEmailWorkflow" and action.task_queue == TaskQueue.INFRA
    assert [i.every for i in described.schedule.spec.intervals] == [TRANSACTIONAL_EMAIL_EVERY]

    email = f"owner-{uuid.uuid4().hex[:8]}@welcome.test"
    signed = await sign_up(db, temporal_client, "Welcome Co", email)
    await handle.trigger()
    row = None
    for _ in range(150):
        row = await admin_conn.fetchrow(
            "SELECT id, status, attempts FROM transactional_emails "
            "WHERE tenant_id = $1 AND type = 'welcome'",
            signed.tenant_id,
        )
        if row is not None and row["status"] == "sent":
            break
        await asyncio.sleep(0.2)
    assert row is not None and row["status"] == "sent", row
    [stored] = smtp_sink.messages(f"<transactional.{row['id']}@penguinmails.test>")
    raw = stored.read_bytes()
    assert f"To: {email}".encode() in raw and b"Subject: Welcome to PenguinMails, Welcome Co" in raw
