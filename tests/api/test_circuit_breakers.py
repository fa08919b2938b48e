"""The circuit breakers end to end: hard bounces read from the real Dovecot mailbox push a
running campaign (its real workflow on the real worker) and its mailbox past the limits; both
pause with the reason `breaker` and one notification each with the figures; a user's resume
leaves the breaker's pause in place; lifting it is explicit, over the API, per campaign and
per mailbox; another tenant's mailbox is a 404."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg
import httpx
import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import ActivityEnvironment

from activities.inbound import InboundActivities
from activities.interfaces.inbound import PollInboxInput
from devstack.dovecot import Dovecot
from penguinmails.db import Database
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from tests.api.conftest import Tenant
from tests.fixtures import inbound_samples as samples
from tests.fixtures.inbound import InboundWorld, inbound_world
from workflows.campaign import CampaignInput, CampaignState, CampaignView, CampaignWorkflow
from workflows.names import TaskQueue, campaign_workflow_id, tenant_attributes


@pytest.fixture
async def world(
    tenant_a: Tenant,
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    admin_conn: asyncpg.Connection,
    dovecot: Dovecot,
) -> InboundWorld:
    return await inbound_world(
        db, secret_store, settings, admin_conn, dovecot, leads=5, tenant_id=UUID(tenant_a.tenant_id)
    )


@pytest.fixture
async def running(
    world: InboundWorld, temporal_client: Client, services: object
) -> AsyncIterator[WorkflowHandle[CampaignWorkflow, CampaignView]]:
    """The world's campaign, `sending`, under its real workflow (its five leads active, none
    pending: the workflow waits for room, as a campaign mid-way does)."""
    tenant, campaign = str(world.tenant_id), str(world.campaign_id)
    handle = await temporal_client.start_workflow(
        CampaignWorkflow.run,
        CampaignInput(tenant, campaign, state=CampaignState(status="sending"), window=5),
        id=campaign_workflow_id(tenant, campaign),
        task_queue=TaskQueue.CAMPAIGNS,
        search_attributes=tenant_attributes(tenant, campaign_id=campaign),
    )
    yield handle
    await handle.terminate("test over")


async def _more_sends(
    conn: asyncpg.Connection, world: InboundWorld, n: int
) -> list[tuple[str, str]]:
    """`n` more messages of the campaign sent from the mailbox: (address, Message-ID)."""
    sent = []
    for i in range(n):
        address = f"more{i}-{uuid.uuid4().hex[:6]}@lead.example"
        message_id = f"<more{i}.{uuid.uuid4().hex}@ours.example>"
        await conn.execute(
            "INSERT INTO inbox_message_refs (tenant_id, email_account_id, campaign_id, step_id, "
            "direction, message_id, to_email, subject, status, sent_at) "
            "VALUES ($1, $2, $3, $4, 'outbound', $5, $6, 's', 'sent', now())",
            world.tenant_id,
            world.mailbox_id,
            world.campaign_id,
            world.step_id,
            message_id,
            address,
        )
        sent.append((address, message_id))
    return sent


async def test_bounces_pause_campaign_and_mailbox_until_lifted_explicitly(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    tenant_b: Tenant,
    world: InboundWorld,
    running: WorkflowHandle[CampaignWorkflow, CampaignView],
    db: Database,
    secret_store: SecretStore,
    temporal_client: Client,
    dovecot: Dovecot,
    admin_conn: asyncpg.Connection,
    settings: Settings,
) -> None:
    acts = InboundActivities(db, secret_store)
    env = ActivityEnvironment(client=temporal_client)

    async def poll() -> None:
        data = PollInboxInput(str(world.tenant_id), str(world.mailbox_id))
        await env.run(acts.poll_mailbox_inbox, data)

    async def notices(kind: str) -> list[str]:
        rows = await admin_conn.fetch(
            "SELECT message FROM notifications WHERE tenant_id = $1 AND type = $2",
            world.tenant_id,
            kind,
        )
        return [r["message"] for r in rows]

    async def campaign_row() -> tuple[str, list[str]]:
        row = await admin_conn.fetchrow(
            "SELECT status, pause_reasons FROM campaigns WHERE id = $1", world.campaign_id
        )
        return row["status"], list(row["pause_reasons"])

    (a0, m0), (a1, m1), (a2, m2), (a3, m3) = (await _more_sends(admin_conn, world, 15))[:4]
    box = world.mailbox
    dovecot.deliver(box, samples.postfix_dsn(m0, a0, box))
    await poll()
    assert await campaign_row() == ("sending", [])  # 1 of 20: 5%, not above it
    assert await notices("campaign_breaker") == []

    # The tenant pauses first: the breaker's reason joins its own.
    paused = await api.post(f"/v1/campaigns/{world.campaign_id}/pause", headers=tenant_a.auth)
    assert paused.status_code == 200, paused.text
    dovecot.deliver(box, samples.gmail_dsn(m1, a1, box))
    await poll()  # 2 of 20: 10%
    assert await campaign_row() == ("paused", ["user", "breaker"])
    view = await running.query(CampaignWorkflow.get_status)
    assert view.status == "paused" and view.pause_reasons == ["user", "breaker"]
    [message] = await notices("campaign_breaker")
    assert "sent 20 messages: 2 hard bounces (10.0%, limit 5%)" in message
    assert len(await notices("mailbox_breaker")) == 1

    dovecot.deliver(box, samples.exim_dsn(m2, a2, box))
    await poll()  # already paused by the breaker: told once
    assert len(await notices("campaign_breaker")) == 1

    listed = await api.get("/v1/notifications", headers=tenant_a.auth)
    kinds = [n["type"] for n in listed.json()["items"]]
    assert kinds.count("campaign_breaker") == 1 and kinds.count("mailbox_breaker") == 1

    # The user's resume lifts the user's reason only.
    resumed = await api.post(f"/v1/campaigns/{world.campaign_id}/resume", headers=tenant_a.auth)
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "paused"
    assert resumed.json()["pause_reasons"] == ["breaker"]
    lifted = await api.post(
        f"/v1/campaigns/{world.campaign_id}/resume",
        json={"reason": "breaker"},
        headers=tenant_a.auth,
    )
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["status"] == "sending" and lifted.json()["pause_reasons"] == []
    assert await campaign_row() == ("sending", [])

    # Lifted while the rates are still over the limit: the next hard bounce, posted by a
    # relay to the inbound webhook this time, pauses the campaign again, with a new notice.
    secret = "relay-" + uuid.uuid4().hex
    await secret_store.write(settings.inbound_webhook_secret_path, {"secret": secret})
    posted = await api.post(
        "/webhooks/inbound",
        content=samples.postfix_dsn(m3, a3, box),
        headers={"Content-Type": "message/rfc822", "X-Inbound-Secret": secret},
    )
    assert posted.status_code in (200, 202), posted.text
    for _ in range(200):  # asked of the workflow, not waited for by the relay's request
        if (await campaign_row())[1] == ["breaker"]:
            break
        await asyncio.sleep(0.05)
    assert await campaign_row() == ("paused", ["breaker"])
    assert len(await notices("campaign_breaker")) == 2
    lifted = await api.post(
        f"/v1/campaigns/{world.campaign_id}/resume",
        json={"reason": "breaker"},
        headers=tenant_a.auth,
    )
    assert lifted.json()["status"] == "sending"
    refused = await api.post(
        f"/v1/campaigns/{world.campaign_id}/resume",
        json={"reason": "billing"},
        headers=tenant_a.auth,
    )
    assert refused.status_code == 422  # billing's pause is billing's to lift

    mailbox = f"/v1/email-accounts/{world.mailbox_id}"
    before = await api.get(mailbox, headers=tenant_a.auth)
    assert before.json()["pause_reasons"] == ["breaker"]
    other = await api.post(f"{mailbox}/resume", headers=tenant_b.auth)
    assert other.status_code == 404
    again = await api.post(f"{mailbox}/resume", headers=tenant_a.auth)
    assert again.status_code == 200, again.text
    assert again.json()["pause_reasons"] == []
    reasons = await admin_conn.fetchval(
        "SELECT pause_reasons FROM email_accounts WHERE id = $1", world.mailbox_id
    )
    assert list(reasons) == []
