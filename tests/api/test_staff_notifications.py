"""Staff system notifications: listed (all, unresolved, resolved), resolved once (a repeat
changes nothing), audited under the tenant concerned or the staff member's own."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
from temporalio.client import Client

from penguinmails.db import Database
from tests.api.conftest import Tenant
from tests.api.test_billing_plans import staff_key


async def _add(conn: asyncpg.Connection, title: str, tenant_id: str | None) -> str:
    return str(
        await conn.fetchval(
            "INSERT INTO system_notifications (category, title, message, severity, tenant_id) "
            "VALUES ('delivery', $1, 'details', 'error', $2) RETURNING id",
            title,
            None if tenant_id is None else uuid.UUID(tenant_id),
        )
    )


async def test_list_filter_and_resolve_system_notifications(
    api: httpx.AsyncClient,
    db: Database,
    temporal_client: Client,
    tenant_a: Tenant,
    admin_conn: asyncpg.Connection,
) -> None:
    marker = uuid.uuid4().hex
    about_tenant = await _add(admin_conn, f"{marker} bounce spike", tenant_a.tenant_id)
    platform = await _add(admin_conn, f"{marker} queue backlog", None)
    read_only = await staff_key(db, temporal_client, "read_only")
    support = await staff_key(db, temporal_client, "support")

    async def titles(auth: dict[str, str], **params: str) -> list[str]:
        found: list[str] = []
        cursor: str | None = None
        while True:  # every page, two at a time
            query = {"limit": "2", **params, **({"cursor": cursor} if cursor else {})}
            r = await api.get("/v1/staff/system-notifications", params=query, headers=auth)
            assert r.status_code == 200, r.text
            found += [n["title"] for n in r.json()["items"] if n["title"].startswith(marker)]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return found

    assert await titles(read_only, unresolved="true") == [
        f"{marker} bounce spike",
        f"{marker} queue backlog",
    ]
    # read_only reads, and cannot resolve.
    r = await api.post(f"/v1/staff/system-notifications/{platform}/resolve", headers=read_only)
    assert r.status_code == 403, r.text

    r = await api.post(f"/v1/staff/system-notifications/{about_tenant}/resolve", headers=support)
    assert r.status_code == 200, r.text
    assert r.json()["is_resolved"] is True and r.json()["resolved"] is not None
    first = r.json()["resolved"]
    r = await api.post(f"/v1/staff/system-notifications/{about_tenant}/resolve", headers=support)
    assert r.status_code == 200 and r.json()["resolved"] == first
    r = await api.post(f"/v1/staff/system-notifications/{platform}/resolve", headers=support)
    assert r.status_code == 200, r.text
    r = await api.post(f"/v1/staff/system-notifications/{uuid.uuid4()}/resolve", headers=support)
    assert r.status_code == 404

    assert await titles(support, unresolved="true") == []
    assert len(await titles(support, unresolved="false")) == 2
    assert len(await titles(support)) == 2

    rows = await admin_conn.fetch(
        "SELECT tenant_id::text, entity_id, details->>'changed' AS changed FROM audit_logs "
        "WHERE action = 'system_notification.resolved' AND entity_id = ANY($1::text[]) "
        "ORDER BY created",
        [about_tenant, platform],
    )
    # The support member's own tenant (the newest support staff is the one created above).
    staff_tenant = await admin_conn.fetchval(
        "SELECT tu.tenant_id::text FROM staff_members m JOIN staff_roles r ON r.id = m.role_id "
        "JOIN tenant_users tu ON tu.user_id = m.user_id WHERE r.name = 'support' "
        "ORDER BY m.created DESC LIMIT 1"
    )
    assert [(r["tenant_id"], r["entity_id"], r["changed"]) for r in rows] == [
        (tenant_a.tenant_id, about_tenant, "true"),
        (tenant_a.tenant_id, about_tenant, "false"),
        (staff_tenant, platform, "true"),
    ]
