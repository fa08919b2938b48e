"""Every /v1/staff route checks a staff permission: enumerated from the OpenAPI document,
each refuses a tenant's key, a staff member without a role and a role without its
permission (403), and lets a role with it through."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from fastapi.routing import APIRoute, iter_route_contexts
from temporalio.client import Client

from api.app import create_app
from api.services import Services
from penguinmails.db import Database
from tests.api.conftest import Tenant, client_for
from tests.api.test_billing_plans import staff_key

ROLES = ("super_admin", "support", "billing", "read_only")


def _permission(dependant: Any) -> str | None:
    for dep in dependant.dependencies:
        found = getattr(dep.call, "permission", None) or _permission(dep)
        if found:
            return str(found)
    return None


def staff_operations(services: Services) -> dict[tuple[str, str], str | None]:
    """(method, path) of every /v1/staff operation in the document -> its permission."""
    app = create_app(services=services)
    documented = {
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        if path.startswith("/v1/staff/")
        for method in ops
    }
    permissions = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and str(context.path).startswith("/v1/staff/"):
            for method in context.methods or ():
                permissions[(method, str(context.path))] = _permission(route.dependant)
    assert set(permissions) >= documented
    return {op: permissions[op] for op in documented}


async def _roles(
    db: Database, temporal_client: Client
) -> tuple[dict[str, dict[str, str]], dict[str, set[str]]]:
    keys = {role: await staff_key(db, temporal_client, role) for role in ROLES}
    keys["none"] = await staff_key(db, temporal_client, None)
    granted: dict[str, set[str]] = {}
    async with db.admin_session() as session:
        from sqlalchemy import text

        rows = await session.execute(
            text(
                "SELECT r.name AS role, p.name AS permission FROM staff_roles r "
                "JOIN staff_role_permissions rp ON rp.role_id = r.id "
                "JOIN permissions p ON p.id = rp.permission_id"
            )
        )
        for row in rows:
            granted.setdefault(row.role, set()).add(row.permission)
    granted["none"] = set()
    return keys, granted


async def test_every_staff_route_checks_its_permission(
    api: httpx.AsyncClient,
    services: Services,
    db: Database,
    temporal_client: Client,
    tenant_a: Tenant,
) -> None:
    operations = staff_operations(services)
    assert operations, "no staff routes found"
    missing = [op for op, permission in operations.items() if permission is None]
    assert not missing, f"staff routes without a permission check: {missing}"
    keys, granted = await _roles(db, temporal_client)
    wrong = []
    for (method, template), permission in sorted(operations.items()):
        path = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), template)
        # A client (an address) per operation: the requests of all of them from one
        # address would pass the per-address rate limit as staff routes are added.
        async with client_for(services) as client:
            r = await client.request(method, path, json={}, headers=tenant_a.auth)
            if r.status_code != 403:
                wrong.append(f"tenant key {method} {template} -> {r.status_code}")
            for role, headers in keys.items():
                r = await client.request(method, path, json={}, headers=headers)
                allowed = permission in granted[role]
                if (r.status_code == 403) == allowed:
                    wrong.append(f"{role} {method} {template} -> {r.status_code}")
    assert not wrong, "\n".join(wrong)
