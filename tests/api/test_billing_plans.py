"""The plan catalogue: seeded plans in public, staff add and retire, the trial at sign-up."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
from temporalio.client import Client

from penguinmails.billing import FEATURES, LIMITS
from penguinmails.db import Database
from tests.api.conftest import Tenant
from usecases.staff import create_staff


async def staff_key(
    db: Database, temporal_client: Client, role: str | None = "billing"
) -> dict[str, str]:
    email = f"staff-{uuid.uuid4().hex[:8]}@pm.test"
    result = await create_staff(db, temporal_client, email, role=role)
    return {"Authorization": f"Bearer {result.api_key}"}


def new_plan(name: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "plan_name": name,
        "price": "19.00",
        "limits": dict.fromkeys(LIMITS, 5),
        "features": dict.fromkeys(FEATURES, False),
    }
    body.update(over)
    return body


async def test_seeded_plans_are_public(api: httpx.AsyncClient) -> None:
    r = await api.get("/v1/billing/plans")
    assert r.status_code == 200, r.text
    plans = {p["plan_name"]: p for p in r.json()}
    seeded = ("trial", "starter", "growth", "scale")
    assert set(seeded) <= set(plans)
    assert plans["trial"]["limits"]["mailboxes"] == 3
    for plan in (plans[name] for name in seeded):
        assert set(plan["limits"]) == set(LIMITS)
        assert set(plan["features"]) == set(FEATURES)
    paid = [plans[n]["limits"]["mailboxes"] for n in ("starter", "growth", "scale")]
    assert paid == sorted(paid) and paid[0] > 3


async def test_sign_up_starts_the_trial(tenant_a: Tenant, admin_conn: asyncpg.Connection) -> None:
    row = await admin_conn.fetchrow(
        "SELECT s.status, p.plan_name, s.expires > now() + interval '13 days' AS long "
        "FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.tenant_id = $1",
        uuid.UUID(tenant_a.tenant_id),
    )
    assert row is not None
    assert (row["status"], row["plan_name"], row["long"]) == ("trialing", "trial", True)


async def test_staff_add_and_retire_a_plan(
    api: httpx.AsyncClient,
    db: Database,
    temporal_client: Client,
    tenant_a: Tenant,
    admin_conn: asyncpg.Connection,
) -> None:
    staff = await staff_key(db, temporal_client)
    name = f"team-{uuid.uuid4().hex[:6]}"
    r = await api.post("/v1/staff/plans", json=new_plan(name), headers=staff)
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["is_active"] and plan["limits"]["users"] == 5
    assert name in {p["plan_name"] for p in (await api.get("/v1/billing/plans")).json()}
    # The same name again: 409, nothing added.
    r = await api.post("/v1/staff/plans", json=new_plan(name), headers=staff)
    assert r.status_code == 409, r.text

    # A tenant on the plan keeps it when it is retired.
    await admin_conn.execute(
        "UPDATE subscriptions SET plan_id = $1 WHERE tenant_id = $2",
        uuid.UUID(plan["id"]),
        uuid.UUID(tenant_a.tenant_id),
    )
    r = await api.post(f"/v1/staff/plans/{plan['id']}/retire", headers=staff)
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert name not in {p["plan_name"] for p in (await api.get("/v1/billing/plans")).json()}
    kept = await admin_conn.fetchval(
        "SELECT plan_id FROM subscriptions WHERE tenant_id = $1", uuid.UUID(tenant_a.tenant_id)
    )
    assert str(kept) == plan["id"]
    listed = (await api.get("/v1/staff/plans", headers=staff)).json()
    assert any(p["id"] == plan["id"] and not p["is_active"] for p in listed)


async def test_plan_bad_input(
    api: httpx.AsyncClient, db: Database, temporal_client: Client
) -> None:
    staff = await staff_key(db, temporal_client)
    missing = new_plan("nolimits", limits={"mailboxes": 1})
    r = await api.post("/v1/staff/plans", json=missing, headers=staff)
    assert r.status_code == 422 and "limits" in r.text
    r = await api.post("/v1/staff/plans", json=new_plan("neg", price="-1"), headers=staff)
    assert r.status_code == 422 and "price" in r.text
    r = await api.post(f"/v1/staff/plans/{uuid.uuid4()}/retire", headers=staff)
    assert r.status_code == 404


async def test_a_tenant_key_on_a_staff_route_is_refused(
    api: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    r = await api.post("/v1/staff/plans", json=new_plan("sneaky"), headers=tenant_a.auth)
    assert r.status_code == 403
    assert r.json()["error"]["message"] == "staff only"
    r = await api.get("/v1/staff/plans", headers=tenant_a.auth)
    assert r.status_code == 403
