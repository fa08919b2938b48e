"""An API wired to the session's real services (Postgres, Redis, Temporal dev server, Vault)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from temporalio.client import Client

from api.app import create_app
from api.ratelimit import RateLimiter
from api.services import Services
from penguinmails.codec import EncryptionCodec
from penguinmails.db import Database
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings

_ips = itertools.count(1)


def make_services(
    settings: Settings,
    db: Database,
    temporal_client: Client,
    codec_key: bytes,
    secrets: SecretStore | None = None,
) -> Services:
    redis = Redis.from_url(settings.redis_url or "")
    return Services(
        settings=settings,
        db=db,
        redis=redis,
        temporal=temporal_client,
        codec=EncryptionCodec(codec_key),
        limiter=RateLimiter(redis),
        secrets=secrets,
    )


@pytest.fixture(scope="session")
async def services(
    settings: Settings,
    db: Database,
    temporal_client: Client,
    codec_key: bytes,
    app_worker: Any,
    secret_store: SecretStore,
) -> AsyncIterator[Services]:
    svc = make_services(settings, db, temporal_client, codec_key, secret_store)
    yield svc
    await svc.redis.aclose()


def client_for(services: Services, ip: str | None = None) -> httpx.AsyncClient:
    # Each test client comes from its own address so per-IP limits never couple tests.
    if ip is None:
        n = next(_ips)
        ip = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
    transport = httpx.ASGITransport(app=create_app(services=services), client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://api.test")


@pytest.fixture
async def api(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(services) as client:
        yield client


@dataclass
class Tenant:
    tenant_id: str
    user_id: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


_emails = itertools.count()


async def sign_up(api: httpx.AsyncClient, name: str = "Acme") -> Tenant:
    import uuid

    email = f"owner-{uuid.uuid4().hex[:8]}-{next(_emails)}@example.com"
    response = await api.post("/v1/tenants", json={"name": name, "owner_email": email})
    assert response.status_code == 201, response.text
    body = response.json()
    return Tenant(body["tenant_id"], body["user_id"], body["api_key"])


@pytest.fixture
async def tenant_a(api: httpx.AsyncClient) -> Tenant:
    return await sign_up(api, "Tenant A")


@pytest.fixture
async def tenant_b(api: httpx.AsyncClient) -> Tenant:
    return await sign_up(api, "Tenant B")


async def set_plan(services: Services, tenant_id: str, plan_name: str) -> None:
    """Put the tenant on a plan directly (as a mirrored Stripe subscription would)."""
    from sqlalchemy import text

    async with services.db.admin_session() as session:
        await session.execute(
            text(
                "UPDATE subscriptions SET plan_id = (SELECT id FROM plans WHERE plan_name = :p), "
                "status = 'active' WHERE tenant_id = CAST(:t AS uuid)"
            ),
            {"p": plan_name, "t": tenant_id},
        )


async def key_for_member(api: httpx.AsyncClient, owner: Tenant, user_id: str) -> str:
    r = await api.post(
        "/v1/api-keys", json={"name": "member key", "user_id": user_id}, headers=owner.auth
    )
    assert r.status_code == 201, r.text
    return str(r.json()["key"])
