"""The staff console's tenant routes against the real stack: a support member finds a tenant
by its domain, reads its overview, suspends it (its key refused with `tenant_suspended`, its
running campaign paused with the reason `suspension` through the campaign workflow) and
lifts it (the key works, only that reason goes), every step in the audit trail; trial
extensions, credits, workflows with Temporal UI links, search, unknown tenants."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from temporalio.client import Client

from api.services import Services
from penguinmails.db import Database
from tests.api.conftest import Tenant, client_for, make_services, sign_up
from tests.api.test_billing_plans import staff_key
from tests.api.test_campaigns import Setup, _add_leads, _campaign, _ready, setup, until


async def _audit(api: httpx.AsyncClient, auth: dict[str, str], **params: str) -> list[dict]:
    r = await api.get("/v1/staff/audit", params={"limit": "200", **params}, headers=auth)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def _running(api: httpx.AsyncClient, conn: asyncpg.Connection, s: Setup) -> str:
    """A started campaign with one lead of its own."""
    campaign = await _campaign(api, s)
    await _ready(api, s, campaign)
    leads = await _add_leads(conn, s.tenant.tenant_id, 1)
    r = await api.post(
        f"/v1/campaigns/{campaign}/leads",
        json={"lead_ids": [str(x) for x in leads]},
        headers=s.tenant.auth,
    )
    assert r.json()["enrolled"] == 1, r.text
    r = await api.post(f"/v1/campaigns/{campaign}/start", json={}, headers=s.tenant.auth)
    assert r.status_code == 200 and r.json()["status"] == "sending", r.text
    return campaign


async def test_support_finds_views_suspends_and_unsuspends_a_tenant(
    api: httpx.AsyncClient,
    services: Services,
    db: Database,
    temporal_client: Client,
    tenant_a: Tenant,
    admin_conn: asyncpg.Connection,
    codec_key: bytes,
) -> None:
    support = await staff_key(db, temporal_client, "support")
    s = await setup(api, admin_conn, tenant_a)
    domain = await admin_conn.fetchval("SELECT domain FROM domains WHERE id = $1", s.domain_id)
    campaign = await _running(api, admin_conn, s)
    # A second campaign the tenant's user paused: unsuspending must leave it paused.
    other = await _running(api, admin_conn, s)
    r = await api.post(f"/v1/campaigns/{other}/pause", headers=tenant_a.auth)
    assert r.json()["pause_reasons"] == ["user"], r.text

    # Found by its domain (in part, any case).
    r = await api.get("/v1/staff/tenants", params={"q": domain[:-3].upper()}, headers=support)
    assert r.status_code == 200, r.text
    [match] = r.json()["items"]
    assert match["id"] == tenant_a.tenant_id and domain in match["domains"]
    assert match["suspended"] is None and len(match["owner_emails"]) == 1

    # The analytics roll-up of its mailbox: 7 days count (today's 6 days back included),
    # older days do not.
    today = datetime.now(UTC).date()
    async with db.analytics_session(tenant_a.tenant_id) as session:
        for days_ago, sent, bounced, complained in ((0, 10, 2, 1), (6, 5, 1, 0), (7, 100, 50, 9)):
            await session.execute(
                text(
                    "INSERT INTO daily_analytics (tenant_id, campaign_id, mailbox_id, date, "
                    "emails_sent, emails_bounced, emails_complained) "
                    "VALUES (:t, :c, :m, :d, :s, :b, :x)"
                ),
                {
                    "t": uuid.UUID(tenant_a.tenant_id),
                    "c": uuid.UUID(campaign),
                    "m": s.mailbox_id,
                    "d": today - timedelta(days=days_ago),
                    "s": sent,
                    "b": bounced,
                    "x": complained,
                },
            )

    # Two recent failures: a failed send, then a refused mailbox login notice.
    tid = uuid.UUID(tenant_a.tenant_id)
    await admin_conn.execute(
        "INSERT INTO inbox_message_refs (id, tenant_id, email_account_id, direction, "
        "message_id, status, error_message, created, updated) VALUES (gen_random_uuid(), $1, $2, "
        "'outbound', $3, 'failed', '554 5.7.1 rejected', now() - interval '1 minute', "
        "now() - interval '1 minute')",
        tid,
        s.mailbox_id,
        f"<{uuid.uuid4().hex}@send.test>",
    )
    await admin_conn.execute(
        "INSERT INTO notifications (tenant_id, type, title, message, severity) "
        "VALUES ($1, 'mailbox.auth_failed', 'Mailbox login refused', 'the server said no', "
        "'error')",
        tid,
    )

    # Its overview.
    r = await api.get(f"/v1/staff/tenants/{tenant_a.tenant_id}", headers=support)
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["subscription"]["plan_name"] == "trial"
    assert view["subscription"]["status"] == "trialing"
    assert view["subscription"]["trial_ends"] is not None
    usage = {u["limit"]: u for u in view["usage"]}
    assert usage["mailboxes"] == {"limit": "mailboxes", "allowed": 3, "used": 1}
    assert usage["domains"]["used"] == 1
    assert view["campaigns_by_status"] == {"sending": 1, "paused": 1}
    [box] = view["mailboxes"]
    assert box["id"] == str(s.mailbox_id) and box["status"] == "active"
    assert box["daily_cap"] == 50 and box["sent_today"] == 0
    assert (box["sent_7d"], box["bounced_7d"], box["complained_7d"]) == (15, 3, 1)
    assert view["suspended"] is None and view["credits_cents"] == 0
    failures = [(f["kind"], f["summary"], f["detail"]) for f in view["recent_failures"]]
    assert failures == [
        ("notification", "mailbox.auth_failed: Mailbox login refused", "the server said no"),
        ("send", f"send failed to mailbox {s.mailbox_id}", "554 5.7.1 rejected"),
    ]

    # Suspended: the key is refused, the running campaign pauses for `suspension`.
    r = await api.post(
        f"/v1/staff/tenants/{tenant_a.tenant_id}/suspend",
        json={"reason": "abuse report"},
        headers=support,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "tenant_id": tenant_a.tenant_id,
        "suspended": True,
        "changed": True,
        "campaigns": 2,
    }
    r = await api.get("/v1/companies", headers=tenant_a.auth)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "tenant_suspended"
    # Another API process (its own key cache) refuses it too: the key lookup reads the flag.
    other_process = make_services(
        services.settings, services.db, services.temporal, codec_key, services.secrets
    )
    async with client_for(other_process) as fresh:
        r = await fresh.get("/v1/companies", headers=tenant_a.auth)
        assert r.status_code == 403 and r.json()["error"]["code"] == "tenant_suspended"
    await other_process.redis.aclose()
    reasons = await admin_conn.fetch(
        "SELECT id::text, status, pause_reasons FROM campaigns WHERE tenant_id = $1",
        uuid.UUID(tenant_a.tenant_id),
    )
    got = {r["id"]: (r["status"], sorted(r["pause_reasons"])) for r in reasons}
    assert got == {
        campaign: ("paused", ["suspension"]),
        other: ("paused", ["suspension", "user"]),
    }
    # Again: nothing changes, nothing is paused twice.
    r = await api.post(
        f"/v1/staff/tenants/{tenant_a.tenant_id}/suspend",
        json={"reason": "still"},
        headers=support,
    )
    assert r.json()["changed"] is False and r.json()["campaigns"] == 0
    view = (await api.get(f"/v1/staff/tenants/{tenant_a.tenant_id}", headers=support)).json()
    assert view["suspended"] is not None and view["suspended_reason"] == "abuse report"

    # Lifted: the key works, only the `suspension` reason goes.
    r = await api.post(f"/v1/staff/tenants/{tenant_a.tenant_id}/unsuspend", headers=support)
    assert r.status_code == 200, r.text
    assert (r.json()["suspended"], r.json()["changed"]) == (False, True)
    assert (await api.get("/v1/companies", headers=tenant_a.auth)).status_code == 200
    r = await api.get(f"/v1/campaigns/{campaign}", headers=tenant_a.auth)
    assert (r.json()["status"], r.json()["pause_reasons"]) == ("sending", [])
    r = await api.get(f"/v1/campaigns/{other}", headers=tenant_a.auth)
    assert (r.json()["status"], r.json()["pause_reasons"]) == ("paused", ["user"])
    r = await api.post(f"/v1/staff/tenants/{tenant_a.tenant_id}/unsuspend", headers=support)
    assert r.json()["changed"] is False and r.json()["campaigns"] == 0

    # Every step is in the tenant's audit trail, with the staff member as actor.
    entries = await _audit(api, support, tenant_id=tenant_a.tenant_id, actor_type="staff")
    assert [e["action"] for e in entries] == [
        "tenant.found",
        "tenant.viewed",
        "tenant.suspended",
        "tenant.suspended",
        "tenant.viewed",
        "tenant.unsuspended",
        "tenant.unsuspended",
    ]
    actors = {e["actor_id"] for e in entries}
    staff_user = await admin_conn.fetchval(
        "SELECT m.user_id::text FROM staff_members m JOIN staff_roles r ON r.id = m.role_id "
        "WHERE r.name = 'support' ORDER BY m.created DESC LIMIT 1"
    )
    assert actors == {staff_user}
    assert entries[2]["details"] == {"changed": True, "reason": "abuse report"}
    assert entries[3]["details"] == {"changed": False, "reason": "still"}
    assert all(e["request_id"] for e in entries)
    # Filtered by action and by actor.
    suspended = await _audit(api, support, tenant_id=tenant_a.tenant_id, action="tenant.suspended")
    assert len(suspended) == 2
    assert await _audit(api, support, actor=str(uuid.uuid4())) == []


async def test_tenant_keys_roles_and_unknown_tenants(
    api: httpx.AsyncClient, db: Database, temporal_client: Client, tenant_a: Tenant
) -> None:
    read_only = await staff_key(db, temporal_client, "read_only")
    support = await staff_key(db, temporal_client, "support")
    billing = await staff_key(db, temporal_client, "billing")
    path = f"/v1/staff/tenants/{tenant_a.tenant_id}"
    # A tenant's key, even on its own tenant.
    r = await api.get(path, headers=tenant_a.auth)
    assert r.status_code == 403 and r.json()["error"]["message"] == "staff only"
    # read_only reads and cannot suspend; support cannot credit; billing cannot suspend.
    assert (await api.get(path, headers=read_only)).status_code == 200
    r = await api.post(f"{path}/suspend", json={"reason": "x"}, headers=read_only)
    assert r.status_code == 403, r.text
    r = await api.post(f"{path}/credits", json={"amount_cents": 5, "reason": "x"}, headers=support)
    assert r.status_code == 403, r.text
    r = await api.post(f"{path}/suspend", json={"reason": "x"}, headers=billing)
    assert r.status_code == 403, r.text
    assert (await api.get("/v1/companies", headers=tenant_a.auth)).status_code == 200

    unknown = f"/v1/staff/tenants/{uuid.uuid4()}"
    assert (await api.get(unknown, headers=support)).status_code == 404
    assert (await api.get(f"{unknown}/workflows", headers=support)).status_code == 404
    for action, body, who in (
        ("suspend", {"reason": "x"}, support),
        ("unsuspend", None, support),
        ("trial-extension", {"days": 3}, billing),
        ("credits", {"amount_cents": 100, "reason": "x"}, billing),
    ):
        r = await api.post(f"{unknown}/{action}", json=body, headers=who)
        assert r.status_code == 404, (action, r.text)
        assert r.json()["error"]["code"] == "not_found"


async def test_trial_extension_moves_the_trial_end_within_1_to_90_days(
    api: httpx.AsyncClient,
    services: Services,
    db: Database,
    temporal_client: Client,
    tenant_a: Tenant,
    admin_conn: asyncpg.Connection,
) -> None:
    billing = await staff_key(db, temporal_client, "billing")
    path = f"/v1/staff/tenants/{tenant_a.tenant_id}/trial-extension"
    for days in (0, 91, -1, "ten"):
        r = await api.post(path, json={"days": days}, headers=billing)
        assert r.status_code == 422, (days, r.text)
    assert (await api.post(path, json={}, headers=billing)).status_code == 422

    tid = uuid.UUID(tenant_a.tenant_id)
    before = await admin_conn.fetchval(
        "SELECT expires FROM subscriptions WHERE tenant_id = $1", tid
    )
    r = await api.post(path, json={"days": 10}, headers=billing)
    assert r.status_code == 200, r.text
    after = await admin_conn.fetchval("SELECT expires FROM subscriptions WHERE tenant_id = $1", tid)
    assert after - before == timedelta(days=10)
    assert datetime.fromisoformat(r.json()["trial_ends"]) == after
    r = await api.get("/v1/billing/subscription", headers=tenant_a.auth)
    assert datetime.fromisoformat(r.json()["trial_ends"]) == after

    # A trial already over is extended from now, not from its past end.
    await admin_conn.execute(
        "UPDATE subscriptions SET expires = now() - interval '5 days' WHERE tenant_id = $1", tid
    )
    r = await api.post(path, json={"days": 1}, headers=billing)
    ends = datetime.fromisoformat(r.json()["trial_ends"])
    assert timedelta(hours=23) < ends - datetime.now(UTC) <= timedelta(days=1)

    # Off the trial: 409, nothing moved.
    await admin_conn.execute("UPDATE subscriptions SET status = 'active' WHERE tenant_id = $1", tid)
    r = await api.post(path, json={"days": 5}, headers=billing)
    assert r.status_code == 409, r.text
    actions = await admin_conn.fetch(
        "SELECT action, details FROM audit_logs WHERE tenant_id = $1 AND actor_type = 'staff' "
        "ORDER BY created",
        tid,
    )
    assert [a["action"] for a in actions] == ["subscription.trial_extended"] * 2


async def test_credits_are_recorded_audited_and_shown_in_the_overview(
    api: httpx.AsyncClient, db: Database, temporal_client: Client, tenant_a: Tenant
) -> None:
    billing = await staff_key(db, temporal_client, "billing")
    path = f"/v1/staff/tenants/{tenant_a.tenant_id}"
    for body in ({"amount_cents": 0, "reason": "x"}, {"amount_cents": 10}, {"reason": "x"}):
        r = await api.post(f"{path}/credits", json=body, headers=billing)
        assert r.status_code == 422, (body, r.text)
    # Text the database cannot store is refused, never a crash.
    for reason in ("a\x00b", "\ud800", "x" * 501):
        body = json.dumps({"amount_cents": 1, "reason": reason}).encode()
        r = await api.post(
            f"{path}/credits",
            content=body,
            headers={**billing, "Content-Type": "application/json"},
        )
        assert r.status_code == 422, (reason[:5], r.text)
    for cents in (2500, 499):
        r = await api.post(
            f"{path}/credits", json={"amount_cents": cents, "reason": "outage"}, headers=billing
        )
        assert r.status_code == 201, r.text
        assert r.json()["amount_cents"] == cents and r.json()["tenant_id"] == tenant_a.tenant_id
    assert (await api.get(path, headers=billing)).json()["credits_cents"] == 2999
    super_admin = await staff_key(db, temporal_client, "super_admin")
    entries = await _audit(
        api, super_admin, tenant_id=tenant_a.tenant_id, action="billing.credited"
    )
    assert [e["details"]["amount_cents"] for e in entries] == [2500, 499]
    assert all(e["entity_type"] == "account_credit" for e in entries)


async def test_search_by_name_owner_email_and_id(
    api: httpx.AsyncClient, db: Database, temporal_client: Client
) -> None:
    support = await staff_key(db, temporal_client, "support")
    marker = uuid.uuid4().hex[:10]
    tenant = await sign_up(api, f"Penguin {marker} Ltd")
    other = await sign_up(api, "Someone else")

    async def ids(q: str) -> set[str]:
        r = await api.get("/v1/staff/tenants", params={"q": q}, headers=support)
        assert r.status_code == 200, r.text
        return {t["id"] for t in r.json()["items"]}

    assert await ids(marker.upper()) == {tenant.tenant_id}
    assert await ids(tenant.tenant_id) == {tenant.tenant_id}
    r = await api.get(f"/v1/staff/tenants/{other.tenant_id}", headers=support)
    owner = r.json()
    assert owner["id"] == other.tenant_id
    email = (
        await api.get("/v1/staff/tenants", params={"q": other.tenant_id}, headers=support)
    ).json()["items"][0]["owner_emails"][0]
    assert await ids(email) == {other.tenant_id}
    # The search's own wildcards are plain characters.
    assert await ids(f"{marker}%") == set()
    assert await ids("_" * 40) == set()
    r = await api.get("/v1/staff/tenants", params={"q": ""}, headers=support)
    assert r.status_code == 422


async def test_a_tenants_workflows_with_links_into_the_temporal_ui(
    api: httpx.AsyncClient,
    services: Services,
    db: Database,
    temporal_client: Client,
    tenant_a: Tenant,
    admin_conn: asyncpg.Connection,
) -> None:
    support = await staff_key(db, temporal_client, "support")
    s = await setup(api, admin_conn, tenant_a)
    campaign = await _running(api, admin_conn, s)
    wanted = f"campaign:{tenant_a.tenant_id}:{campaign}"
    items: list[dict] = []

    async def listed() -> bool:  # visibility is eventually consistent
        nonlocal items
        r = await api.get(f"/v1/staff/tenants/{tenant_a.tenant_id}/workflows", headers=support)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        return any(w["workflow_id"] == wanted for w in items)

    await until(listed)
    [run] = [w for w in items if w["workflow_id"] == wanted]
    assert run["workflow_type"] == "CampaignWorkflow" and run["status"] == "RUNNING"
    ui = services.settings.temporal_ui_url.rstrip("/")
    ns = services.settings.temporal_namespace
    assert run["url"] == (
        f"{ui}/namespaces/{ns}/workflows/campaign%3A{tenant_a.tenant_id}%3A{campaign}/{run['run_id']}"
    )
    # Only this tenant's workflows.
    assert all(tenant_a.tenant_id in w["workflow_id"] for w in items)
    r = await api.get(f"/v1/staff/tenants/{tenant_a.tenant_id}/workflows", headers=support)
    assert r.json()["search_url"].endswith(f"TenantId%3D%22{tenant_a.tenant_id}%22")


async def test_the_search_command_core_through_the_api(
    services: Services, db: Database, temporal_client: Client, tenant_a: Tenant
) -> None:
    from cli.infra_api import ApiRefused
    from cli.staff import search_tenants, tenants_table

    async with client_for(services) as client:
        client.headers.update(await staff_key(db, temporal_client, "read_only"))
        items = await search_tenants(client, tenant_a.tenant_id)
        assert [t["id"] for t in items] == [tenant_a.tenant_id]
        assert tenants_table(items).row_count == 1
        assert await search_tenants(client, "no tenant is called this &q=x") == []
        client.headers.update(tenant_a.auth)
        with pytest.raises(ApiRefused, match="staff only"):
            await search_tenants(client, "x")
