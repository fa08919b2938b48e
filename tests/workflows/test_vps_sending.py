"""Sending from the host that holds the IP, on the dev server with the real workers: the
shared worker (every queue) and a server's own sending worker (`build_vps_worker`, what
`worker.py --vps-id` runs). A lead's sequence whose mailbox's domain is assigned the server's
127.x.y.z address is routed to that server's queue, and the SMTP server sees the message
come from that address, greeting with the IP's PTR name; a follow-up goes there directly.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from activities.interfaces.delivery import DeliverOutput
from devstack.dovecot import Dovecot
from devstack.ports import free_port
from penguinmails.db import Database
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from tests.activities.test_delivery import ScriptedSmtp, World, _world
from tests.fixtures.campaigns import ALWAYS_OPEN, assign_loopback_ip
from worker import build_vps_worker

# A module, not its Test* classes: pytest would try to collect those.
from workflows import test_send as test_send_workflow
from workflows.lead_sequence import LeadSequenceInput, LeadSequenceOutput, LeadSequenceWorkflow
from workflows.names import (
    TEST_SEND,
    TaskQueue,
    lead_sequence_workflow_id,
    tenant_attributes,
    vps_sending_queue,
    workflow_id,
)


@pytest.fixture(scope="module")
def smtp() -> Iterator[ScriptedSmtp]:
    server = ScriptedSmtp("127.0.0.1", free_port())
    server.controller = Controller(
        server,
        hostname=server.host,
        port=server.port,
        authenticator=server.authenticate,
        auth_require_tls=False,
        ready_timeout=10,
    )
    server.controller.start()
    yield server
    server.controller.stop()


async def test_a_lead_on_a_server_s_ip_is_sent_by_that_server_s_worker_from_its_address(
    temporal_client: Client,
    app_worker: Any,
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    admin_conn: asyncpg.Connection,
    dovecot: Dovecot,
    smtp: ScriptedSmtp,
) -> None:
    world = await _world(db, secret_store, settings, admin_conn, smtp, dovecot, leads=1)
    vps_id, address, ptr = await assign_loopback_ip(admin_conn, world.tenant_id, world.domain)
    await admin_conn.execute(
        "UPDATE campaigns SET configuration = $2::jsonb WHERE id = $1",
        world.campaign_id,
        json.dumps(ALWAYS_OPEN),
    )
    lead_id = world.leads[0][0]
    await admin_conn.execute(
        "INSERT INTO campaign_leads (tenant_id, campaign_id, lead_id, variant_draw) "
        "VALUES ($1, $2, $3, 0.5)",
        world.tenant_id,
        world.campaign_id,
        lead_id,
    )
    # The server's own worker, as `worker.py --vps-id` runs it on the server.
    worker = build_vps_worker(temporal_client, db, settings, str(vps_id), secrets=secret_store)
    assert worker.task_queue == vps_sending_queue(vps_id) == f"sending-vps-{vps_id}"
    async with worker:
        out, handle = await _run_lead(temporal_client, world, lead_id)
    assert (out.status, out.sent) == ("completed", 2)
    # Both steps left from the server's address, greeting with its PTR name.
    assert smtp.origin(world.message_id(step=0)) == (address, ptr)
    assert smtp.origin(world.message_id(step=1)) == (address, ptr)
    # The first touch asked the shared queue, which named the host; the follow-up went to
    # the host directly.
    queues = [
        e.activity_task_scheduled_event_attributes.task_queue.name
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "deliver_step"
    ]
    assert queues == [TaskQueue.SENDING, vps_sending_queue(vps_id), vps_sending_queue(vps_id)]


async def _run_lead(
    client: Client, world: World, lead_id: uuid.UUID
) -> tuple[LeadSequenceOutput, WorkflowHandle[Any, LeadSequenceOutput]]:
    handle = await client.start_workflow(
        LeadSequenceWorkflow.run,
        LeadSequenceInput(str(world.tenant_id), str(world.campaign_id), str(lead_id)),
        id=lead_sequence_workflow_id(world.tenant_id, world.campaign_id, lead_id),
        task_queue=TaskQueue.CAMPAIGNS,
        search_attributes=tenant_attributes(
            world.tenant_id, campaign_id=str(world.campaign_id), lead_id=str(lead_id)
        ),
    )
    return await asyncio.wait_for(handle.result(), timeout=120), handle


async def test_a_test_send_from_a_mailbox_on_a_server_s_ip_goes_through_that_server(
    temporal_client: Client,
    app_worker: Any,
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    admin_conn: asyncpg.Connection,
    dovecot: Dovecot,
    smtp: ScriptedSmtp,
) -> None:
    world = await _world(db, secret_store, settings, admin_conn, smtp, dovecot, leads=0)
    vps_id, address, ptr = await assign_loopback_ip(admin_conn, world.tenant_id, world.domain)
    key = uuid.uuid4().hex
    async with build_vps_worker(temporal_client, db, settings, str(vps_id), secrets=secret_store):
        out: DeliverOutput = await temporal_client.execute_workflow(
            test_send_workflow.TestSendWorkflow.run,
            test_send_workflow.TestSendInput(
                str(world.tenant_id), str(world.campaign_id), None, str(world.steps[0]),
                "me@example.org", key,
            ),
            id=workflow_id(TEST_SEND, world.tenant_id, key),
            task_queue=TaskQueue.CAMPAIGNS,
            search_attributes=tenant_attributes(world.tenant_id),
        )  # fmt: skip
    assert (out.outcome, out.mailbox_id) == ("sent", str(world.mailboxes[0][0]))
    assert out.message_id is not None
    assert smtp.origin(out.message_id) == (address, ptr)
