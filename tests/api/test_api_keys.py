import uuid

import asyncpg
import httpx

from tests.api.conftest import Tenant


async def test_key_lifecycle(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    created = await api.post("/v1/api-keys", json={"name": "CI"}, headers=tenant_a.auth)
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith(f"pm_{body['prefix']}_")

    listed = (await api.get("/v1/api-keys", headers=tenant_a.auth)).json()["items"]
    mine = [k for k in listed if k["id"] == body["id"]]
    assert mine and "key" not in mine[0] and "key_hash" not in mine[0]
    assert all(key not in str(k) for k in listed)

    h = {"Authorization": f"Bearer {key}"}
    assert (await api.get("/v1/tenants/me", headers=h)).status_code == 200
    listed = (await api.get("/v1/api-keys", headers=h)).json()["items"]
    assert next(k for k in listed if k["id"] == body["id"])["last_used"] is not None
    revoked = await api.delete(f"/v1/api-keys/{body['id']}", headers=tenant_a.auth)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is not None
    r = await api.get("/v1/tenants/me", headers=h)
    assert r.status_code == 401
    assert (await api.get("/v1/tenants/me", headers=tenant_a.auth)).status_code == 200


async def test_keys_of_another_tenant_are_invisible(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    b_keys = (await api.get("/v1/api-keys", headers=tenant_b.auth)).json()["items"]
    a_keys = (await api.get("/v1/api-keys", headers=tenant_a.auth)).json()["items"]
    assert not {k["id"] for k in b_keys} & {k["id"] for k in a_keys}
    r = await api.delete(f"/v1/api-keys/{b_keys[0]['id']}", headers=tenant_a.auth)
    assert r.status_code == 404
    assert (await api.get("/v1/tenants/me", headers=tenant_b.auth)).status_code == 200
    # issuing a key to B's owner from A: B's user is not a member of A
    r = await api.post(
        "/v1/api-keys", json={"name": "x", "user_id": tenant_b.user_id}, headers=tenant_a.auth
    )
    assert r.status_code == 404


async def test_creating_and_revoking_a_key_tells_the_owner_once(
    api: httpx.AsyncClient, tenant_a: Tenant, admin_conn: asyncpg.Connection
) -> None:
    created = (
        await api.post("/v1/api-keys", json={"name": "deploy"}, headers=tenant_a.auth)
    ).json()
    for _ in range(2):  # revoking twice tells once
        r = await api.delete(f"/v1/api-keys/{created['id']}", headers=tenant_a.auth)
        assert r.status_code == 200
    rows = await admin_conn.fetch(
        "SELECT type, to_email, payload->>'key_name' AS name, payload->>'key_prefix' AS prefix "
        "FROM transactional_emails WHERE tenant_id = $1 AND type LIKE 'api_key_%' ORDER BY queued",
        uuid.UUID(tenant_a.tenant_id),
    )
    owner = await admin_conn.fetchval(
        "SELECT u.email FROM tenant_users tu JOIN users u ON u.id = tu.user_id "
        "WHERE tu.tenant_id = $1",
        uuid.UUID(tenant_a.tenant_id),
    )
    assert [(r["type"], r["name"], r["prefix"]) for r in rows] == [
        ("api_key_created", "deploy", created["prefix"]),
        ("api_key_revoked", "deploy", created["prefix"]),
    ]
    assert {r["to_email"] for r in rows} == {owner}
