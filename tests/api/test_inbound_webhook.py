"""`POST /webhooks/inbound`: the shared secret from Vault, its own body limit, and a posted
message recorded the way the IMAP poll records it, once."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from api.services import Services
from devstack.dovecot import Dovecot
from penguinmails.db import Database
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from tests.api.conftest import client_for
from tests.fixtures import inbound_samples as samples
from tests.fixtures.inbound import InboundWorld, inbound_world

SECRET = "relay-" + uuid.uuid4().hex


@pytest.fixture
async def world(
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    admin_conn: asyncpg.Connection,
    dovecot: Dovecot,
) -> InboundWorld:
    await secret_store.write(settings.inbound_webhook_secret_path, {"secret": SECRET})
    return await inbound_world(db, secret_store, settings, admin_conn, dovecot, leads=2)


async def _post(
    api: httpx.AsyncClient, raw: bytes, secret: str | None = SECRET, **params: str
) -> httpx.Response:
    headers = {"Content-Type": "message/rfc822"}
    if secret is not None:
        headers["X-Inbound-Secret"] = secret
    return await api.post("/webhooks/inbound", content=raw, headers=headers, params=params)


async def test_a_posted_reply_is_recorded_once_and_a_complaint_by_its_envelope_recipient(
    api: httpx.AsyncClient, world: InboundWorld, admin_conn: asyncpg.Connection
) -> None:
    (l0, a0), (l1, a1) = world.leads
    (r0, m0), (_, m1) = world.sent
    raw = samples.human_reply(m0, a0, world.mailbox, "Not interested, thanks.")
    first = await _post(api, raw)
    assert first.status_code == 202, first.text
    body = first.json()
    assert (body["classification"], body["category"], body["created"]) == (
        "reply",
        "not_interested",
        True,
    )
    again = await _post(api, raw)
    assert again.status_code == 202 and again.json()["created"] is False
    assert again.json()["id"] == body["id"]
    row = await admin_conn.fetchrow(
        "SELECT parent_message_id, lead_id FROM inbox_message_refs WHERE id = $1",
        uuid.UUID(body["id"]),
    )
    assert (row["parent_message_id"], row["lead_id"]) == (r0, l0)
    assert await admin_conn.fetchval("SELECT status FROM leads WHERE id = $1", l0) == "replied"

    # An ARF report is addressed to the feedback mailbox: the envelope names ours.
    arf = samples.arf_complaint(m1, a1, "abuse-desk@isp.example").replace(
        b"To: <abuse-desk@isp.example>", b"To: <reports@isp.example>"
    )
    complaint = await _post(api, arf, recipient=world.mailbox.upper())
    assert complaint.status_code == 202, complaint.text
    assert complaint.json()["classification"] == "complaint"
    assert await admin_conn.fetchval("SELECT status FROM leads WHERE id = $1", l1) == "complained"


async def test_the_secret_is_required(
    api: httpx.AsyncClient, world: InboundWorld, secret_store: SecretStore, settings: Settings
) -> None:
    raw = samples.human_reply(world.sent[0][1], world.leads[0][1], world.mailbox, "hi")
    for secret in (None, "wrong", SECRET + "x"):
        answer = await _post(api, raw, secret)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"
    # Not configured: nobody gets in, whatever they send.
    await secret_store.delete(settings.inbound_webhook_secret_path)
    try:
        for secret in (None, "", SECRET):
            answer = await _post(api, raw, secret)
            assert answer.status_code == 401
            assert "not configured" in answer.json()["error"]["message"]
    finally:
        await secret_store.write(settings.inbound_webhook_secret_path, {"secret": SECRET})


async def test_bad_input(
    api: httpx.AsyncClient, world: InboundWorld, admin_conn: asyncpg.Connection
) -> None:
    nowhere = samples.human_reply("<x@y>", "a@b.example", "nobody@nowhere.example", "hi")
    answer = await _post(api, nowhere)
    assert answer.status_code == 422
    assert answer.json()["error"]["details"] == {"field": "recipient"}
    empty = await _post(api, b"  \r\n")
    assert empty.status_code == 422 and empty.json()["error"]["details"] == {"field": "body"}
    # Malformed MIME is kept, unclassified, with the reason.
    junk = b"To: " + world.mailbox.encode() + b"\r\nContent-Type: multipart/mixed\r\n\r\n\xff\x00"
    kept = await _post(api, junk)
    assert kept.status_code == 202, kept.text
    assert kept.json()["classification"] == "unclassified"
    assert kept.json()["reason"]
    assert await admin_conn.fetchval(
        "SELECT content_storage_key IS NOT NULL FROM inbox_message_refs WHERE id = $1",
        uuid.UUID(kept.json()["id"]),
    )


async def test_its_own_body_limit_answers_413(services: Services, world: InboundWorld) -> None:
    small = Services(
        **{
            **services.__dict__,
            "settings": services.settings.model_copy(update={"inbound_webhook_max_bytes": 4096}),
        }
    )
    raw = samples.human_reply(world.sent[0][1], world.leads[0][1], world.mailbox, "y" * 5000)
    async with client_for(small) as api:
        over = await _post(api, raw)
        under = await _post(api, raw[:4000])
    assert over.status_code == 413
    assert under.status_code == 202
