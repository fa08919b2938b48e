"""Campaigns through the API against the real stack: the draft and its validation, the
enrollment's counts, what a start lacks, the lifecycle as updates of the real campaign
workflow (its lead sequences started by the worker), a reply told through the API, and
tenant isolation."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from rich.console import Console
from temporalio.client import WorkflowExecutionStatus

from activities.interfaces.campaigns import SIGNAL_CAMPAIGN_RESUMED
from api.services import Services
from cli.campaign import fetch_status, progress_table
from devstack.dovecot import Dovecot
from tests.api.conftest import Tenant, client_for, sign_up
from tests.fixtures.mail import AuthSmtpServer
from workflows.names import lead_sequence_workflow_id


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(600):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


@dataclass
class Setup:
    tenant: Tenant
    company_id: str
    template_id: str
    domain_id: uuid.UUID
    mailbox_id: uuid.UUID
    leads: list[uuid.UUID] = field(default_factory=list)


def _closed_now() -> dict[str, Any]:
    """A window that is not open today or tomorrow (UTC): the sequences wait on a timer."""
    today = dt.datetime.now(dt.UTC).date()
    day = (today + dt.timedelta(days=3)).isoweekday()
    return {"timezone": "UTC", "days": [day], "start": "09:00", "end": "17:00"}


async def _add_leads(
    conn: asyncpg.Connection, tenant_id: str, n: int, **kw: str
) -> list[uuid.UUID]:
    ids = []
    for _ in range(n):
        lead_id: uuid.UUID = await conn.fetchval(
            "INSERT INTO leads (id, tenant_id, email, status) "
            "VALUES (gen_random_uuid(), $1, $2, $3) RETURNING id",
            uuid.UUID(tenant_id),
            f"lead-{uuid.uuid4().hex[:10]}@{kw.get('domain', 'example.test')}",
            kw.get("status", "active"),
        )
        ids.append(lead_id)
    return ids


async def setup(
    api: httpx.AsyncClient, conn: asyncpg.Connection, tenant: Tenant, verified: bool = True
) -> Setup:
    r = await api.post("/v1/companies", json={"name": "Sales"}, headers=tenant.auth)
    assert r.status_code == 201, r.text
    company_id = r.json()["id"]
    r = await api.post(
        "/v1/templates",
        json={"name": "Intro", "subject": "Hi {{first_name}}", "body": "<p>Hello</p>"},
        headers=tenant.auth,
    )
    assert r.status_code == 201, r.text
    tid = uuid.UUID(tenant.tenant_id)
    domain_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO domains (id, tenant_id, company_id, domain, verification_status) "
        "VALUES (gen_random_uuid(), $1, $2, $3, $4) RETURNING id",
        tid,
        uuid.UUID(company_id),
        f"c{uuid.uuid4().hex[:8]}.test",
        "verified" if verified else "pending",
    )
    mailbox_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO email_accounts (id, tenant_id, domain_id, email, vault_key_path, daily_cap) "
        "VALUES (gen_random_uuid(), $1, $2, $3, 'test/none', 50) RETURNING id",
        tid,
        domain_id,
        f"box-{uuid.uuid4().hex[:8]}@send.test",
    )
    return Setup(tenant, company_id, r.json()["id"], domain_id, mailbox_id)


async def _campaign(api: httpx.AsyncClient, s: Setup, **extra: Any) -> str:
    body = {"name": "Q4 outreach", "company_id": s.company_id, "schedule": _closed_now(), **extra}
    r = await api.post("/v1/campaigns", json=body, headers=s.tenant.auth)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _ready(api: httpx.AsyncClient, s: Setup, campaign: str) -> str:
    """An email step and the mailbox; the step's id."""
    auth = s.tenant.auth
    r = await api.post(
        f"/v1/campaigns/{campaign}/steps",
        json={"step_type": "email", "template_id": s.template_id},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    step = str(r.json()["id"])
    r = await api.put(
        f"/v1/campaigns/{campaign}/mailboxes",
        json={"mailboxes": [{"email_account_id": str(s.mailbox_id), "weight": 2}]},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    return step


def _fields(r: httpx.Response) -> list[str]:
    body = r.json()["error"]
    details = body["details"]
    if isinstance(details, dict):
        return [details["field"]]
    return [
        ".".join(str(p) for p in d["loc"]) if "loc" in d else d.get("field", "") for d in details
    ]


async def test_create_campaign_steps_variants_and_mailboxes_with_validation(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, admin_conn: asyncpg.Connection
) -> None:
    s = await setup(api, admin_conn, tenant_a)
    other = await setup(api, admin_conn, tenant_b)
    auth = tenant_a.auth
    schedule = {
        "timezone": "America/New_York",
        "days": [5, 1, 1],
        "start": "08:30",
        "end": "16:00",
        "holidays": ["2026-12-25"],
    }
    r = await api.post(
        "/v1/campaigns",
        json={"name": "Q4", "company_id": s.company_id, "schedule": schedule, "daily_limit": 80},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    campaign = created["id"]
    assert created["status"] == "draft" and created["pause_reasons"] == []
    assert created["schedule"]["days"] == [1, 5] and created["daily_limit"] == 80
    # Stored where the engine reads it.
    row = await admin_conn.fetchrow(
        "SELECT timezone, configuration FROM campaigns WHERE id = $1", uuid.UUID(campaign)
    )
    assert row["timezone"] == "America/New_York"
    assert '"holidays": ["2026-12-25"]' in row["configuration"]
    r = await api.get(f"/v1/campaigns/{campaign}", headers=auth)
    assert r.status_code == 200 and r.json()["schedule"]["start"] == "08:30"
    r = await api.get("/v1/campaigns", params={"limit": 1}, headers=auth)
    assert r.status_code == 200 and [c["id"] for c in r.json()["items"]] == [campaign]

    bad = {"name": "x", "company_id": s.company_id}
    r = await api.post(
        "/v1/campaigns", json={**bad, "schedule": {"start": "10:00", "end": "10:00"}}, headers=auth
    )
    assert r.status_code == 422 and "window is empty" in r.text
    r = await api.post(
        "/v1/campaigns", json={**bad, "schedule": {"timezone": "Mars/Olympus"}}, headers=auth
    )
    assert r.status_code == 422 and "body.schedule.timezone" in _fields(r)
    r = await api.post("/v1/campaigns", json={**bad, "company_id": other.company_id}, headers=auth)
    assert r.status_code == 404

    steps = f"/v1/campaigns/{campaign}/steps"
    r = await api.post(steps, json={"step_type": "wait", "wait_duration_hours": 24}, headers=auth)
    assert r.status_code == 422 and "first step must be an email" in r.text
    r = await api.post(
        steps, json={"step_type": "email", "template_id": other.template_id}, headers=auth
    )
    assert r.status_code == 404
    r = await api.post(
        steps,
        json={
            "step_type": "email",
            "template_id": s.template_id,
            "subject_override": "Quick question",
            "from_name_override": "Ada",
        },
        headers=auth,
    )
    assert r.status_code == 201, r.text
    email_step = r.json()["id"]
    assert r.json()["step_order"] == 1 and r.json()["subject_override"] == "Quick question"
    r = await api.post(
        steps,
        json={
            "step_type": "wait",
            "wait_duration_hours": 24,
            "wait_until_date": "2027-01-01T00:00:00Z",
        },
        headers=auth,
    )
    assert r.status_code == 422
    r = await api.post(steps, json={"step_type": "wait", "wait_duration_hours": -1}, headers=auth)
    assert r.status_code == 422 and "body.wait_duration_hours" in _fields(r)
    r = await api.post(
        steps, json={"step_type": "condition", "condition_type": "maybe"}, headers=auth
    )
    assert r.status_code == 422 and "body.condition_type" in _fields(r)
    r = await api.post(
        steps, json={"step_type": "wait", "wait_duration_hours": 0, "step_order": 5}, headers=auth
    )
    assert r.status_code == 422 and "contiguous" in r.text
    r = await api.post(steps, json={"step_type": "wait", "wait_duration_hours": 48}, headers=auth)
    assert r.status_code == 201 and r.json()["step_order"] == 2
    wait_step = r.json()["id"]
    r = await api.post(
        steps, json={"step_type": "condition", "condition_type": "no_reply"}, headers=auth
    )
    assert r.status_code == 201 and r.json()["step_order"] == 3
    # A step inserted in the middle moves the ones after it down.
    r = await api.post(
        steps,
        json={"step_type": "email", "template_id": s.template_id, "step_order": 2},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    r = await api.get(steps, headers=auth)
    assert [(x["step_order"], x["step_type"]) for x in r.json()["items"]] == [
        (1, "email"),
        (2, "email"),
        (3, "wait"),
        (4, "condition"),
    ]
    # Deleting the first e-mail would leave another e-mail first: allowed; then the wait
    # step would be first after deleting the second one: refused.
    r = await api.delete(f"{steps}/{email_step}", headers=auth)
    assert r.status_code == 204
    first = (await api.get(steps, headers=auth)).json()["items"][0]
    r = await api.delete(f"{steps}/{first['id']}", headers=auth)
    assert r.status_code == 422 and "first step" in r.text
    r = await api.patch(f"{steps}/{wait_step}", json={"wait_duration_hours": 72}, headers=auth)
    assert r.status_code == 200 and r.json()["wait_duration_hours"] == 72

    variants = f"{steps}/{first['id']}/variants"
    r = await api.put(variants, json={"variants": [{"subject": "A"}]}, headers=auth)
    assert r.status_code == 422 and "body.variants" in _fields(r)
    r = await api.put(
        variants, json={"variants": [{"subject": str(i)} for i in range(6)]}, headers=auth
    )
    assert r.status_code == 422 and "body.variants" in _fields(r)
    r = await api.put(
        variants, json={"variants": [{"subject": "A"}, {"subject": "B", "weight": 0}]}, headers=auth
    )
    assert r.status_code == 422 and "body.variants.1.weight" in _fields(r)
    r = await api.put(
        variants,
        json={"variants": [{"subject": "A"}, {"template_id": other.template_id}]},
        headers=auth,
    )
    assert r.status_code == 404
    r = await api.put(
        variants,
        json={"variants": [{"subject": "A", "weight": 3}, {"template_id": s.template_id}]},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    assert [(v["label"], v["weight"]) for v in r.json()["variants"]] == [("A", 3), ("B", 1)]
    r = await api.put(
        f"{steps}/{wait_step}/variants",
        json={"variants": [{"subject": "A"}, {"subject": "B"}]},
        headers=auth,
    )
    assert r.status_code == 422

    mailboxes = f"/v1/campaigns/{campaign}/mailboxes"
    r = await api.put(
        mailboxes,
        json={"mailboxes": [{"email_account_id": str(other.mailbox_id), "weight": 1}]},
        headers=auth,
    )
    assert r.status_code == 404
    r = await api.put(
        mailboxes,
        json={"mailboxes": [{"email_account_id": str(s.mailbox_id), "weight": 3}]},
        headers=auth,
    )
    assert r.status_code == 200
    r = await api.get(mailboxes, headers=auth)
    assert r.json()["mailboxes"] == [{"email_account_id": str(s.mailbox_id), "weight": 3}]

    r = await api.patch(
        f"/v1/campaigns/{campaign}", json={"name": "Q4 EU", "stop_for_company": True}, headers=auth
    )
    assert r.status_code == 200 and r.json()["name"] == "Q4 EU" and r.json()["stop_for_company"]


async def test_enrollment_counts_what_it_skips(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, admin_conn: asyncpg.Connection
) -> None:
    s = await setup(api, admin_conn, tenant_a)
    auth = tenant_a.auth
    good = await _add_leads(admin_conn, tenant_a.tenant_id, 3)
    unsubscribed = await _add_leads(admin_conn, tenant_a.tenant_id, 1, status="unsubscribed")
    bounced = await _add_leads(admin_conn, tenant_a.tenant_id, 1, status="bounced")
    erased = await _add_leads(admin_conn, tenant_a.tenant_id, 1, status="erased")
    suppressed = await _add_leads(admin_conn, tenant_a.tenant_id, 1, domain="blockedcorp.com")
    r = await api.post("/v1/suppressions", json={"domain": "blockedcorp.com"}, headers=auth)
    assert r.status_code == 201, r.text
    b_leads = await _add_leads(admin_conn, tenant_b.tenant_id, 1)

    first = await _campaign(api, s)
    r = await api.post(
        f"/v1/campaigns/{first}/leads",
        json={
            "lead_ids": [
                str(x) for x in good[:1] + unsubscribed + bounced + erased + suppressed + b_leads
            ]
        },
        headers=auth,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "enrolled": 1,
        "already_enrolled": 0,
        "in_other_campaign": 0,
        "suppressed": 1,
        "unsubscribed": 1,
        "bounced": 1,
        "erased": 1,
        "inactive": 0,
        "not_found": 1,
    }

    # A list: one of its leads is held by the first (open) campaign.
    r = await api.post("/v1/lead-lists", json={"name": "Prospects"}, headers=auth)
    assert r.status_code == 201, r.text
    list_id = r.json()["id"]
    for lead in good:
        await admin_conn.execute(
            "INSERT INTO lead_list_members (tenant_id, lead_list_id, lead_id) VALUES ($1, $2, $3)",
            uuid.UUID(tenant_a.tenant_id),
            uuid.UUID(list_id),
            lead,
        )
    second = await _campaign(api, s)
    r = await api.post(f"/v1/campaigns/{second}/leads", json={"list_id": list_id}, headers=auth)
    assert r.status_code == 200, r.text
    assert (r.json()["enrolled"], r.json()["in_other_campaign"]) == (2, 1)
    r = await api.post(
        f"/v1/campaigns/{second}/leads",
        json={"list_id": list_id, "allow_other_campaigns": True},
        headers=auth,
    )
    assert (r.json()["enrolled"], r.json()["already_enrolled"]) == (1, 2)

    draws = await admin_conn.fetch(
        "SELECT lead_id, variant_draw FROM campaign_leads WHERE campaign_id = $1",
        uuid.UUID(second),
    )
    assert len(draws) == 3 and all(0 <= d["variant_draw"] < 1 for d in draws)
    assert len({d["variant_draw"] for d in draws}) == 3

    r = await api.get(f"/v1/campaigns/{second}/leads", params={"limit": 2}, headers=auth)
    assert r.status_code == 200 and len(r.json()["items"]) == 2 and r.json()["next_cursor"]
    assert {i["status"] for i in r.json()["items"]} == {"pending"}
    r2 = await api.get(
        f"/v1/campaigns/{second}/leads",
        params={"limit": 2, "cursor": r.json()["next_cursor"]},
        headers=auth,
    )
    page = r.json()["items"] + r2.json()["items"]
    assert {uuid.UUID(i["lead_id"]) for i in page} == set(good)

    held = f"/v1/campaigns/{second}/leads/{good[1]}"
    r = await api.patch(held, json={"status": "paused"}, headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "paused", r.text
    r = await api.patch(held, json={"status": "paused"}, headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "paused"
    r = await api.patch(held, json={"status": "stopped"}, headers=auth)
    assert r.status_code == 422
    r = await api.patch(held, json={"status": "active"}, headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "pending"
    r = await api.patch(
        f"/v1/campaigns/{second}/leads/{uuid.uuid4()}", json={"status": "paused"}, headers=auth
    )
    assert r.status_code == 404
    r = await api.delete(f"/v1/campaigns/{second}/leads/{good[0]}", headers=auth)
    assert r.status_code == 204
    status = await admin_conn.fetchval(
        "SELECT status FROM campaign_leads WHERE campaign_id = $1 AND lead_id = $2",
        uuid.UUID(second),
        good[0],
    )
    assert status == "removed"
    r = await api.patch(
        f"/v1/campaigns/{second}/leads/{good[0]}", json={"status": "paused"}, headers=auth
    )
    assert r.status_code == 409 and r.json()["error"]["details"]["status"] == "removed"

    # Another tenant's list and bad input.
    r = await api.post("/v1/lead-lists", json={"name": "B"}, headers=tenant_b.auth)
    r = await api.post(
        f"/v1/campaigns/{second}/leads", json={"list_id": r.json()["id"]}, headers=auth
    )
    assert r.status_code == 404
    r = await api.post(
        f"/v1/campaigns/{second}/leads",
        json={"list_id": list_id, "lead_ids": [str(good[0])]},
        headers=auth,
    )
    assert r.status_code == 422


async def test_start_answers_409_naming_what_is_missing(
    api: httpx.AsyncClient, tenant_a: Tenant, admin_conn: asyncpg.Connection
) -> None:
    s = await setup(api, admin_conn, tenant_a, verified=False)
    auth = tenant_a.auth
    campaign = await _campaign(api, s)
    r = await api.post(f"/v1/campaigns/{campaign}/start", headers=auth)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["details"] == {
        "status": "draft",
        "missing": ["no enrolled leads", "no active email step", "no active mailbox"],
    }
    await _ready(api, s, campaign)
    leads = await _add_leads(admin_conn, tenant_a.tenant_id, 1)
    r = await api.post(
        f"/v1/campaigns/{campaign}/leads", json={"lead_ids": [str(leads[0])]}, headers=auth
    )
    assert r.json()["enrolled"] == 1
    domain = await admin_conn.fetchval("SELECT domain FROM domains WHERE id = $1", s.domain_id)
    r = await api.post(f"/v1/campaigns/{campaign}/start", headers=auth)
    assert r.status_code == 409
    assert r.json()["error"]["details"]["missing"] == [f"unverified domain(s): {domain}"]
    r = await api.post(f"/v1/campaigns/{campaign}/pause", headers=auth)
    assert r.status_code == 409 and r.json()["error"]["details"]["status"] == "draft"


async def test_lifecycle_through_workflow_updates_and_a_reply_through_the_api(
    api: httpx.AsyncClient, tenant_a: Tenant, admin_conn: asyncpg.Connection
) -> None:
    s = await setup(api, admin_conn, tenant_a)
    auth = tenant_a.auth
    campaign = await _campaign(api, s)
    await _ready(api, s, campaign)
    leads = await _add_leads(admin_conn, tenant_a.tenant_id, 2)
    r = await api.post(
        f"/v1/campaigns/{campaign}/leads", json={"lead_ids": [str(x) for x in leads]}, headers=auth
    )
    assert r.json()["enrolled"] == 2
    cid = uuid.UUID(campaign)

    r = await api.post(f"/v1/campaigns/{campaign}/start", json={}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "sending"
    assert (await api.get(f"/v1/campaigns/{campaign}", headers=auth)).json()["status"] == "sending"
    r = await api.post(f"/v1/campaigns/{campaign}/start", headers=auth)
    assert r.status_code == 409 and r.json()["error"]["details"]["status"] == "sending"
    r = await api.patch(f"/v1/campaigns/{campaign}", json={"name": "x"}, headers=auth)
    assert r.status_code == 409

    async def started() -> bool:
        n = await admin_conn.fetchval(
            "SELECT count(*) FROM campaign_leads WHERE campaign_id = $1 AND started_at IS NOT NULL",
            cid,
        )
        return bool(n == 2)

    await until(started)  # both sequences run (waiting for their window)

    r = await api.post(f"/v1/campaigns/{campaign}/pause", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "paused" and r.json()["drained"] is True
    assert r.json()["pause_reasons"] == ["user"]
    got = (await api.get(f"/v1/campaigns/{campaign}", headers=auth)).json()
    assert (got["status"], got["pause_reasons"]) == ("paused", ["user"])
    r = await api.post(f"/v1/campaigns/{campaign}/resume", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "sending", r.text
    r = await api.post(f"/v1/campaigns/{campaign}/resume", headers=auth)
    assert r.status_code == 409 and r.json()["error"]["details"]["status"] == "sending"

    # A lead enrolled into the running campaign starts without waiting for the campaign's
    # 15-minute refill interval (the `enrolled` signal wakes it).
    [late] = await _add_leads(admin_conn, tenant_a.tenant_id, 1)
    r = await api.post(
        f"/v1/campaigns/{campaign}/leads", json={"lead_ids": [str(late)]}, headers=auth
    )
    assert r.json()["enrolled"] == 1

    async def late_started() -> bool:
        at = await admin_conn.fetchval(
            "SELECT started_at FROM campaign_leads WHERE campaign_id = $1 AND lead_id = $2",
            cid,
            late,
        )
        return at is not None

    await until(late_started)

    # A reply the client detected: that lead's sequence ends, the other runs on.
    r = await api.post(f"/v1/leads/{leads[0]}/reply", headers=auth)
    assert r.status_code == 200 and r.json()["signalled"] == 1, r.text

    async def replied() -> bool:
        status = await admin_conn.fetchval(
            "SELECT status FROM campaign_leads WHERE campaign_id = $1 AND lead_id = $2",
            cid,
            leads[0],
        )
        return bool(status == "replied")

    await until(replied)
    r = await api.get(f"/v1/campaigns/{campaign}/stats", headers=auth)
    assert r.status_code == 200
    assert r.json()["enrollments"] == {"replied": 1, "active": 2}

    r = await api.post(f"/v1/campaigns/{campaign}/cancel", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text

    async def stopped() -> bool:
        rows = await admin_conn.fetch(
            "SELECT status FROM campaign_leads WHERE campaign_id = $1 AND lead_id = ANY($2)",
            cid,
            [leads[1], late],
        )
        return [r["status"] for r in rows] == ["stopped", "stopped"]

    await until(stopped)
    for action in ("start", "pause", "resume", "cancel"):
        r = await api.post(f"/v1/campaigns/{campaign}/{action}", headers=auth)
        assert r.status_code == 409, (action, r.text)
        assert r.json()["error"]["details"]["status"] == "cancelled"


async def test_a_running_lead_is_paused_resumed_and_removed(
    api: httpx.AsyncClient, tenant_a: Tenant, admin_conn: asyncpg.Connection, services: Services
) -> None:
    s = await setup(api, admin_conn, tenant_a)
    auth = tenant_a.auth
    campaign = await _campaign(api, s)
    await _ready(api, s, campaign)
    leads = await _add_leads(admin_conn, tenant_a.tenant_id, 2)
    r = await api.post(
        f"/v1/campaigns/{campaign}/leads", json={"lead_ids": [str(x) for x in leads]}, headers=auth
    )
    assert r.json()["enrolled"] == 2
    cid = uuid.UUID(campaign)
    r = await api.post(f"/v1/campaigns/{campaign}/start", json={}, headers=auth)
    assert r.status_code == 200, r.text

    async def enrollment(lead: uuid.UUID) -> asyncpg.Record:
        return await admin_conn.fetchrow(
            "SELECT status, started_at FROM campaign_leads WHERE campaign_id = $1 AND lead_id = $2",
            cid,
            lead,
        )

    async def started() -> bool:
        rows = [await enrollment(lead) for lead in leads]
        return all(row["started_at"] is not None for row in rows)

    await until(started)  # both sequences run (waiting for their window)
    lead_wf = services.temporal.get_workflow_handle(
        lead_sequence_workflow_id(tenant_a.tenant_id, campaign, str(leads[0]))
    )

    # Paused while its sequence runs (its sends refused until the resume), then resumed:
    # `active` again, and the sequence told.
    one = f"/v1/campaigns/{campaign}/leads/{leads[0]}"
    for _ in range(2):  # twice: the same answer
        r = await api.patch(one, json={"status": "paused"}, headers=auth)
        assert r.status_code == 200 and r.json()["status"] == "paused", r.text
    assert (await enrollment(leads[0]))["status"] == "paused"
    assert (await lead_wf.describe()).status == WorkflowExecutionStatus.RUNNING
    r = await api.get(f"/v1/campaigns/{campaign}/stats", headers=auth)
    assert r.json()["enrollments"] == {"paused": 1, "active": 1}
    r = await api.patch(one, json={"status": "active"}, headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    assert (await enrollment(leads[0]))["status"] == "active"
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        async for e in lead_wf.fetch_history_events()
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert signals == [SIGNAL_CAMPAIGN_RESUMED]
    r = await api.patch(one, json={"status": "active"}, headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "active"

    # Removed while its sequence runs: the enrollment ends and the sequence is cancelled.
    other = f"/v1/campaigns/{campaign}/leads/{leads[1]}"
    r = await api.delete(other, headers=auth)
    assert r.status_code == 204
    assert (await enrollment(leads[1]))["status"] == "removed"
    other_wf = services.temporal.get_workflow_handle(
        lead_sequence_workflow_id(tenant_a.tenant_id, campaign, str(leads[1]))
    )

    async def cancelled() -> bool:
        return (await other_wf.describe()).status == WorkflowExecutionStatus.CANCELED

    await until(cancelled)
    assert (await enrollment(leads[1]))["status"] == "removed"  # the cancel keeps it
    for body in ({"status": "paused"}, {"status": "active"}):
        r = await api.patch(other, json=body, headers=auth)
        assert r.status_code == 409 and r.json()["error"]["details"]["status"] == "removed"
    r = await api.post(f"/v1/campaigns/{campaign}/cancel", headers=auth)
    assert r.status_code == 200, r.text


async def test_unsubscribe_through_the_api_suppresses_and_cancelling_a_draft(
    api: httpx.AsyncClient, tenant_a: Tenant, admin_conn: asyncpg.Connection
) -> None:
    s = await setup(api, admin_conn, tenant_a)
    auth = tenant_a.auth
    leads = await _add_leads(admin_conn, tenant_a.tenant_id, 1)
    r = await api.post(f"/v1/leads/{leads[0]}/unsubscribe", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json() == {"lead_id": str(leads[0]), "signalled": 0, "suppressed_now": True}
    status = await admin_conn.fetchval("SELECT status FROM leads WHERE id = $1", leads[0])
    assert status == "unsubscribed"
    campaign = await _campaign(api, s)
    r = await api.post(
        f"/v1/campaigns/{campaign}/leads", json={"lead_ids": [str(leads[0])]}, headers=auth
    )
    assert r.json()["enrolled"] == 0 and r.json()["unsubscribed"] == 1
    r = await api.post(f"/v1/campaigns/{campaign}/cancel", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    r = await api.post(
        f"/v1/campaigns/{campaign}/leads", json={"lead_ids": [str(leads[0])]}, headers=auth
    )
    assert r.status_code == 409


async def test_another_tenants_campaign_and_lead_answer_404(
    api: httpx.AsyncClient, tenant_a: Tenant, admin_conn: asyncpg.Connection
) -> None:
    s = await setup(api, admin_conn, tenant_a)
    campaign = await _campaign(api, s)
    step = await _ready(api, s, campaign)
    leads = await _add_leads(admin_conn, tenant_a.tenant_id, 1)
    intruder = await sign_up(api, "Intruder")
    auth = intruder.auth
    base = f"/v1/campaigns/{campaign}"
    for method, path, body in [
        ("GET", base, None),
        ("PATCH", base, {"name": "mine"}),
        ("GET", f"{base}/steps", None),
        ("POST", f"{base}/steps", {"step_type": "wait", "wait_duration_hours": 1}),
        ("PATCH", f"{base}/steps/{step}", {"subject_override": "x"}),
        ("DELETE", f"{base}/steps/{step}", None),
        ("PUT", f"{base}/mailboxes", {"mailboxes": []}),
        ("POST", f"{base}/leads", {"lead_ids": [str(leads[0])]}),
        ("GET", f"{base}/leads", None),
        ("DELETE", f"{base}/leads/{leads[0]}", None),
        ("POST", f"{base}/start", None),
        ("POST", f"{base}/pause", None),
        ("POST", f"{base}/cancel", None),
        ("GET", f"{base}/stats", None),
        ("POST", f"/v1/leads/{leads[0]}/reply", None),
        ("POST", f"/v1/leads/{leads[0]}/unsubscribe", None),
    ]:
        r = await api.request(method, path, json=body, headers=auth)
        assert r.status_code == 404, (method, path, r.text)
    r = await api.get("/v1/campaigns", headers=auth)
    assert r.json()["items"] == []
    r = await api.get(base, headers=tenant_a.auth)
    assert r.json()["status"] == "draft" and r.json()["name"] == "Q4 outreach"


async def test_test_send_goes_out_through_a_campaign_mailbox_outside_the_statistics(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    admin_conn: asyncpg.Connection,
    smtp_auth_server: AuthSmtpServer,
    dovecot: Dovecot,
) -> None:
    auth = tenant_a.auth
    s = await setup(api, admin_conn, tenant_a)
    domain = f"t{uuid.uuid4().hex[:10]}.example.test"
    r = await api.post("/v1/domains", json={"domain": domain}, headers=auth)
    assert r.status_code == 201, r.text
    sender, password = f"ada@{domain}", "s3cret-pw"
    smtp_auth_server.users[sender] = password
    dovecot.add_user(sender, password)
    r = await api.post(
        "/v1/email-accounts",
        json={
            "email": sender,
            "from_name": "Ada",
            "password": password,
            "smtp": {
                "host": smtp_auth_server.host,
                "port": smtp_auth_server.port,
                "security": "starttls",
                "verify_tls": False,
            },
            "imap": {"host": dovecot.host, "port": dovecot.port, "security": "none"},
        },
        headers=auth,
    )
    assert r.status_code == 201, r.text
    mailbox = r.json()["id"]
    await admin_conn.execute(
        "UPDATE email_accounts SET status = 'active', min_gap_seconds = 0, "
        "gap_jitter_seconds = 0 WHERE id = $1",
        uuid.UUID(mailbox),
    )
    campaign = await _campaign(api, s)
    step = await _ready(api, s, campaign)
    r = await api.put(
        f"/v1/campaigns/{campaign}/mailboxes",
        json={"mailboxes": [{"email_account_id": mailbox}]},
        headers=auth,
    )
    assert r.status_code == 200
    url = f"/v1/campaigns/{campaign}/test-send"

    r = await api.post(url, json={"to": "not an address", "step_id": step}, headers=auth)
    assert r.status_code == 422 and "body.to" in _fields(r)
    r = await api.post(
        url, json={"to": "qa@example.org", "step_id": str(uuid.uuid4())}, headers=auth
    )
    assert r.status_code == 404

    r = await api.post(url, json={"to": "qa@example.org", "step_id": step}, headers=auth)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["outcome"] == "sent" and out["mailbox_id"] == mailbox, out
    [(mail_from, rcpt, raw)] = [
        m for m in smtp_auth_server.messages if out["message_id"] in m[2].decode(errors="replace")
    ]
    assert (mail_from, rcpt) == (sender, ["qa@example.org"])
    assert b"Hello" in raw
    stats = (await api.get(f"/v1/campaigns/{campaign}/stats", headers=auth)).json()
    assert stats["outbox"] == {} and [x["sent"] for x in stats["steps"]] == [0]


async def test_campaign_status_command_reads_the_api(
    services: Services, tenant_a: Tenant, admin_conn: asyncpg.Connection
) -> None:
    async with client_for(services) as api:
        s = await setup(api, admin_conn, tenant_a)
        campaign = await _campaign(api, s)
        await _ready(api, s, campaign)
        leads = await _add_leads(admin_conn, tenant_a.tenant_id, 3)
        r = await api.post(
            f"/v1/campaigns/{campaign}/leads",
            json={"lead_ids": [str(x) for x in leads]},
            headers=tenant_a.auth,
        )
        assert r.json()["enrolled"] == 3
        api.headers.update(tenant_a.auth)
        got, stats = await fetch_status(api, campaign)
        assert got["status"] == "draft" and stats["enrollments"] == {"pending": 3}
        with pytest.raises(ValueError, match="campaign not found"):
            await fetch_status(api, str(uuid.uuid4()))
    out = Console(record=True, width=100)
    out.print(progress_table(stats))
    text = out.export_text()
    assert "pending" in text and "100%" in text and "total" in text
