"""System configuration: typed keys, super_admin only, 422 for a value its schema refuses,
404 for an unknown key, audited; the cached read gives the new value."""

from __future__ import annotations

import asyncpg
import httpx
from temporalio.client import Client

from api.services import Services
from penguinmails.db import Database
from penguinmails.sysconfig import BOT_WINDOW
from tests.api.test_billing_plans import staff_key


async def test_config_is_typed_audited_and_super_admin_only(
    api: httpx.AsyncClient,
    services: Services,
    db: Database,
    temporal_client: Client,
    admin_conn: asyncpg.Connection,
) -> None:
    admin = await staff_key(db, temporal_client, "super_admin")
    support = await staff_key(db, temporal_client, "support")

    listed = {c["key"]: c for c in (await api.get("/v1/staff/config", headers=support)).json()}
    assert listed[BOT_WINDOW]["default"] is True and listed[BOT_WINDOW]["value"] == 5
    assert "billing.grace_days" in listed

    r = await api.put(f"/v1/staff/config/{BOT_WINDOW}", json={"value": 9}, headers=support)
    assert r.status_code == 403
    for bad in ("nine", -1, 9.5, None):
        r = await api.put(f"/v1/staff/config/{BOT_WINDOW}", json={"value": bad}, headers=admin)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["code"] == "validation_error"
    r = await api.put("/v1/staff/config/no.such.key", json={"value": 1}, headers=admin)
    assert r.status_code == 404

    try:
        r = await api.put(f"/v1/staff/config/{BOT_WINDOW}", json={"value": 9}, headers=admin)
        assert r.status_code == 200, r.text
        assert r.json()["value"] == 9 and r.json()["default"] is False
        assert await services.platform.value(BOT_WINDOW) == 9
        listed = {c["key"]: c for c in (await api.get("/v1/staff/config", headers=admin)).json()}
        assert listed[BOT_WINDOW]["value"] == 9
        rows = await admin_conn.fetch(
            "SELECT actor_type, details FROM platform_audit_logs "
            "WHERE entity_type = 'system_config' AND entity_id = $1",
            BOT_WINDOW,
        )
        assert any(r["actor_type"] == "staff" and '"value": 9' in r["details"] for r in rows)
    finally:
        await admin_conn.execute("DELETE FROM system_config WHERE key = $1", BOT_WINDOW)
        services.platform.invalidate()
    assert await services.platform.value(BOT_WINDOW) == 5
