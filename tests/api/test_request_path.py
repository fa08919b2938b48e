"""The authenticated request path: round trips on the wire, a key cache that revocation
outruns, the one retry of a dropped connection, 503 without a database, the rate limits of
an authenticated request in one Redis call."""

from __future__ import annotations

import asyncio
import struct
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from api.deps import Principal
from api.keycache import KeyCache
from api.services import Services
from devstack.ports import free_port
from penguinmails.db import Database
from penguinmails.settings import Settings
from tests.api.conftest import Tenant, client_for, make_services, sign_up


@dataclass
class WireCounter:
    """Server messages seen by the proxy: ReadyForQuery ('Z') ends every round trip."""

    ready: int = 0
    batches: int = 0  # client -> server writes


class CountingProxy:
    """A TCP proxy between asyncpg and Postgres that parses the server's message stream."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.counter = WireCounter()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)

        async def client_to_server() -> None:
            while data := await reader.read(65536):
                self.counter.batches += 1
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def server_to_client() -> None:
            buffer = b""
            first = True
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()
                buffer += data
                if first and buffer[:1] in (b"N", b"S") and len(buffer) >= 1:
                    # The answer to asyncpg's SSLRequest: one byte, no message frame.
                    buffer = buffer[1:]
                first = False
                while len(buffer) >= 5:
                    kind = buffer[:1]
                    (length,) = struct.unpack("!i", buffer[1:5])
                    if len(buffer) < 1 + length:
                        break
                    if kind == b"Z":
                        self.counter.ready += 1
                    buffer = buffer[1 + length :]
            writer.close()

        await asyncio.gather(client_to_server(), server_to_client(), return_exceptions=True)


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(
        (parts.scheme, f"{netloc[0]}@{host}" if len(netloc) == 2 else host, parts.path, "", "")
    )


@pytest.fixture
async def proxied(
    settings: Settings, services: Services, temporal_client: Client, codec_key: bytes
) -> AsyncIterator[tuple[Services, WireCounter]]:
    """An API process whose database connections go through the counting proxy."""
    assert settings.database_url
    parts = urlsplit(settings.database_url)
    proxy = CountingProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    through = settings.model_copy(
        update={
            "database_url": _with_port(settings.database_url, proxy.port),
            "database_pool_size": 1,
            "database_max_overflow": 0,
        }
    )
    db = Database(through)
    svc = make_services(through, db, temporal_client, codec_key, services.secrets)
    yield svc, proxy.counter
    await svc.redis.aclose()
    await db.dispose()
    await proxy.stop()


async def test_an_authenticated_list_costs_three_round_trips(
    proxied: tuple[Services, WireCounter], api: httpx.AsyncClient
) -> None:
    svc, wire = proxied
    tenant = await sign_up(api)
    assert (
        await api.post("/v1/companies", json={"name": "W"}, headers=tenant.auth)
    ).status_code == 201
    async with client_for(svc) as client:
        # Warm: the pool's connection is open, its statements prepared, the key verified.
        for _ in range(2):
            assert (
                await client.get("/v1/companies?limit=20", headers=tenant.auth)
            ).status_code == 200
        before = wire.ready
        r = await client.get("/v1/companies?limit=20", headers=tenant.auth)
        assert r.status_code == 200 and r.json()["items"]
        # BEGIN + set_config, the select, COMMIT.
        assert wire.ready - before == 3

        svc.keys = KeyCache(svc.settings.api_key_cache_seconds)  # a key not seen yet
        before = wire.ready
        assert (await client.get("/v1/companies?limit=20", headers=tenant.auth)).status_code == 200
        # And the lookup through auth_api_key() first, outside the transaction.
        assert wire.ready - before == 4

    # The worker's path: Database.tenant_session with one statement.
    before = wire.ready
    async with svc.db.tenant_session(tenant.tenant_id) as session:
        from sqlalchemy import text

        assert (await session.execute(text("SELECT count(*) FROM companies"))).scalar()
    assert wire.ready - before == 3


async def test_a_revoked_key_stops_working_on_another_process_within_five_seconds(
    services: Services, api: httpx.AsyncClient, tenant_a: Tenant, temporal_client: Client,
    codec_key: bytes,
) -> None:  # fmt: skip
    created = await api.post("/v1/api-keys", json={"name": "short"}, headers=tenant_a.auth)
    key = created.json()["key"]
    auth = {"Authorization": f"Bearer {key}"}
    # Another API process: its own key cache, the same database.
    other = make_services(services.settings, services.db, temporal_client, codec_key)
    try:
        async with client_for(other) as elsewhere:
            assert (await elsewhere.get("/v1/companies", headers=auth)).status_code == 200
            assert (await elsewhere.get("/v1/companies", headers=auth)).status_code == 200
            revoked = await api.delete(
                f"/v1/api-keys/{created.json()['id']}", headers=tenant_a.auth
            )
            assert revoked.status_code == 200
            started = time.monotonic()
            assert (await api.get("/v1/companies", headers=auth)).status_code == 401  # at once here
            while (await elsewhere.get("/v1/companies", headers=auth)).status_code == 200:
                assert time.monotonic() - started < 5, "the other process still takes the key"
                await asyncio.sleep(0.05)
            r = await elsewhere.get("/v1/companies", headers=auth)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    finally:
        await other.redis.aclose()


def test_the_key_cache_trusts_an_entry_for_its_time_only() -> None:
    now = [100.0]
    cache: KeyCache[str] = KeyCache(2.0, clock=lambda: now[0])
    from uuid import uuid4

    from penguinmails.security import generate_key

    new, other = generate_key(), generate_key()
    key_id, user_id = uuid4(), uuid4()
    cache.put(new.prefix, new.key_hash, "principal", key_id, user_id)
    assert cache.get(new.prefix, new.plaintext) == "principal"
    assert cache.get(new.prefix, other.plaintext) is None  # same prefix, another secret
    now[0] += 2.0
    assert cache.get(new.prefix, new.plaintext) is None
    cache.put(new.prefix, new.key_hash, "principal", key_id, user_id)
    cache.forget_user(user_id)
    assert cache.get(new.prefix, new.plaintext) is None


def test_the_key_cache_forgets_a_suspended_tenants_keys_only() -> None:
    from dataclasses import dataclass
    from uuid import UUID, uuid4

    from penguinmails.security import generate_key

    @dataclass(frozen=True)
    class P:
        tenant_id: UUID

    cache: KeyCache[P] = KeyCache(5.0)
    suspended, other = uuid4(), uuid4()
    keys = {generate_key(): P(suspended), generate_key(): P(suspended), generate_key(): P(other)}
    for key, principal in keys.items():
        cache.put(key.prefix, key.key_hash, principal, uuid4(), uuid4())
    cache.forget_tenant(suspended)
    assert [cache.get(k.prefix, k.plaintext) for k in keys] == [None, None, P(other)]


async def test_a_connection_dropped_between_requests_is_replaced_by_one_retry(
    settings: Settings,
    services: Services,
    api: httpx.AsyncClient,
    temporal_client: Client,
    codec_key: bytes,
    admin_conn: asyncpg.Connection,
) -> None:
    tenant = await sign_up(api)
    assert (
        await api.post("/v1/companies", json={"name": "W"}, headers=tenant.auth)
    ).status_code == 201
    one = settings.model_copy(update={"database_pool_size": 1, "database_max_overflow": 0})
    db = Database(one)
    svc = make_services(one, db, temporal_client, codec_key)
    try:
        async with client_for(svc) as client:
            assert (await client.get("/v1/companies", headers=tenant.auth)).status_code == 200
            async with db.connection(lambda d: d.fetchval("SELECT pg_backend_pid()")) as (_, pid):
                pass
            # Waits (up to 5 s) until the backend is gone.
            assert await admin_conn.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
            r = await client.get("/v1/companies", headers=tenant.auth)
            assert r.status_code == 200, r.text
            assert r.json()["items"]
            async with db.connection(lambda d: d.fetchval("SELECT pg_backend_pid()")) as (_, new):
                assert new != pid
    finally:
        await svc.redis.aclose()
        await db.dispose()


async def test_without_a_database_an_authenticated_request_answers_503(
    settings: Settings, services: Services, temporal_client: Client, codec_key: bytes,
    tenant_a: Tenant,
) -> None:  # fmt: skip
    assert settings.database_url
    down = settings.model_copy(
        update={"database_url": _with_port(settings.database_url, free_port())}
    )
    db = Database(down)
    svc = make_services(down, db, temporal_client, codec_key)
    try:
        async with client_for(svc) as client:
            # A key never seen: its lookup cannot run.
            r = await client.get("/v1/companies", headers=tenant_a.auth)
            assert r.status_code == 503
            assert r.json()["error"]["code"] == "service_unavailable"
            assert "database" in r.json()["error"]["message"]
            # A key this process verified a moment ago: the tenant transaction cannot begin.
            from uuid import UUID

            from penguinmails.security import hash_key, key_prefix

            prefix = key_prefix(tenant_a.key)
            assert prefix is not None
            principal = Principal(
                UUID(tenant_a.tenant_id), UUID(tenant_a.user_id), UUID(int=1), frozenset({"owner"})
            )
            svc.keys.put(prefix, hash_key(tenant_a.key), principal, principal.api_key_id,
                         principal.user_id)  # fmt: skip
            r = await client.get("/v1/companies", headers=tenant_a.auth)
            assert r.status_code == 503
            assert r.json()["error"]["code"] == "service_unavailable"
    finally:
        await svc.redis.aclose()
        await db.dispose()


async def test_authenticated_requests_count_against_their_address_too(
    services: Services, tenant_a: Tenant
) -> None:
    tight = services.settings.model_copy(
        update={"rate_limit_per_ip_per_minute": 2, "rate_limit_per_key_per_minute": 1000}
    )
    svc = Services(**{**services.__dict__, "settings": tight})
    async with client_for(svc) as client:
        codes = [
            (await client.get("/v1/companies", headers=tenant_a.auth)).status_code for _ in range(3)
        ]
        assert codes == [200, 200, 429]
        r = await client.get("/v1/companies", headers=tenant_a.auth)
        assert r.status_code == 429 and "address" in r.json()["error"]["message"]
        assert 1 <= int(r.headers["retry-after"]) <= 61
        # A wrong key from that address is refused by the address's limit as well.
        r = await client.get("/v1/companies", headers={"Authorization": "Bearer pm_x_y"})
        assert r.status_code == 429


async def test_list_items_are_what_the_single_reads_answer(
    api: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    """Lists are written from Core rows straight to JSON: each item must be exactly the
    single read's document (UUIDs, UTC datetimes, JSON objects, nulls), and pages chain."""
    auth = tenant_a.auth
    domain = f"p{uuid.uuid4().hex[:10]}.example.test"
    r = await api.post("/v1/domains", json={"domain": domain}, headers=auth)
    assert r.status_code == 201, r.text
    account = {
        "email": f"ada@{domain}",
        "password": "pw-1",
        "smtp": {"host": "127.0.0.1", "port": 2525, "security": "none"},
        "imap": {"host": "127.0.0.1", "port": 1143, "security": "none"},
        "sending_window": {"start": "08:30", "end": "16:00", "days": [1, 2]},
    }
    assert (await api.post("/v1/email-accounts", json=account, headers=auth)).status_code == 201
    for i in range(3):
        r = await api.post("/v1/companies", json={"name": f"C{i}", "industry": None}, headers=auth)
        assert r.status_code == 201
    r = await api.post("/v1/lead-lists", json={"name": "L", "description": "d"}, headers=auth)
    assert r.status_code == 201
    for resource in ("companies", "domains", "email-accounts", "lead-lists"):
        seen: list[dict[str, object]] = []
        cursor: str | None = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await api.get(f"/v1/{resource}", params=params, headers=auth)
            assert page.status_code == 200 and page.headers["content-type"] == "application/json"
            seen += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert seen, resource
        assert len({item["id"] for item in seen}) == len(seen)
        for item in seen:
            single = await api.get(f"/v1/{resource}/{item['id']}", headers=auth)
            assert single.json() == item, resource
    r = await api.post("/v1/suppressions", json={"domain": "nope.example"}, headers=auth)
    listed = (await api.get("/v1/suppressions", headers=auth)).json()["items"]
    assert r.json() in listed
    keys = (await api.get("/v1/api-keys", headers=auth)).json()["items"]
    assert keys and keys[0]["prefix"] in tenant_a.key and keys[0]["revoked"] is None
