"""A tenant's outbound webhook endpoints: registering one (its signing secret to Vault, shown
once), and a test event on demand. Shared by `/v1/webhooks` and anything that publishes.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from urllib.parse import urlsplit
from uuid import UUID

from temporalio.client import Client

from activities.webhooks import nudge_endpoints
from penguinmails.db import Database
from penguinmails.models.base import utcnow
from penguinmails.models.webhooks import WebhookEndpoint
from penguinmails.repositories.webhooks import WebhookRepository
from penguinmails.secrets import SecretStore
from penguinmails.webhooks import TEST_EVENT, new_secret, refused_address
from workflows.names import tenant_attributes


class InvalidTarget(ValueError):
    """The URL cannot be a webhook target (the message says why)."""


def check_target(url: str, allow_private: bool) -> str:
    """The URL as stored, or InvalidTarget: https (http too where private targets are
    allowed, i.e. in development), a host, no credentials, and no literal address in a
    refused range. Names are resolved and checked again at each delivery."""
    parts = urlsplit(url.strip())
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise InvalidTarget(f"the URL must use {' or '.join(schemes)}")
    if not parts.hostname:
        raise InvalidTarget("the URL has no host")
    if parts.username or parts.password:
        raise InvalidTarget("the URL must not carry credentials")
    if parts.fragment:
        raise InvalidTarget("the URL must not have a fragment")
    try:
        parts.port  # noqa: B018 — raises on a port out of range
    except ValueError as exc:
        raise InvalidTarget(str(exc)) from None
    if not allow_private:
        try:
            ipaddress.ip_address(parts.hostname)
        except ValueError:
            if parts.hostname == "localhost" or parts.hostname.endswith(".localhost"):
                raise InvalidTarget("localhost is not a reachable target") from None
        else:
            reason = refused_address(parts.hostname)
            if reason is not None:
                raise InvalidTarget(reason)
    return url.strip()


async def create_endpoint(
    db: Database,
    store: SecretStore,
    tenant_id: UUID,
    url: str,
    event_types: list[str],
    description: str | None,
) -> tuple[WebhookEndpoint, str]:
    """The endpoint and its signing secret (returned this once; Vault keeps it). The secret
    is written first: a row never points at a path with nothing behind it."""
    endpoint_id = uuid.uuid4()
    path = f"tenants/{tenant_id}/webhooks/{endpoint_id}"
    secret = new_secret()
    await store.write(path, {"secret": secret})
    async with db.tenant_session(tenant_id) as session:
        endpoint = await WebhookRepository(session).create(
            id=endpoint_id,
            tenant_id=tenant_id,
            url=url,
            description=description,
            event_types=sorted(set(event_types)),
            vault_key_path=path,
        )
    return endpoint, secret


async def rotate_secret(store: SecretStore, endpoint: WebhookEndpoint) -> str:
    secret = new_secret()
    await store.write(endpoint.vault_key_path, {"secret": secret})
    return secret


async def send_test_event(db: Database, client: Client, tenant_id: UUID, endpoint_id: UUID) -> str:
    """A `test` event to one endpoint, whatever it subscribes to; its event id."""
    event_id = f"test_{uuid.uuid4().hex}"
    data = {"message": "a test event from PenguinMails", "endpoint_id": str(endpoint_id)}
    async with db.tenant_session(tenant_id) as session:
        await WebhookRepository(session).enqueue(
            event_id, TEST_EVENT, utcnow(), json.dumps(data), endpoint_id=endpoint_id
        )
    await nudge_endpoints(client, tenant_id, [endpoint_id], tenant_attributes(tenant_id))
    return event_id
