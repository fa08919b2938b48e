"""The reply inbox over the API: replies recorded from the real Dovecot mailbox, listed
with what we sent, filtered and paged; read state and re-labelling; an answer sent through
the real SMTP path into the thread; another tenant's thread is a 404. Notifications."""

from __future__ import annotations

import uuid
from email import message_from_bytes
from uuid import UUID

import asyncpg
import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.inbound import InboundActivities
from activities.interfaces.inbound import PollInboxInput
from devstack.dovecot import Dovecot
from penguinmails.db import Database
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from tests.api.conftest import Tenant
from tests.fixtures import inbound_samples as samples
from tests.fixtures.inbound import PASSWORD, InboundWorld, inbound_world
from tests.fixtures.mail import AuthSmtpServer


@pytest.fixture
async def world(
    tenant_a: Tenant,
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    admin_conn: asyncpg.Connection,
    dovecot: Dovecot,
    smtp_auth_server: AuthSmtpServer,
) -> InboundWorld:
    smtp = {
        "host": smtp_auth_server.host,
        "port": smtp_auth_server.port,
        "security": "starttls",
        "verify_tls": False,
    }
    world = await inbound_world(
        db,
        secret_store,
        settings,
        admin_conn,
        dovecot,
        leads=3,
        smtp_settings=smtp,
        tenant_id=UUID(tenant_a.tenant_id),
    )
    smtp_auth_server.users[world.mailbox] = PASSWORD
    box = world.mailbox
    texts = [
        "Sounds interesting, tell me more.",
        "What time works for a call next week?",
        "Please remove me from your list.",
    ]
    for (_, address), (_, message_id), text in zip(world.leads, world.sent, texts, strict=True):
        dovecot.deliver(box, samples.human_reply(message_id, address, box, text))
    dovecot.deliver(box, samples.postfix_dsn(world.sent[0][1], world.leads[0][1], box))
    poll = PollInboxInput(str(world.tenant_id), str(world.mailbox_id))
    out = await ActivityEnvironment().run(
        InboundActivities(db, secret_store).poll_mailbox_inbox, poll
    )
    assert out.recorded == 4
    return world


async def test_the_inbox_lists_replies_with_what_we_sent_filtered_and_paged(
    api: httpx.AsyncClient, tenant_a: Tenant, world: InboundWorld
) -> None:
    everything = await api.get("/v1/inbox", headers=tenant_a.auth)
    assert everything.status_code == 200, everything.text
    items = everything.json()["items"]
    assert len(items) == 3  # the bounce is not a reply
    assert {i["category"] for i in items} == {"interested", "meeting_request", "unsubscribe"}
    sent_ids = {str(ref) for ref, _ in world.sent}
    assert all(i["sent"]["id"] in sent_ids and i["read"] is False for i in items)
    sizes = {i["category"]: i["thread_size"] for i in items}
    assert sizes["meeting_request"] == 2  # what we sent and the reply
    assert sizes["interested"] == 3  # and that lead's bounce

    first = await api.get("/v1/inbox", params={"limit": 2}, headers=tenant_a.auth)
    second = await api.get(
        "/v1/inbox",
        params={"limit": 2, "cursor": first.json()["next_cursor"]},
        headers=tenant_a.auth,
    )
    paged = [i["id"] for i in first.json()["items"] + second.json()["items"]]
    assert paged == [i["id"] for i in items] and second.json()["next_cursor"] is None

    meeting = await api.get(
        "/v1/inbox", params={"category": "meeting_request"}, headers=tenant_a.auth
    )
    (item,) = meeting.json()["items"]
    assert item["sent"]["message_id"] == world.sent[1][1]
    other = await api.get(
        "/v1/inbox", params={"campaign_id": str(uuid.uuid4())}, headers=tenant_a.auth
    )
    assert other.json()["items"] == []
    bad = await api.get("/v1/inbox", params={"category": "spam"}, headers=tenant_a.auth)
    assert bad.status_code == 422


async def test_mark_read_relabel_and_answer_into_the_thread(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    world: InboundWorld,
    smtp_auth_server: AuthSmtpServer,
    admin_conn: asyncpg.Connection,
) -> None:
    (item,) = (
        await api.get("/v1/inbox", params={"category": "interested"}, headers=tenant_a.auth)
    ).json()["items"]
    patched = await api.patch(
        f"/v1/inbox/{item['id']}",
        json={"read": True, "category": "meeting_request"},
        headers=tenant_a.auth,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["read"], body["category"], body["category_source"]) == (
        True,
        "meeting_request",
        "tenant",
    )
    assert body["category_confidence"] == 1
    unread = await api.get("/v1/inbox", params={"unread": "true"}, headers=tenant_a.auth)
    assert item["id"] not in {i["id"] for i in unread.json()["items"]}
    wrong = await api.patch(
        f"/v1/inbox/{item['id']}", json={"category": "spam"}, headers=tenant_a.auth
    )
    assert wrong.status_code == 422

    before = len(smtp_auth_server.messages)
    answer = await api.post(
        f"/v1/inbox/{item['id']}/reply",
        json={"text": "Great, I will send the details today."},
        headers=tenant_a.auth,
    )
    assert answer.status_code == 201, answer.text
    sent = answer.json()
    assert sent["status"] == "sent" and sent["in_reply_to"] == item["id"]
    sender, recipients, raw = smtp_auth_server.messages[before]
    message = message_from_bytes(raw)
    assert sender == world.mailbox and recipients == [world.leads[0][1]]
    assert message["Message-ID"] == sent["message_id"]
    assert message["In-Reply-To"] == item["message_id"]
    assert message["References"].split() == [world.sent[0][1], item["message_id"]]
    assert message["Subject"] == "Re: Quick question about your pipeline"

    thread = await api.get(f"/v1/inbox/{item['id']}", headers=tenant_a.auth)
    assert thread.status_code == 200, thread.text
    messages = thread.json()["messages"]
    assert [m["direction"] for m in messages] == ["outbound", "inbound", "inbound", "outbound"]
    assert messages[1]["text"] == "Sounds interesting, tell me more."
    assert messages[3]["id"] == sent["id"] and messages[3]["parent_id"] == item["id"]
    assert messages[3]["text"] == "Great, I will send the details today."
    row = await admin_conn.fetchrow(
        "SELECT direction, status, lead_id FROM inbox_message_refs WHERE id = $1",
        UUID(sent["id"]),
    )
    assert tuple(row) == ("outbound", "sent", world.leads[0][0])


async def test_another_tenant_s_thread_is_a_404(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, world: InboundWorld
) -> None:
    (item, *_) = (await api.get("/v1/inbox", headers=tenant_a.auth)).json()["items"]
    assert (await api.get("/v1/inbox", headers=tenant_b.auth)).json()["items"] == []
    for method, path, body in (
        ("GET", f"/v1/inbox/{item['id']}", None),
        ("PATCH", f"/v1/inbox/{item['id']}", {"read": True}),
        ("POST", f"/v1/inbox/{item['id']}/reply", {"text": "hello"}),
    ):
        answer = await api.request(method, path, json=body, headers=tenant_b.auth)
        assert answer.status_code == 404, (method, path, answer.text)
    empty = await api.post(
        f"/v1/inbox/{item['id']}/reply", json={"text": ""}, headers=tenant_a.auth
    )
    assert empty.status_code == 422


async def test_notifications_list_and_mark_read(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, admin_conn: asyncpg.Connection
) -> None:
    ids = []
    for n in range(3):
        ids.append(
            await admin_conn.fetchval(
                "INSERT INTO notifications (id, tenant_id, type, title, message, created) "
                "VALUES (gen_random_uuid(), $1, 'mailbox_auth_failed', $2, 'm', "
                "now() + make_interval(secs => $3)) RETURNING id",
                UUID(tenant_a.tenant_id),
                f"n{n}",
                n,
            )
        )
    listed = await api.get("/v1/notifications", params={"limit": 2}, headers=tenant_a.auth)
    assert [i["title"] for i in listed.json()["items"]] == ["n2", "n1"]
    read = await api.post(f"/v1/notifications/{ids[2]}/read", headers=tenant_a.auth)
    assert read.status_code == 200 and read.json()["read"] is True
    unread = await api.get("/v1/notifications", params={"unread": "true"}, headers=tenant_a.auth)
    assert [i["title"] for i in unread.json()["items"]] == ["n1", "n0"]
    assert (await api.get("/v1/notifications", headers=tenant_b.auth)).json()["items"] == []
    foreign = await api.post(f"/v1/notifications/{ids[0]}/read", headers=tenant_b.auth)
    assert foreign.status_code == 404
