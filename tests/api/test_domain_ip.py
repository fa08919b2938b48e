"""`POST/GET /v1/domains/{id}/ip`: two tenants put their domains on the platform's one
shared IP; each sees its own domain on it and nothing of the other's; another tenant's
domain or IP is a 404; an empty pool is a 409."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from tests.api.conftest import Tenant
from tests.fixtures.ip_pool import empty_pool, shared_ip


async def _domain(admin_conn: asyncpg.Connection, tenant: Tenant) -> str:
    tenant_id = uuid.UUID(tenant.tenant_id)
    company = await admin_conn.fetchval(
        "INSERT INTO companies (id, tenant_id, name) VALUES (gen_random_uuid(), $1, 'c') "
        "RETURNING id",
        tenant_id,
    )
    domain = await admin_conn.fetchval(
        "INSERT INTO domains (id, tenant_id, company_id, domain) "
        "VALUES (gen_random_uuid(), $1, $2, $3) RETURNING id",
        tenant_id,
        company,
        f"ip-{uuid.uuid4().hex[:8]}.test",
    )
    return str(domain)


async def test_two_tenants_on_one_shared_ip_see_only_their_own_domain(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, admin_conn: asyncpg.Connection
) -> None:
    await empty_pool(admin_conn)
    ip = await shared_ip(admin_conn)
    mine, theirs = await _domain(admin_conn, tenant_a), await _domain(admin_conn, tenant_b)
    before = await api.get(f"/v1/domains/{mine}/ip", headers=tenant_a.auth)
    assert before.status_code == 404  # no platform IP yet

    for tenant, domain in ((tenant_a, mine), (tenant_b, theirs)):
        r = await api.post(f"/v1/domains/{domain}/ip", json={"pool": "shared"}, headers=tenant.auth)
        assert r.status_code == 200, r.text
        assert r.json() == {
            "domain_id": domain,
            "pool": "shared",
            "ip_address": ip.address,
            "status": "active",
        }

    # Neither reaches the other's domain, nor its assignment, through the API.
    for path in (f"/v1/domains/{theirs}", f"/v1/domains/{theirs}/ip"):
        assert (await api.get(path, headers=tenant_a.auth)).status_code == 404
    r = await api.post(f"/v1/domains/{theirs}/ip", json={"pool": "shared"}, headers=tenant_a.auth)
    assert r.status_code == 404
    listed = (await api.get("/v1/domains", headers=tenant_a.auth)).json()["items"]
    assert [d["id"] for d in listed] == [mine]
    # The shared IP is the platform's: not among the tenant's own IPs.
    own = await api.get("/v1/ip-addresses", headers=tenant_a.auth)
    assert own.status_code == 200 and own.json()["items"] == []
    assert (await api.get(f"/v1/ip-addresses/{ip.ip_id}", headers=tenant_a.auth)).status_code == 404
    # Nor can it be claimed as the tenant's own.
    r = await api.post(
        f"/v1/domains/{mine}/ip",
        json={"pool": "dedicated", "ip_address_id": str(ip.ip_id)},
        headers=tenant_a.auth,
    )
    assert r.status_code == 404
    r = await api.get(f"/v1/domains/{mine}/ip", headers=tenant_a.auth)
    assert r.status_code == 200 and r.json()["pool"] == "shared"


async def test_an_empty_pool_and_a_bad_body(
    api: httpx.AsyncClient, tenant_a: Tenant, admin_conn: asyncpg.Connection
) -> None:
    await empty_pool(admin_conn)
    domain = await _domain(admin_conn, tenant_a)
    r = await api.post(f"/v1/domains/{domain}/ip", json={"pool": "shared"}, headers=tenant_a.auth)
    assert r.status_code == 409 and "shared pool" in r.text
    r = await api.post(
        f"/v1/domains/{domain}/ip", json={"pool": "dedicated"}, headers=tenant_a.auth
    )
    assert r.status_code == 422
