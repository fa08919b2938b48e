"""The staff audit trail across tenants: filtered by tenant, actor, action and a time
window, cursor-paginated; a role without `audit.read` is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from temporalio.client import Client

from penguinmails.db import Database
from tests.api.conftest import Tenant
from tests.api.test_billing_plans import staff_key


async def test_audit_filters_and_pages(
    api: httpx.AsyncClient,
    db: Database,
    temporal_client: Client,
    tenant_a: Tenant,
    tenant_b: Tenant,
) -> None:
    billing = await staff_key(db, temporal_client, "billing")
    super_admin = await staff_key(db, temporal_client, "super_admin")
    start = datetime.now(UTC) - timedelta(seconds=1)
    for tenant in (tenant_a, tenant_b, tenant_a):
        r = await api.post(
            f"/v1/staff/tenants/{tenant.tenant_id}/credits",
            json={"amount_cents": 100, "reason": "goodwill"},
            headers=billing,
        )
        assert r.status_code == 201, r.text
    billing_user = r.json()["staff_user_id"]

    # billing holds no audit.read.
    assert (await api.get("/v1/staff/audit", headers=billing)).status_code == 403

    async def entries(**params: str) -> list[dict]:
        found: list[dict] = []
        cursor: str | None = None
        while True:
            query = {"limit": "1", **params, **({"cursor": cursor} if cursor else {})}
            r = await api.get("/v1/staff/audit", params=query, headers=super_admin)
            assert r.status_code == 200, r.text
            found += r.json()["items"]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return found

    mine = await entries(actor=billing_user)
    assert [e["tenant_id"] for e in mine] == [
        tenant_a.tenant_id,
        tenant_b.tenant_id,
        tenant_a.tenant_id,
    ]
    assert {(e["actor_type"], e["action"]) for e in mine} == {("staff", "billing.credited")}
    only_a = await entries(actor=billing_user, tenant_id=tenant_a.tenant_id)
    assert len(only_a) == 2
    assert await entries(actor=billing_user, action="tenant.suspended") == []
    assert len(await entries(actor=billing_user, since=start.isoformat())) == 3
    middle = mine[1]["created"]
    assert len(await entries(actor=billing_user, until=middle)) == 1
    assert len(await entries(actor=billing_user, since=middle)) == 2
    future = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert await entries(actor=billing_user, since=future) == []
    r = await api.get("/v1/staff/audit", params={"actor_type": "robot"}, headers=super_admin)
    assert r.status_code == 422
