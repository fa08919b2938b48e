"""Staff feature flags: set, roll out, override per tenant; 422 outside 0-100; only
`flags.write` changes; every change audited with the staff member as actor; the cached read
the API and workers share sees it."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
from temporalio.client import Client

from api.services import Services
from penguinmails.db import Database
from penguinmails.flags import in_rollout
from penguinmails.platform_config import PlatformConfig
from penguinmails.settings import Settings
from tests.api.conftest import Tenant
from tests.api.test_billing_plans import staff_key
from usecases.platform import Actor, set_flag
from usecases.staff import create_staff


async def _staff(db: Database, client: Client, role: str) -> tuple[uuid.UUID, dict[str, str]]:
    result = await create_staff(db, client, f"staff-{uuid.uuid4().hex[:8]}@pm.test", role=role)
    return result.user_id, {"Authorization": f"Bearer {result.api_key}"}


async def test_flag_rollout_override_and_audit(
    api: httpx.AsyncClient,
    services: Services,
    db: Database,
    temporal_client: Client,
    tenant_a: Tenant,
    admin_conn: asyncpg.Connection,
) -> None:
    staff_id, admin = await _staff(db, temporal_client, "super_admin")
    name = f"flag_{uuid.uuid4().hex[:8]}"
    tenant = uuid.UUID(tenant_a.tenant_id)

    for bad in (-1, 101):
        r = await api.put(
            f"/v1/staff/flags/{name}", json={"enabled": True, "percent": bad}, headers=admin
        )
        assert r.status_code == 422, r.text

    r = await api.put(
        f"/v1/staff/flags/{name}",
        json={"enabled": True, "percent": 30, "description": "the new editor"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "name": name,
        "enabled": True,
        "percent": 30,
        "description": "the new editor",
        "overrides": [],
    }
    expected = in_rollout(name, tenant, 30)
    assert await services.platform.enabled(name, tenant) is expected

    r = await api.put(
        f"/v1/staff/flags/{name}/tenants/{tenant}", json={"enabled": not expected}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["overrides"] == [{"tenant_id": str(tenant), "enabled": not expected}]
    assert await services.platform.enabled(name, tenant) is (not expected)  # override wins

    listed = {f["name"]: f for f in (await api.get("/v1/staff/flags", headers=admin)).json()}
    assert listed[name]["overrides"] == [{"tenant_id": str(tenant), "enabled": not expected}]

    r = await api.delete(f"/v1/staff/flags/{name}/tenants/{tenant}", headers=admin)
    assert r.status_code == 200 and r.json()["overrides"] == []
    assert await services.platform.enabled(name, tenant) is expected

    missing = await api.put(
        f"/v1/staff/flags/{name}/tenants/{uuid.uuid4()}", json={"enabled": True}, headers=admin
    )
    assert missing.status_code == 404
    no_flag = await api.put(
        f"/v1/staff/flags/nope_{uuid.uuid4().hex[:6]}/tenants/{tenant}",
        json={"enabled": True},
        headers=admin,
    )
    assert no_flag.status_code == 404

    platform = await admin_conn.fetch(
        "SELECT actor_type, actor_id, action, details FROM platform_audit_logs "
        "WHERE entity_type = 'feature_flag' AND entity_id = $1",
        name,
    )
    assert [(r["actor_type"], r["actor_id"], r["action"]) for r in platform] == [
        ("staff", staff_id, "feature_flag.set")
    ]
    tenant_trail = await admin_conn.fetch(
        "SELECT actor_type, actor_id, action FROM audit_logs "
        "WHERE tenant_id = $1 AND entity_type = 'feature_flag' AND entity_id = $2 ORDER BY created",
        tenant,
        name,
    )
    assert [(r["actor_type"], r["actor_id"], r["action"]) for r in tenant_trail] == [
        ("staff", staff_id, "feature_flag.override_set"),
        ("staff", staff_id, "feature_flag.override_removed"),
    ]


async def test_only_flags_write_changes_a_flag(
    api: httpx.AsyncClient, db: Database, temporal_client: Client, tenant_a: Tenant
) -> None:
    support = await staff_key(db, temporal_client, "support")
    name = f"flag_{uuid.uuid4().hex[:8]}"
    r = await api.put(
        f"/v1/staff/flags/{name}", json={"enabled": True, "percent": 5}, headers=support
    )
    assert r.status_code == 403
    assert (await api.get("/v1/staff/flags", headers=support)).status_code == 200
    r = await api.get("/v1/staff/flags", headers=tenant_a.auth)
    assert r.status_code == 403


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_change_reaches_another_process_within_ten_seconds(
    db: Database, settings: Settings, tenant_a: Tenant
) -> None:
    """A worker's cache (another process: its own PlatformConfig) sees a staff change on its
    first read after 10 s, and not before; time moved by an injected clock."""
    clock = _Clock()
    worker = PlatformConfig(db, settings, clock=clock)
    tenant = uuid.UUID(tenant_a.tenant_id)
    name = f"flag_{uuid.uuid4().hex[:8]}"
    assert not await worker.enabled(name, tenant)
    await set_flag(db, Actor("system"), name, True, 100)
    clock.now += 9.9
    assert not await worker.enabled(name, tenant)  # cached
    clock.now += 0.1
    assert await worker.enabled(name, tenant)
