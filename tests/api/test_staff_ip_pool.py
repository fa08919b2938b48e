"""Staff move an IP of the platform's tenant into the shared pool (`ip_pool.write`, super
admin only): tenants' domains may then be assigned to it; back to dedicated only once no
other tenant's domain uses it; each change audited in the owner's trail."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
from temporalio.client import Client

from penguinmails.db import Database
from tests.api.conftest import Tenant
from tests.api.test_billing_plans import staff_key
from tests.api.test_domain_ip import _domain
from tests.api.test_warmups import _ip
from tests.fixtures.ip_pool import empty_pool


async def test_staff_move_an_ip_into_the_pool_and_out(
    api: httpx.AsyncClient,
    db: Database,
    temporal_client: Client,
    tenant_a: Tenant,
    tenant_b: Tenant,
    admin_conn: asyncpg.Connection,
) -> None:
    await empty_pool(admin_conn)
    platform_ip = await _ip(admin_conn, tenant_a)  # tenant A stands for the platform's tenant
    domain = await _domain(admin_conn, tenant_b)
    path = f"/v1/staff/ip-addresses/{platform_ip}/pool"

    # Not in the pool yet: B's domain cannot have it.
    r = await api.post(f"/v1/domains/{domain}/ip", json={"pool": "shared"}, headers=tenant_b.auth)
    assert r.status_code == 409
    # Neither a tenant nor a staff role without the permission may share it.
    assert (await api.put(path, json={"pool": "shared"}, headers=tenant_a.auth)).status_code == 403
    support = await staff_key(db, temporal_client, "support")
    assert (await api.put(path, json={"pool": "shared"}, headers=support)).status_code == 403

    admin = await staff_key(db, temporal_client, "super_admin")
    r = await api.put(path, json={"pool": "shared"}, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["pool"], r.json()["tenant_id"]) == ("shared", tenant_a.tenant_id)
    r = await api.post(f"/v1/domains/{domain}/ip", json={"pool": "shared"}, headers=tenant_b.auth)
    address = await admin_conn.fetchval(
        "SELECT host(ip_address) FROM smtp_ip_addresses WHERE id = $1", uuid.UUID(platform_ip)
    )
    assert r.status_code == 200, r.text
    assert (r.json()["pool"], r.json()["ip_address"]) == ("shared", address)

    # Back to dedicated while B's domain sends from it: 409, naming how many.
    r = await api.put(path, json={"pool": "dedicated"}, headers=admin)
    assert r.status_code == 409 and r.json()["error"]["details"] == {"domains": 1}
    await admin_conn.execute(
        "UPDATE domain_ip_assignments SET status = 'expired' WHERE shared_ip_address_id = $1",
        uuid.UUID(platform_ip),
    )
    r = await api.put(path, json={"pool": "dedicated"}, headers=admin)
    assert r.status_code == 200 and r.json()["pool"] == "dedicated"
    trail = await admin_conn.fetch(
        "SELECT details->>'pool' AS pool FROM audit_logs WHERE tenant_id = $1 "
        "AND action = 'ip_address.pool_set' ORDER BY created",
        uuid.UUID(tenant_a.tenant_id),
    )
    assert [t["pool"] for t in trail] == ["shared", "dedicated"]
    missing = f"/v1/staff/ip-addresses/{uuid.uuid4()}/pool"
    assert (await api.put(missing, json={"pool": "shared"}, headers=admin)).status_code == 404
