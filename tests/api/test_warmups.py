"""Warmups and IP addresses through the API with the real worker and the dev Temporal
server: start an IP warmup, pause/resume/stop (updates), the bad input."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from tests.api.conftest import Tenant

_hosts = iter(range(2, 250))


async def _ip(admin_conn: asyncpg.Connection, tenant: Tenant) -> str:
    tenant_id = uuid.UUID(tenant.tenant_id)
    vps = await admin_conn.fetchval(
        "INSERT INTO vps_instances (tenant_id, provider, region, status) "
        "VALUES ($1, 'local', 'local', 'active') RETURNING id",
        tenant_id,
    )
    ip = await admin_conn.fetchval(
        "INSERT INTO smtp_ip_addresses (tenant_id, vps_instance_id, ip_address, ptr_name) "
        "VALUES ($1, $2, $3::inet, 'x.test') RETURNING id",
        tenant_id,
        vps,
        f"127.252.{next(_hosts)}.1",
    )
    return str(ip)


async def test_ip_warmup_lifecycle(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, admin_conn: asyncpg.Connection
) -> None:
    ip = await _ip(admin_conn, tenant_a)
    body = {"ip_address_id": ip, "curve": {"start": 5, "growth_pct": 25, "target": 50}}
    r = await api.post("/v1/warmups", json=body, headers=tenant_a.auth)
    assert r.status_code == 201, r.text
    warmup = r.json()
    assert (warmup["status"], warmup["today_cap"], warmup["ip_address_id"]) == ("active", 5, ip)
    assert warmup["pool"] is False  # the pool is opt-in (and for mailboxes only)
    assert warmup["workflow_id"] == f"ip-warmup:{tenant_a.tenant_id}:{ip}"
    again = await api.post("/v1/warmups", json=body, headers=tenant_a.auth)
    assert again.status_code == 409

    ips = (await api.get("/v1/ip-addresses", headers=tenant_a.auth)).json()["items"]
    assert [(i["id"], i["status"]) for i in ips] == [(ip, "warming")]
    assert (await api.get("/v1/ip-addresses", headers=tenant_b.auth)).json()["items"] == []
    assert (await api.get(f"/v1/ip-addresses/{ip}", headers=tenant_b.auth)).status_code == 404

    base = f"/v1/warmups/{warmup['id']}"
    assert (await api.post(f"{base}/pause", headers=tenant_b.auth)).status_code == 404
    assert (await api.get(base, headers=tenant_b.auth)).status_code == 404
    paused = await api.post(f"{base}/pause", headers=tenant_a.auth)
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    twice = await api.post(f"{base}/pause", headers=tenant_a.auth)
    assert twice.status_code == 409 and "cannot be paused" in twice.text
    assert (await api.get(base, headers=tenant_a.auth)).json()["status"] == "paused"
    resumed = await api.post(f"{base}/resume", headers=tenant_a.auth)
    assert resumed.json()["status"] == "active"
    stopped = await api.post(f"{base}/stop", headers=tenant_a.auth)
    assert stopped.json()["status"] == "stopped"
    assert (await api.post(f"{base}/stop", headers=tenant_a.auth)).status_code == 409
    listed = (await api.get("/v1/warmups", headers=tenant_a.auth)).json()["items"]
    assert [(w["id"], w["status"]) for w in listed] == [(warmup["id"], "stopped")]
    # Stopped: a new warmup of the same IP may start.
    r = await api.post("/v1/warmups", json=body, headers=tenant_a.auth)
    assert r.status_code == 201, r.text
    await api.post(f"/v1/warmups/{r.json()['id']}/stop", headers=tenant_a.auth)


async def test_bad_input(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, admin_conn: asyncpg.Connection
) -> None:
    ip = await _ip(admin_conn, tenant_a)
    for body, field in (
        ({"ip_address_id": ip, "curve": {"target": 0}}, "target"),
        ({"ip_address_id": ip, "curve": {"target": -10}}, "target"),
        ({"ip_address_id": ip, "curve": {"start": -1}}, "start"),
        ({"ip_address_id": ip, "curve": {"start": 80, "target": 50}}, "start"),
        ({"ip_address_id": ip, "curve": {"growth_pct": 0}}, "growth_pct"),
        ({"ip_address_id": ip, "email_account_id": str(uuid.uuid4())}, "exactly one"),
        ({}, "exactly one"),
        ({"ip_address_id": ip, "pool": True}, "warmup pool"),
    ):
        r = await api.post("/v1/warmups", json=body, headers=tenant_a.auth)
        assert r.status_code == 422, (body, r.text)
        assert field in r.text
    assert (await api.get("/v1/warmups", headers=tenant_a.auth)).json()["items"] == []
    # Another tenant's IP, or none: 404.
    for target in (ip, str(uuid.uuid4())):
        r = await api.post("/v1/warmups", json={"ip_address_id": target}, headers=tenant_b.auth)
        assert r.status_code == 404, r.text
    r = await api.post(
        "/v1/warmups", json={"email_account_id": str(uuid.uuid4())}, headers=tenant_a.auth
    )
    assert r.status_code == 404 and "email account" in r.text
