"""Outbound webhooks end to end: the API registers an endpoint (secret to Vault, shown once),
the real worker's endpoint workflow delivers a signed test event to a local receiver, and the
delivery activity, run against the real database and receiver, retries failures with
backoff, never follows a redirect, refuses inward targets, gives up after three days and
disables an endpoint failing for a day, telling the tenant."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.inbound import InboundActivities
from activities.interfaces.inbound import PollInboxInput
from activities.interfaces.webhooks import DeliverWebhooksInput
from activities.webhooks import TargetRefused, WebhookActivities, post_signed, wake_endpoints
from api.services import Services
from devstack.dovecot import Dovecot
from penguinmails.inbound_mail import record_inbound
from penguinmails.models.base import utcnow
from penguinmails.repositories.webhooks import WebhookRepository
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from penguinmails.webhooks import verify_signature
from tests.api.conftest import Tenant
from usecases.webhooks import create_endpoint
from workflows.campaign import (
    CampaignWorkflow,
    CancelRequest,
    PauseRequest,
    ResumeRequest,
    StartRequest,
)


@dataclass
class Receiver:
    """A webhook receiver on loopback: records every request, answers from `script` (a
    status, or a status and a Location) and then 200."""

    url: str = ""
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    script: list[tuple[int, str | None]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            state.requests.append((self.path, dict(self.headers), body))
            status, location = state.script.pop(0) if state.script else (200, None)
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def dev_targets(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback receivers allowed, as in the development stack (the API and the worker
    share this settings object)."""
    monkeypatch.setattr(settings, "webhook_allow_private_targets", True)


async def _until(check: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.usefixtures("dev_targets")
async def test_register_and_deliver_a_signed_test_event_through_the_worker(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    tenant_b: Tenant,
    receiver: Receiver,
    secret_store: SecretStore,
    admin_conn: asyncpg.Connection,
) -> None:
    r = await api.post(
        "/v1/webhooks",
        json={"url": f"{receiver.url}/hooks", "event_types": ["replied", "bounced", "replied"]},
        headers=tenant_a.auth,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["secret"]
    assert secret.startswith("whsec_") and created["event_types"] == ["bounced", "replied"]
    # The secret is in Vault under the row's path, and nowhere in the database.
    path = await admin_conn.fetchval(
        "SELECT vault_key_path FROM webhook_endpoints WHERE id = $1", uuid.UUID(created["id"])
    )
    assert await secret_store.read(path) == {"secret": secret}
    got = await api.get(f"/v1/webhooks/{created['id']}", headers=tenant_a.auth)
    assert got.status_code == 200 and "secret" not in got.json()

    r = await api.post(f"/v1/webhooks/{created['id']}/test", headers=tenant_a.auth)
    assert r.status_code == 202, r.text
    event_id = r.json()["event_id"]
    await _until(lambda: len(receiver.requests) == 1)
    path_seen, headers, body = receiver.requests[0]
    assert path_seen == "/hooks"
    assert headers["PenguinMails-Event-Id"] == event_id
    assert verify_signature(secret, headers["PenguinMails-Signature"], body, int(time.time()))
    event = json.loads(body)
    assert (event["id"], event["type"]) == (event_id, "test")

    async def logged() -> list[dict[str, Any]]:
        r = await api.get(f"/v1/webhooks/{created['id']}/deliveries", headers=tenant_a.auth)
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    for _ in range(50):
        items = await logged()
        if items and items[0]["status"] == "delivered":
            break
        await asyncio.sleep(0.1)
    assert items[0]["status"] == "delivered" and items[0]["attempts"] == 1
    assert items[0]["attempt_log"][0]["status_code"] == 200

    # A rotated secret signs what follows; the old one no longer verifies.
    r = await api.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=tenant_a.auth)
    new_secret = r.json()["secret"]
    assert new_secret != secret and await secret_store.read(path) == {"secret": new_secret}
    await api.post(f"/v1/webhooks/{created['id']}/test", headers=tenant_a.auth)
    await _until(lambda: len(receiver.requests) == 2)
    _, headers, body = receiver.requests[1]
    now = int(time.time())
    assert verify_signature(new_secret, headers["PenguinMails-Signature"], body, now)
    assert not verify_signature(secret, headers["PenguinMails-Signature"], body, now)

    # Another tenant sees none of it.
    for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/test"),
                           ("GET", "/deliveries"), ("POST", "/rotate-secret")):  # fmt: skip
        kwargs: dict[str, Any] = {"json": {"description": "x"}} if method == "PATCH" else {}
        r = await api.request(
            method, f"/v1/webhooks/{created['id']}{suffix}", headers=tenant_b.auth, **kwargs
        )
        assert r.status_code == 404, (method, suffix, r.text)
    assert (await api.get("/v1/webhooks", headers=tenant_b.auth)).json()["items"] == []

    # Disabled by the tenant: no test event; deleted: gone.
    r = await api.patch(
        f"/v1/webhooks/{created['id']}", json={"status": "disabled"}, headers=tenant_a.auth
    )
    assert r.json()["status"] == "disabled"
    r = await api.post(f"/v1/webhooks/{created['id']}/test", headers=tenant_a.auth)
    assert r.status_code == 409
    assert (
        await api.delete(f"/v1/webhooks/{created['id']}", headers=tenant_a.auth)
    ).status_code == 204
    assert (
        await api.get(f"/v1/webhooks/{created['id']}", headers=tenant_a.auth)
    ).status_code == 404


async def test_bad_input_is_refused_with_the_field(
    api: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    good = {"url": "https://hooks.example.com/pm", "event_types": ["sent"]}
    for field_name, value in (
        ("url", "http://hooks.example.com/pm"),  # plain http outside development
        ("url", "https://10.0.0.7/pm"),
        ("url", "https://[::1]/pm"),
        ("url", "https://localhost/pm"),
        ("url", "https://user:pw@hooks.example.com/pm"),
        ("url", "x" * 3000),
        ("event_types", []),
        ("event_types", ["sent", "nope"]),
        ("description", "d" * 501),
    ):
        r = await api.post("/v1/webhooks", json={**good, field_name: value}, headers=tenant_a.auth)
        assert r.status_code == 422, (field_name, value, r.text)
        assert f"body.{field_name}" in r.text, r.text
    r = await api.post("/v1/webhooks", json=good, headers=tenant_a.auth)
    assert r.status_code == 201, r.text
    endpoint = r.json()["id"]
    r = await api.patch(f"/v1/webhooks/{endpoint}", json={"url": None}, headers=tenant_a.auth)
    assert r.status_code == 422
    r = await api.patch(
        f"/v1/webhooks/{endpoint}", json={"url": "https://10.1.1.1/"}, headers=tenant_a.auth
    )
    assert r.status_code == 422
    assert (await api.get(f"/v1/webhooks/{uuid.uuid4()}", headers=tenant_a.auth)).status_code == 404


async def test_a_name_resolving_inward_is_refused_at_delivery_time() -> None:
    # Registration checks literal addresses; a name is checked each time it is resolved.
    with pytest.raises(TargetRefused, match="loopback"):
        await post_signed(
            "http://localhost:9/hook", b"{}", {}, timeout_seconds=2, allow_private=False
        )


async def test_failures_retry_with_backoff_redirects_are_not_followed_and_a_day_of_failure_disables(
    services: Services,
    tenant_a: Tenant,
    receiver: Receiver,
    settings: Settings,
    secret_store: SecretStore,
    admin_conn: asyncpg.Connection,
    dev_targets: None,
) -> None:
    from usecases.webhooks import create_endpoint

    tenant = uuid.UUID(tenant_a.tenant_id)
    endpoint, _ = await create_endpoint(
        services.db, secret_store, tenant, f"{receiver.url}/h", ["replied"], None
    )
    async with services.db.tenant_session(tenant) as session:
        queued = await WebhookRepository(session).enqueue(
            "evt_retry", "replied", utcnow(), json.dumps({"lead_id": "l1"})
        )
        # Published twice (a replayed stream entry): still one delivery.
        again = await WebhookRepository(session).enqueue(
            "evt_retry", "replied", utcnow(), json.dumps({"lead_id": "l1"})
        )
        # Not subscribed: nothing.
        other = await WebhookRepository(session).enqueue("evt_x", "opened", utcnow(), "{}")
    assert (queued, again, other) == ([endpoint.id], [], [])

    activities = WebhookActivities(services.db, secret_store, settings)
    run = ActivityEnvironment().run
    target = DeliverWebhooksInput(str(tenant), str(endpoint.id))

    async def delivery() -> asyncpg.Record:
        row = await admin_conn.fetchrow(
            "SELECT * FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id = 'evt_retry'",
            endpoint.id,
        )
        assert row is not None
        return row

    # 1. A 500: retried after 30 s, the attempt logged.
    receiver.script = [(500, None)]
    started = utcnow()
    out = await run(activities.deliver_webhooks, target)
    assert (out.active, out.retrying, out.delivered) == (True, 1, 0)
    row = await delivery()
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("pending", 1, 500)
    assert timedelta(seconds=29) < row["next_attempt_at"] - started < timedelta(seconds=35)
    assert out.next_due_seconds is not None and 25 < out.next_due_seconds <= 30
    # Not due yet: nothing is posted.
    assert (await run(activities.deliver_webhooks, target)).retrying == 0
    assert len(receiver.requests) == 1

    # 2. A redirect elsewhere: recorded, never followed; the next retry waits twice as long.
    await admin_conn.execute("UPDATE webhook_deliveries SET next_attempt_at = now()")
    receiver.script = [(302, f"{receiver.url}/elsewhere")]
    await run(activities.deliver_webhooks, target)
    assert [p for p, _, _ in receiver.requests] == ["/h", "/h"]
    row = await delivery()
    assert row["last_error"] == "redirect (302) not followed" and row["attempts"] == 2
    assert timedelta(seconds=55) < row["next_attempt_at"] - utcnow() <= timedelta(seconds=60)

    # 3. Three days after the event: the last failure gives up.
    await admin_conn.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = now(), created = now() - interval '3 days 1 minute'"
    )
    receiver.script = [(503, None)]
    out = await run(activities.deliver_webhooks, target)
    assert out.failed == 1 and (await delivery())["status"] == "failed"

    # 4. Failing for over a day: the endpoint is disabled, what was pending fails, the
    # tenant is told, and the workflow would end (active False).
    async with services.db.tenant_session(tenant) as session:
        await WebhookRepository(session).enqueue("evt_late", "replied", utcnow(), "{}")
    await admin_conn.execute(
        "UPDATE webhook_endpoints SET failing_since = now() - interval '25 hours' WHERE id = $1",
        endpoint.id,
    )
    receiver.script = [(500, None)]
    out = await run(activities.deliver_webhooks, target)
    assert out.active is False
    state = await admin_conn.fetchrow(
        "SELECT status, disabled_reason FROM webhook_endpoints WHERE id = $1", endpoint.id
    )
    assert state["status"] == "disabled" and "a day" in state["disabled_reason"]
    pending = await admin_conn.fetchval(
        "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending'",
        endpoint.id,
    )
    assert pending == 0
    told = await admin_conn.fetchval(
        "SELECT count(*) FROM notifications WHERE tenant_id = $1 "
        "AND type = 'webhook_endpoint_disabled'",
        tenant,
    )
    assert told == 1
    assert (await run(activities.deliver_webhooks, target)).active is False


@pytest.mark.usefixtures("dev_targets")
async def test_an_open_through_the_events_consumer_reaches_the_endpoint_once(
    api: httpx.AsyncClient,
    services: Services,
    tenant_a: Tenant,
    receiver: Receiver,
    secret_store: SecretStore,
    settings: Settings,
) -> None:
    from activities.events import EventsConsumer
    from penguinmails import tokens
    from penguinmails.tokens import TokenClaims, TokenKind
    from tests.api.test_engagement_events import PERSON
    from tests.api.test_unsubscribe import send_to_lead

    r = await api.post(
        "/v1/webhooks",
        json={"url": f"{receiver.url}/opens", "event_types": ["opened"]},
        headers=tenant_a.auth,
    )
    secret = r.json()["secret"]
    tkey = await tokens.tracking_key(secret_store, settings)
    sent = await send_to_lead(services.db, tenant_a, tkey, f"w.{uuid.uuid4().hex[:6]}@example.com")
    token = tokens.sign(tkey, TokenClaims(str(sent.tenant_id), sent.message_id, TokenKind.OPEN))
    assert (await api.get(f"/t/o/{token}", headers=PERSON)).status_code == 200
    assert (await api.head(f"/t/o/{token}", headers=PERSON)).status_code == 200  # a bot's

    group = settings.model_copy(update={"events_group": f"test-{uuid.uuid4().hex[:8]}"})
    consumer = EventsConsumer(services.db, services.redis, services.temporal, group, name="w1")
    while await consumer.cycle(block_ms=None):
        pass
    await _until(lambda: len(receiver.requests) == 1)
    _, headers, body = receiver.requests[0]
    assert verify_signature(secret, headers["PenguinMails-Signature"], body, int(time.time()))
    event = json.loads(body)
    assert event["type"] == "opened" and event["data"]["lead_id"] == str(sent.lead_id)
    assert "@" not in body.decode()  # ids only, never an address

    # The stream read again from the start (a new group: a replay): no second delivery.
    again = settings.model_copy(update={"events_group": f"test-{uuid.uuid4().hex[:8]}"})
    replay = EventsConsumer(services.db, services.redis, services.temporal, again, name="w2")
    while await replay.cycle(block_ms=None):
        pass
    await asyncio.sleep(2)
    assert len(receiver.requests) == 1


@pytest.mark.usefixtures("dev_targets")
async def test_campaign_status_changes_and_lead_endings_reach_the_endpoint(
    services: Services,
    temporal_dev_server: WorkflowEnvironment,
    receiver: Receiver,
    secret_store: SecretStore,
    admin_conn: asyncpg.Connection,
) -> None:
    """A campaign run by its real activities (start, a pause, a resume, completion): each
    status change and each lead's ending is delivered, signed, once, to the endpoint
    subscribed to them (by the real worker's endpoint workflow); the completion tells the
    tenant in-app too."""
    from tests.fixtures.campaigns import engine_campaign
    from tests.workflows.test_campaign_engine import Deliveries, _true, engine, until

    db = services.db
    c = await engine_campaign(admin_conn, emails=[f"h{i}@hooks.test" for i in range(2)])
    _, secret = await create_endpoint(
        db,
        secret_store,
        c.tenant.tenant_id,
        f"{receiver.url}/campaigns",
        ["campaign.status_changed", "lead.finished"],
        None,
    )
    deliveries = Deliveries(db, gate=asyncio.Event())
    async with engine(temporal_dev_server, db, c, deliveries) as handle:
        await handle.execute_update(CampaignWorkflow.start, StartRequest(c.tenant_id))
        await until(lambda: _true(len(deliveries.calls) == 2))
        await handle.execute_update(CampaignWorkflow.pause, PauseRequest(c.tenant_id, "user"))
        await handle.execute_update(CampaignWorkflow.resume, ResumeRequest(c.tenant_id, "user"))
        assert deliveries.gate is not None
        deliveries.gate.set()
        assert (await handle.result()).status == "completed"

    await _until(lambda: len(receiver.requests) >= 6)
    await asyncio.sleep(1)  # nothing more comes: each event once
    assert len(receiver.requests) == 6
    events = []
    for path, headers, body in receiver.requests:
        assert path == "/campaigns"
        assert verify_signature(secret, headers["PenguinMails-Signature"], body, int(time.time()))
        events.append(json.loads(body))
    changes = sorted(
        (e["data"]["previous_status"], e["data"]["status"])
        for e in events
        if e["type"] == "campaign.status_changed"
    )
    assert changes == [
        ("draft", "sending"),
        ("paused", "sending"),
        ("sending", "completed"),
        ("sending", "paused"),
    ]
    assert all(
        e["data"]["campaign_id"] == c.campaign_id
        for e in events
        if e["type"] == "campaign.status_changed"
    )
    finished = [e["data"] for e in events if e["type"] == "lead.finished"]
    assert sorted(f["lead_id"] for f in finished) == sorted(str(lead) for lead in c.leads)
    assert {f["status"] for f in finished} == {"completed"}
    assert len({e["id"] for e in events}) == 6

    [notice] = await admin_conn.fetch(
        "SELECT title, message FROM notifications WHERE tenant_id = $1 "
        "AND type = 'campaign_completed'",
        c.tenant.tenant_id,
    )
    assert "2 completed" in notice["message"]


@pytest.mark.usefixtures("dev_targets")
async def test_a_reply_and_a_bounce_read_from_the_mailbox_reach_the_endpoint_once(
    api: httpx.AsyncClient,
    services: Services,
    tenant_a: Tenant,
    receiver: Receiver,
    secret_store: SecretStore,
    settings: Settings,
    admin_conn: asyncpg.Connection,
    dovecot: Dovecot,
    temporal_client: Client,
) -> None:
    """Inbound mail publishes `replied` (with its category), `bounced` and `complained`,
    enqueued with the record and woken after its commit; recording a message again
    delivers nothing twice."""
    from tests.fixtures import inbound_samples as samples
    from tests.fixtures.inbound import inbound_world

    db = services.db
    r = await api.post(
        "/v1/webhooks",
        json={"url": f"{receiver.url}/in", "event_types": ["replied", "bounced", "complained"]},
        headers=tenant_a.auth,
    )
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    world = await inbound_world(
        db,
        secret_store,
        settings,
        admin_conn,
        dovecot,
        leads=3,
        tenant_id=uuid.UUID(tenant_a.tenant_id),
    )
    (l0, a0), (l1, a1), (l2, a2) = world.leads
    (r0, m0), (_, m1), (_, m2) = world.sent
    box = world.mailbox
    reply = samples.human_reply(m0, a0, box, "Sounds interesting, tell me more about pricing.")
    for raw in (reply, samples.postfix_dsn(m1, a1, box), samples.arf_complaint(m2, a2, box)):
        dovecot.deliver(box, raw)
    poll = PollInboxInput(str(world.tenant_id), str(world.mailbox_id))
    acts = InboundActivities(db, secret_store)
    out = await ActivityEnvironment(client=temporal_client).run(acts.poll_mailbox_inbox, poll)
    assert out.recorded == 3

    await _until(lambda: len(receiver.requests) == 3)
    events = {}
    for _, headers, body in receiver.requests:
        assert verify_signature(secret, headers["PenguinMails-Signature"], body, int(time.time()))
        event = json.loads(body)
        events[event["type"]] = event["data"]
        assert "@" not in body.decode()  # ids only
    assert events["replied"]["category"] == "interested"
    assert (events["replied"]["lead_id"], events["replied"]["message_id"]) == (str(l0), str(r0))
    assert events["bounced"]["bounce_type"] == "hard" and events["bounced"]["lead_id"] == str(l1)
    assert events["complained"]["lead_id"] == str(l2)
    assert events["replied"]["campaign_id"] == str(world.campaign_id)

    again = await record_inbound(db, world.tenant_id, world.mailbox_id, reply)
    assert not again.created and len(again.webhook_event_ids) == 1
    await wake_endpoints(db, lambda: temporal_client, world.tenant_id, again.webhook_event_ids)
    await asyncio.sleep(1.5)
    assert len(receiver.requests) == 3


@pytest.mark.usefixtures("dev_targets")
async def test_a_removed_lead_and_a_cancelled_campaign_s_leads_are_finished_once_each(
    services: Services,
    temporal_dev_server: WorkflowEnvironment,
    receiver: Receiver,
    secret_store: SecretStore,
    admin_conn: asyncpg.Connection,
) -> None:
    """`lead.finished` for every way a sequence ends: removed by the tenant, stopped by the
    campaign's cancel (by its fan-out or by the lead's own ending, whichever comes first)."""
    from tests.fixtures.campaigns import engine_campaign
    from tests.workflows.test_campaign_engine import (
        WAIT_72H,
        Deliveries,
        engine,
        enrollments,
        until,
    )
    from usecases.campaigns import remove_enrollment

    db = services.db
    c = await engine_campaign(
        admin_conn, steps=[{"step_type": "email"}, WAIT_72H, {"step_type": "email"}]
    )
    await create_endpoint(
        db, secret_store, c.tenant.tenant_id, f"{receiver.url}/leads", ["lead.finished"], None
    )
    async with engine(temporal_dev_server, db, c, Deliveries(db)) as handle:
        await handle.execute_update(CampaignWorkflow.start, StartRequest(c.tenant_id))

        async def all_waiting() -> bool:
            rows = await enrollments(admin_conn, c)
            return {r["current_step"] for r in rows.values()} == {1}

        await until(all_waiting)
        removed = c.leads[0]
        assert await remove_enrollment(
            db, temporal_dev_server.client, c.tenant.tenant_id, c.tenant.campaign_id, removed
        )
        await handle.execute_update(CampaignWorkflow.cancel, CancelRequest(c.tenant_id))
        assert (await handle.result()).status == "cancelled"

    await _until(lambda: len(receiver.requests) >= 3)
    await asyncio.sleep(1)
    finished = {}
    for _, _, body in receiver.requests:
        event = json.loads(body)
        assert event["type"] == "lead.finished"
        finished[event["data"]["lead_id"]] = event["data"]
    assert len(receiver.requests) == 3 and set(finished) == {str(lead) for lead in c.leads}
    assert finished[str(removed)]["status"] == "removed"
    assert {finished[str(lead)]["status"] for lead in c.leads[1:]} == {"stopped"}


class _LostWakeUp:
    """A client whose signal-with-start never arrives: the worker died after the commit."""

    async def start_workflow(self, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError("the worker died before the wake-up went out")


@pytest.mark.usefixtures("dev_targets")
async def test_a_retry_wakes_the_endpoint_whose_first_wake_up_was_lost(
    services: Services,
    temporal_client: Client,
    receiver: Receiver,
    secret_store: SecretStore,
    admin_conn: asyncpg.Connection,
) -> None:
    """The lead's ending and its `lead.finished` delivery commit together; the wake-up
    after the commit is lost; the activity's retry ends nothing again but finds the
    delivery pending and wakes the endpoint: delivered once."""
    import dataclasses

    from activities.campaigns import CampaignActivities
    from activities.interfaces.campaigns import LeadEndingInput
    from tests.fixtures.campaigns import engine_campaign

    db = services.db
    c = await engine_campaign(admin_conn, emails=["retry@hooks.test"])
    await create_endpoint(
        db, secret_store, c.tenant.tenant_id, f"{receiver.url}/retry", ["lead.finished"], None
    )
    await admin_conn.execute(
        "UPDATE campaign_leads SET status = 'active' WHERE campaign_id = $1", c.tenant.campaign_id
    )
    ending = LeadEndingInput(c.tenant_id, c.campaign_id, str(c.leads[0]), "completed", "done")
    env = ActivityEnvironment()
    lost = CampaignActivities(db, client=_LostWakeUp())  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        await env.run(lost.record_lead_ending, ending)
    status = await admin_conn.fetchval(
        "SELECT status FROM campaign_leads WHERE lead_id = $1", c.leads[0]
    )
    assert status == "completed"  # committed before the wake-up was lost
    await asyncio.sleep(0.5)
    assert receiver.requests == []

    env.info = dataclasses.replace(env.info, attempt=2)  # the same activity, retried
    again = await env.run(CampaignActivities(db, client=temporal_client).record_lead_ending, ending)
    assert (again.status, again.recorded) == ("completed", False)
    await _until(lambda: len(receiver.requests) == 1)
    event = json.loads(receiver.requests[0][2])
    assert event["type"] == "lead.finished" and event["data"]["reason"] == "done"
    await asyncio.sleep(1)
    assert len(receiver.requests) == 1
