"""Plan limits where the work happens: 402 `plan_limit` with its details, atomic under
concurrency, lifted by an upgrade; usage against the plan."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid

import asyncpg
import httpx

from api.services import Services
from devstack.dovecot import Dovecot
from tests.api.conftest import Tenant, set_plan
from tests.api.test_email_accounts import _body, _domain
from tests.api.test_lead_imports import create_list, run_import
from tests.fixtures.mail import AuthSmtpServer


def _usage(body: dict[str, object]) -> dict[str, tuple[object, object]]:
    return {i["limit"]: (i["allowed"], i["used"]) for i in body["items"]}  # type: ignore[attr-defined,index]


async def test_trial_hits_the_mailbox_limit_then_upgrades(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    smtp_auth_server: AuthSmtpServer,
    dovecot: Dovecot,
    admin_conn: asyncpg.Connection,
) -> None:
    name = await _domain(api, tenant_a)
    for i in range(3):
        body = _body(f"box{i}@{name}", "pw", smtp_auth_server, dovecot)
        r = await api.post("/v1/email-accounts", json=body, headers=tenant_a.auth)
        assert r.status_code == 201, r.text
    fourth = _body(f"box3@{name}", "pw", smtp_auth_server, dovecot)
    r = await api.post("/v1/email-accounts", json=fourth, headers=tenant_a.auth)
    assert r.status_code == 402, r.text
    assert r.json()["error"]["code"] == "plan_limit"
    assert r.json()["error"]["details"] == {"limit": "mailboxes", "allowed": 3, "used": 3}
    tenant = uuid.UUID(tenant_a.tenant_id)
    count = "SELECT count(*) FROM email_accounts WHERE tenant_id = $1"
    assert await admin_conn.fetchval(count, tenant) == 3  # nothing written

    usage = (await api.get("/v1/billing/usage", headers=tenant_a.auth)).json()
    assert usage["plan_name"] == "trial"
    assert _usage(usage)["mailboxes"] == (3, 3)
    assert _usage(usage)["domains"] == (2, 1)
    assert usage["period_start"] < usage["period_end"]

    plans = {p["plan_name"]: p["id"] for p in (await api.get("/v1/billing/plans")).json()}
    r = await api.post(
        "/v1/billing/subscription", json={"plan_id": plans["starter"]}, headers=tenant_a.auth
    )
    assert r.status_code == 200, r.text
    r = await api.post("/v1/email-accounts", json=fourth, headers=tenant_a.auth)
    assert r.status_code == 201, r.text
    assert _usage((await api.get("/v1/billing/usage", headers=tenant_a.auth)).json())[
        "mailboxes"
    ] == (10, 4)

    # A downgrade below use keeps what exists and refuses new ones, saying which limit.
    await admin_conn.execute(
        "UPDATE subscriptions SET plan_id = (SELECT id FROM plans WHERE plan_name = 'trial') "
        "WHERE tenant_id = $1",
        tenant,
    )
    fifth = _body(f"box4@{name}", "pw", smtp_auth_server, dovecot)
    r = await api.post("/v1/email-accounts", json=fifth, headers=tenant_a.auth)
    assert r.status_code == 402
    assert r.json()["error"]["details"] == {"limit": "mailboxes", "allowed": 3, "used": 4}
    assert await admin_conn.fetchval(count, tenant) == 4
    assert _usage((await api.get("/v1/billing/usage", headers=tenant_a.auth)).json())[
        "mailboxes"
    ] == (3, 4)


async def test_concurrent_api_keys_never_pass_the_limit(
    api: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    # The trial allows 5 keys; the owner's key is one. Twelve at once: exactly four pass.
    results = await asyncio.gather(
        *(
            api.post("/v1/api-keys", json={"name": f"k{i}"}, headers=tenant_a.auth)
            for i in range(12)
        )
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201] * 4 + [402] * 8, codes
    refused = next(r for r in results if r.status_code == 402).json()["error"]
    assert refused["details"] == {"limit": "api_keys", "allowed": 5, "used": 5}
    listed = (await api.get("/v1/api-keys?limit=100", headers=tenant_a.auth)).json()["items"]
    assert len(listed) == 5


async def test_domain_and_member_limits(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    for _ in range(2):
        await _domain(api, tenant_a)
    r = await api.post(
        "/v1/domains",
        json={"domain": f"x{uuid.uuid4().hex[:8]}.example.test"},
        headers=tenant_a.auth,
    )
    assert r.status_code == 402
    assert r.json()["error"]["details"] == {"limit": "domains", "allowed": 2, "used": 2}
    for i in range(2):  # the owner plus two: the trial's three members
        r = await api.post(
            "/v1/users",
            json={"email": f"m{i}-{uuid.uuid4().hex[:8]}@example.com"},
            headers=tenant_a.auth,
        )
        assert r.status_code == 201, r.text
    r = await api.post(
        "/v1/users", json={"email": f"x-{uuid.uuid4().hex[:8]}@example.com"}, headers=tenant_a.auth
    )
    assert r.status_code == 402
    assert r.json()["error"]["details"] == {"limit": "users", "allowed": 3, "used": 3}


async def test_an_import_stops_at_the_active_lead_limit(
    api: httpx.AsyncClient,
    services: Services,
    tenant_a: Tenant,
    admin_conn: asyncpg.Connection,
) -> None:
    # A plan of 5 active leads; 2 exist: an import of 6 accepts 3 and rejects 3, saying why.
    name = f"tiny-{uuid.uuid4().hex[:6]}"
    await admin_conn.execute(
        "INSERT INTO plans (plan_name, price, limits) VALUES ($1, 1, "
        "'{\"active_leads\": 5}'::jsonb)",
        name,
    )
    await set_plan(services, tenant_a.tenant_id, name)
    list_id = await create_list(api, tenant_a)
    first = "email\r\n" + "".join(f"old{i}@example.com\r\n" for i in range(2))
    body = await run_import(api, services, tenant_a, list_id, first.encode())
    assert body["accepted"] == 2
    data = "email;first_name\r\n" + "".join(f"new{i}@example.com;N{i}\r\n" for i in range(6))
    body = await run_import(api, services, tenant_a, list_id, data.encode())
    assert (body["accepted"], body["rejected"]) == (3, 3), body
    r = await api.get(f"/v1/imports/{body['id']}/rejected.csv", headers=tenant_a.auth)
    rows = list(csv.reader(io.StringIO(r.text)))
    assert [row[0] for row in rows[1:]] == [f"new{i}@example.com" for i in (3, 4, 5)]
    assert all("plan_limit" in row[-1] and "5 active leads" in row[-1] for row in rows[1:])
    active = await admin_conn.fetchval(
        "SELECT count(*) FROM leads WHERE tenant_id = $1 AND status = 'active'",
        uuid.UUID(tenant_a.tenant_id),
    )
    assert active == 5
