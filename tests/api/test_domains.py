"""Domains through the API, against real Postgres, Vault, Temporal and the loopback DNS."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx

from api.services import Services
from devstack.dns import Zone
from devstack.ports import free_port
from penguinmails.secrets import SecretStore
from tests.api.conftest import Tenant, client_for


def new_domain() -> str:
    return f"d{uuid.uuid4().hex[:10]}.example.test"


async def create(api: httpx.AsyncClient, tenant: Tenant, domain: str) -> dict[str, Any]:
    r = await api.post("/v1/domains", json={"domain": domain}, headers=tenant.auth)
    assert r.status_code == 201, r.text
    return dict(r.json())


def publish(zone: Zone, records: list[dict[str, Any]], skip: tuple[str, ...] = ()) -> None:
    for r in records:
        if r["purpose"] not in skip:
            zone.add(r["name"], r["type"], r["value"], priority=r.get("priority") or 10)


async def wait_for(
    api: httpx.AsyncClient, tenant: Tenant, domain_id: str, check: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(300):
        r = await api.get(f"/v1/domains/{domain_id}/dns-records", headers=tenant.auth)
        body = r.json()
        if check(body):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition never met: {body}")


async def test_add_publish_verify(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    dns_zone: Zone,
    secret_store: SecretStore,
    admin_conn: asyncpg.Connection,
) -> None:
    name = new_domain()
    created = await create(api, tenant_a, " " + name.upper() + ". ")
    assert created["domain"] == name
    assert created["verification_status"] == "pending"
    assert created["dkim_selector"].startswith("pm")

    r = await api.get(f"/v1/domains/{created['id']}/dns-records", headers=tenant_a.auth)
    assert r.status_code == 200
    records = r.json()["records"]
    assert [x["purpose"] for x in records] == ["spf", "dkim", "dmarc", "mx", "tracking"]

    # The private key is in Vault only; Postgres has its path.
    row = await admin_conn.fetchrow(
        "SELECT vault_key_path, dns_records::text AS records FROM domains WHERE id = $1",
        uuid.UUID(created["id"]),
    )
    secret = await secret_store.read(row["vault_key_path"])
    assert secret and secret["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert "PRIVATE" not in row["records"]

    # Nothing published yet: the first check fails every record and keeps trying.
    body = await wait_for(api, tenant_a, created["id"], lambda b: b["last_checked_at"])
    assert body["verification_status"] == "verifying"
    assert {x["status"] for x in body["records"]} == {"fail"}

    # All but DMARC: still verifying, the per-record results say which one is missing.
    publish(dns_zone, records, skip=("dmarc",))
    r = await api.post(f"/v1/domains/{created['id']}/verify", headers=tenant_a.auth)
    assert r.status_code == 202, r.text
    assert r.json()["workflow_id"] == f"domain-verification:{tenant_a.tenant_id}:{created['id']}"
    body = await wait_for(
        api,
        tenant_a,
        created["id"],
        lambda b: next(x for x in b["records"] if x["purpose"] == "spf")["status"] == "pass",
    )
    statuses = {x["purpose"]: x["status"] for x in body["records"]}
    assert statuses == {"spf": "pass", "dkim": "pass", "dmarc": "fail", "mx": "pass",
                        "tracking": "pass"}  # fmt: skip
    dmarc = next(x for x in body["records"] if x["purpose"] == "dmarc")
    assert "no DMARC record" in dmarc["detail"]
    assert body["verification_status"] == "verifying"

    publish(dns_zone, records)
    await api.post(f"/v1/domains/{created['id']}/verify", headers=tenant_a.auth)
    body = await wait_for(
        api, tenant_a, created["id"], lambda b: b["verification_status"] == "verified"
    )
    assert {x["status"] for x in body["records"]} == {"pass"}
    domain = (await api.get(f"/v1/domains/{created['id']}", headers=tenant_a.auth)).json()
    assert domain["verified_at"] is not None


async def test_a_domain_belongs_to_one_tenant(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    name = new_domain()
    created = await create(api, tenant_a, name)
    for tenant in (tenant_b, tenant_a):
        r = await api.post("/v1/domains", json={"domain": name}, headers=tenant.auth)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "conflict"
    # Another tenant's id is not found, exactly like a missing one.
    for path in ("", "/dns-records"):
        r = await api.get(f"/v1/domains/{created['id']}{path}", headers=tenant_b.auth)
        assert r.status_code == 404
    r = await api.post(f"/v1/domains/{created['id']}/verify", headers=tenant_b.auth)
    assert r.status_code == 404
    listed = (await api.get("/v1/domains", headers=tenant_b.auth)).json()
    assert created["id"] not in [d["id"] for d in listed["items"]]

    # Removed, the name is free again (and its key is gone from Vault).
    r = await api.delete(f"/v1/domains/{created['id']}", headers=tenant_a.auth)
    assert r.status_code == 204
    await create(api, tenant_b, name)


async def test_bad_input(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    for bad in ("not a domain", "localhost", "1.2.3.4", "-x.test", "a" * 254 + ".test", ""):
        r = await api.post("/v1/domains", json={"domain": bad}, headers=tenant_a.auth)
        assert r.status_code == 422, (bad, r.text)
    r = await api.post(
        "/v1/domains",
        json={"domain": new_domain(), "company_id": str(uuid.uuid4())},
        headers=tenant_a.auth,
    )
    assert r.status_code == 404


async def test_vault_down_answers_503_and_writes_nothing(
    services: Services, tenant_a: Tenant, admin_conn: asyncpg.Connection
) -> None:
    from dataclasses import replace

    down = replace(services, secrets=SecretStore(f"http://127.0.0.1:{free_port()}", "t"))
    name = new_domain()
    async with client_for(down) as api:
        r = await api.post("/v1/domains", json={"domain": name}, headers=tenant_a.auth)
    assert r.status_code == 503, r.text
    assert "secret store" in r.json()["error"]["message"]
    assert await admin_conn.fetchval("SELECT count(*) FROM domains WHERE domain = $1", name) == 0
