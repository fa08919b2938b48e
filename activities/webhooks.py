"""Outbound webhook delivery: POSTs an endpoint's due deliveries, signed, and records each
attempt; and `publish`, which turns events into deliveries and wakes the endpoints' workflows
(or, for an event that must commit with the change it reports, `enqueue_event` inside that
change's transaction and `wake_endpoints` after its commit).

A delivery is claimed for a lease (its `next_attempt_at` moved ahead) in a short
transaction, posted outside any transaction, and its outcome recorded in another: no
database connection waits on a slow endpoint, and a worker that dies mid-POST leaves the
delivery to be tried again once the lease ends (receivers dedupe on the event id).

The target is resolved here, at delivery time, and every address it resolves to is checked
(SSRF: a name that resolved to a public address at registration may point inward later);
the connection goes to the checked address, with the host name for SNI and `Host`. A
redirect is an answer, not a place to go: it is recorded as a failure and never followed.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.client import Client

from activities.interfaces.search import tenant_search_attributes
from activities.interfaces.webhooks import (
    DELIVER_WEBHOOKS,
    NUDGE_SIGNAL,
    WEBHOOK_ENDPOINT_KIND,
    WEBHOOK_ENDPOINT_WORKFLOW,
    WEBHOOKS_QUEUE,
    DeliverWebhooksInput,
    DeliverWebhooksOutput,
    WebhookEndpointInput,
)
from penguinmails.db import Database
from penguinmails.models.base import utcnow
from penguinmails.models.webhooks import WebhookDelivery
from penguinmails.repositories.webhooks import WebhookRepository
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from penguinmails.webhooks import (
    DELIVERY_ID_HEADER,
    DISABLE_AFTER,
    EVENT_ID_HEADER,
    GIVE_UP_AFTER,
    SIGNATURE_HEADER,
    next_attempt,
    refused_address,
    sign,
)

BATCH = 20
LEASE_SECONDS = 120
MAX_ERROR = 500


class TargetRefused(Exception):
    """The endpoint's host resolves to an address deliveries may not reach."""


async def _addresses(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def post_signed(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout_seconds: float,
    allow_private: bool,
) -> int:
    """POST `body` to `url` through a checked address; the status code. Raises
    TargetRefused, httpx errors and OSError."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await _addresses(host, port)
    if not allow_private:
        for address in addresses:
            reason = refused_address(address)
            if reason is not None:
                raise TargetRefused(f"{host} resolves to {reason}")
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = f"{host}:{parts.port}" if parts.port else host
    async with httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False) as client:
        response = await client.post(
            pinned,
            content=body,
            headers={**headers, "Host": host_header, "Content-Type": "application/json"},
            extensions={"sni_hostname": host},
        )
    return response.status_code


def delivery_body(delivery: WebhookDelivery) -> bytes:
    event = {
        "id": delivery.event_id,
        "type": delivery.event_type,
        "occurred_at": delivery.occurred_at.isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(event, separators=(",", ":"), sort_keys=True).encode()


class WebhookActivities:
    def __init__(self, db: Database, secrets: SecretStore | None, settings: Settings) -> None:
        self.db = db
        self.secrets = secrets
        self.settings = settings

    @activity.defn(name=DELIVER_WEBHOOKS)
    async def deliver_webhooks(self, data: DeliverWebhooksInput) -> DeliverWebhooksOutput:
        tenant_id, endpoint_id = UUID(data.tenant_id), UUID(data.endpoint_id)
        async with self.db.tenant_session(tenant_id) as session:
            endpoint = await WebhookRepository(session).get(endpoint_id)
            if endpoint is None or endpoint.status != "active":
                return DeliverWebhooksOutput(active=False)
            url, path = endpoint.url, endpoint.vault_key_path
        if self.secrets is None:
            raise RuntimeError("webhook delivery needs the secret store")
        stored = await self.secrets.read(path)
        if not stored or "secret" not in stored:
            raise RuntimeError("the endpoint's signing secret is missing from the secret store")
        secret = stored["secret"]
        totals = {"delivered": 0, "pending": 0, "failed": 0}
        while True:
            activity.heartbeat()
            claimed = await self._claim(tenant_id, endpoint_id)
            if not claimed:
                break
            for delivery in claimed:
                outcome = await self._attempt(url, secret, delivery)
                totals[outcome] += 1
            if await self._disable_if_failing(tenant_id, endpoint_id):
                return DeliverWebhooksOutput(active=False, **_counts(totals))
        async with self.db.tenant_session(tenant_id) as session:
            due = await WebhookRepository(session).next_due(endpoint_id)
        wait = None if due is None else max(0.0, (due - utcnow()).total_seconds())
        return DeliverWebhooksOutput(active=True, next_due_seconds=wait, **_counts(totals))

    async def _claim(self, tenant_id: UUID, endpoint_id: UUID) -> list[WebhookDelivery]:
        now = utcnow()
        async with self.db.tenant_session(tenant_id) as session:
            repo = WebhookRepository(session)
            claimed = await repo.due(endpoint_id, now, BATCH)
            await repo.lease(claimed, now, LEASE_SECONDS)
        return claimed

    async def _attempt(self, url: str, secret: str, delivery: WebhookDelivery) -> str:
        body = delivery_body(delivery)
        headers = {
            SIGNATURE_HEADER: sign(secret, int(time.time()), body),
            EVENT_ID_HEADER: delivery.event_id,
            DELIVERY_ID_HEADER: str(delivery.id),
            "User-Agent": "PenguinMails-Webhooks/1",
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            status = await post_signed(
                url,
                body,
                headers,
                timeout_seconds=self.settings.webhook_timeout_seconds,
                allow_private=self.settings.webhook_allow_private_targets,
            )
            if 300 <= status < 400:
                error = f"redirect ({status}) not followed"
            elif not 200 <= status < 300:
                error = f"the endpoint answered {status}"
        except TargetRefused as exc:
            error = str(exc)
        except httpx.TimeoutException:
            error = f"no answer within {self.settings.webhook_timeout_seconds:g} s"
        except (httpx.HTTPError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
        duration_ms = int((time.monotonic() - started) * 1000)
        now = utcnow()
        if error is None:
            outcome, retry_at = "delivered", None
        elif now - delivery.created >= GIVE_UP_AFTER:
            outcome, retry_at = "failed", None
        else:
            outcome, retry_at = "pending", next_attempt(delivery.attempts + 1, now)
        async with self.db.tenant_session(delivery.tenant_id) as session:
            repo = WebhookRepository(session)
            current = await repo.delivery(delivery.id)
            if current is not None and current.status == "pending":
                await repo.record_attempt(
                    current,
                    status_code=status,
                    error=error,
                    duration_ms=duration_ms,
                    outcome=outcome,
                    next_attempt_at=retry_at,
                )
        return outcome

    async def _disable_if_failing(self, tenant_id: UUID, endpoint_id: UUID) -> bool:
        async with self.db.tenant_session(tenant_id) as session:
            repo = WebhookRepository(session)
            endpoint = await repo.get(endpoint_id, for_update=True)
            if endpoint is None:
                return True
            since = endpoint.failing_since
            if since is None or utcnow() - since < DISABLE_AFTER:
                return False
            await repo.disable(endpoint, "no successful delivery for a day")
            return True


def _counts(totals: dict[str, int]) -> dict[str, int]:
    return {
        "delivered": totals["delivered"],
        "retrying": totals["pending"],
        "failed": totals["failed"],
    }


def endpoint_workflow_id(tenant_id: UUID | str, endpoint_id: UUID | str) -> str:
    return f"{WEBHOOK_ENDPOINT_KIND}:{tenant_id}:{endpoint_id}"


async def nudge_endpoints(
    client: Client, tenant_id: UUID, endpoint_ids: Sequence[UUID], search_attributes: Any = None
) -> None:
    """Start each endpoint's workflow, or wake the running one: one signal per endpoint and
    batch of events, never one per event. A started workflow carries the tenant's search
    attribute whoever starts it."""
    if search_attributes is None:
        search_attributes = tenant_search_attributes(tenant_id)
    for endpoint_id in dict.fromkeys(endpoint_ids):
        await client.start_workflow(
            WEBHOOK_ENDPOINT_WORKFLOW,
            WebhookEndpointInput(str(tenant_id), str(endpoint_id)),
            id=endpoint_workflow_id(tenant_id, endpoint_id),
            task_queue=WEBHOOKS_QUEUE,
            start_signal=NUDGE_SIGNAL,
            search_attributes=search_attributes,
        )


async def publish(
    db: Database,
    client: Client,
    tenant_id: UUID,
    events: Sequence[tuple[str, str, datetime, dict[str, Any]]],
    search_attributes: Any = None,
) -> list[UUID]:
    """Events `(event_id, type, occurred_at, data)` of one tenant become deliveries for its
    subscribed endpoints (once per endpoint and event id, however often published), then
    the endpoints that got any are woken. The endpoints woken."""
    endpoints: list[UUID] = []
    async with db.tenant_session(tenant_id) as session:
        repo = WebhookRepository(session)
        wanted = await repo.subscribed_types()
        for event_id, event_type, occurred_at, payload in events:
            if event_type not in wanted:
                continue
            endpoints += await repo.enqueue(
                event_id, event_type, occurred_at, json.dumps(payload, default=str)
            )
    if endpoints:
        await nudge_endpoints(client, tenant_id, endpoints, search_attributes)
    return list(dict.fromkeys(endpoints))


async def enqueue_event(
    session: AsyncSession,
    event_id: str,
    event_type: str,
    occurred_at: datetime,
    data: dict[str, Any],
) -> list[UUID]:
    """The event's deliveries inside the caller's transaction: they exist exactly when the
    change they report committed. The endpoints that got one; `wake_endpoints` follows the
    commit."""
    return await WebhookRepository(session).enqueue(
        event_id, event_type, occurred_at, json.dumps(data, default=str)
    )


async def wake_endpoints(
    db: Database,
    client: Callable[[], Client],
    tenant_id: UUID,
    event_ids: Sequence[str],
    enqueued: Sequence[UUID] | None = None,
) -> list[UUID]:
    """Wake the endpoints holding a pending delivery of these events, after the commit
    that enqueued them. `enqueued`: the endpoints this call's transaction gave one (from
    `enqueue_event`), enough on a first attempt; on a retry, or without it, the pending
    deliveries are looked up (a commit whose wake-up was lost finds them still pending).
    No client is asked for when there is nothing to wake."""
    if not event_ids:
        return []
    retry = activity.in_activity() and activity.info().attempt > 1
    if enqueued is not None and not retry:
        endpoints = list(dict.fromkeys(enqueued))
    else:
        async with db.tenant_session(tenant_id) as session:
            endpoints = await WebhookRepository(session).endpoints_pending(event_ids)
    if endpoints:
        await nudge_endpoints(client(), tenant_id, endpoints)
    return endpoints


def activity_event_id(kind: str) -> str:
    """An event id the same on every attempt of the running activity, different for each
    activity of each workflow run: `kind:run id:activity id` (a fresh one when not running
    as an activity, as in a direct call)."""
    if not activity.in_activity():
        return f"{kind}:{uuid.uuid4().hex}"
    info = activity.info()
    return f"{kind}:{info.workflow_run_id}:{info.activity_id}"
