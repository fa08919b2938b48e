"""VPS instances through the API with the real worker (the `local` provider, Postgres, the
dev Temporal server): order, provisioned to `active` with its IP, monthly cost,
decommission at the period end (twice: the same answer), and the bad input."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx

from tests.api.conftest import Tenant


async def wait_active(api: httpx.AsyncClient, tenant: Tenant, vps_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(600):
        body = (await api.get(f"/v1/vps-instances/{vps_id}", headers=tenant.auth)).json()
        if body["status"] != "provisioning":
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"never provisioned: {body}")


async def test_order_provision_cost_and_decommission(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, admin_conn: asyncpg.Connection
) -> None:
    r = await api.post("/v1/vps-instances", json={"region": "local"}, headers=tenant_a.auth)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "provisioning" and created["provider"] == "local"
    assert created["workflow_id"] == f"vps-lifecycle:{tenant_a.tenant_id}:{created['id']}"

    vps = await wait_active(api, tenant_a, created["id"])
    assert vps["status"] == "active", vps
    assert vps["ip_address"].startswith("127.0.0.") and vps["billing_day"]
    assert vps["current_billing_period_end"] is not None
    ips = await admin_conn.fetch(
        "SELECT host(ip_address) AS ip, status, ptr_name, helo_name FROM smtp_ip_addresses "
        "WHERE vps_instance_id = $1",
        uuid.UUID(created["id"]),
    )
    assert [(r["ip"], r["status"]) for r in ips] == [(vps["ip_address"], "available")]
    assert (
        ips[0]["ptr_name"]
        == ips[0]["helo_name"]
        == (vps["ip_address"].replace(".", "-") + ".mta.penguinmails.test")
    )

    listed = (await api.get("/v1/vps-instances", headers=tenant_a.auth)).json()
    assert [v["id"] for v in listed["items"]] == [created["id"]]
    assert (await api.get("/v1/vps-instances", headers=tenant_b.auth)).json()["items"] == []
    cost = (await api.get("/v1/vps-instances/monthly-cost", headers=tenant_a.auth)).json()
    assert cost == {"monthly_cost": "5.00", "servers": 1, "currency": "USD"}
    assert (await api.get("/v1/vps-instances/monthly-cost", headers=tenant_b.auth)).json()[
        "servers"
    ] == 0

    # Another tenant's VPS: 404, exactly as one that does not exist.
    for path in (f"/v1/vps-instances/{created['id']}", f"/v1/vps-instances/{uuid.uuid4()}"):
        assert (await api.get(path, headers=tenant_b.auth)).status_code == 404
    other = await api.post(f"/v1/vps-instances/{created['id']}/decommission", headers=tenant_b.auth)
    assert other.status_code == 404

    first = await api.post(f"/v1/vps-instances/{created['id']}/decommission", headers=tenant_a.auth)
    assert first.status_code == 202, first.text
    again = await api.post(f"/v1/vps-instances/{created['id']}/decommission", headers=tenant_a.auth)
    assert again.status_code == 202
    assert first.json()["already_scheduled"] is False and again.json()["already_scheduled"]
    when = first.json()["decommission_scheduled_for"]
    assert when == again.json()["decommission_scheduled_for"] == vps["current_billing_period_end"]
    shown = (await api.get(f"/v1/vps-instances/{created['id']}", headers=tenant_a.auth)).json()
    assert shown["status"] == "scheduled_decommission"  # not before the paid period ends


async def test_decommission_refused_while_domains_have_nowhere_to_go(
    api: httpx.AsyncClient, tenant_a: Tenant, admin_conn: asyncpg.Connection
) -> None:
    r = await api.post("/v1/vps-instances", json={"region": "local"}, headers=tenant_a.auth)
    vps = await wait_active(api, tenant_a, r.json()["id"])
    domain = (
        await api.post(
            "/v1/domains", json={"domain": f"d{uuid.uuid4().hex[:8]}.test"}, headers=tenant_a.auth
        )
    ).json()
    await admin_conn.execute(
        "INSERT INTO domain_ip_assignments (tenant_id, domain_id, smtp_ip_address_id, status) "
        "SELECT tenant_id, $1, id, 'active' FROM smtp_ip_addresses WHERE vps_instance_id = $2",
        uuid.UUID(domain["id"]),
        uuid.UUID(vps["id"]),
    )
    refused = await api.post(f"/v1/vps-instances/{vps['id']}/decommission", headers=tenant_a.auth)
    assert refused.status_code == 409
    assert refused.json()["error"]["details"] == {"domains": [domain["domain"]]}
    assert domain["domain"] in refused.json()["error"]["message"]
    still = (await api.get(f"/v1/vps-instances/{vps['id']}", headers=tenant_a.auth)).json()
    assert still["status"] == "active"


async def test_bad_input(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    for body, field in (
        ({"provider": "aws", "region": "x"}, "provider"),
        ({"region": ""}, "region"),
        ({"region": "a b"}, "region"),
        ({}, "region"),
        ({"region": "x", "size": 3}, "size"),
    ):
        r = await api.post("/v1/vps-instances", json=body, headers=tenant_a.auth)
        assert r.status_code == 422, (body, r.text)
        assert field in r.text
    assert (await api.get("/v1/vps-instances", headers=tenant_a.auth)).json()["items"] == []
    r = await api.post("/v1/vps-instances/not-a-uuid/decommission", headers=tenant_a.auth)
    assert r.status_code == 422
