"""Every write route of the application, from its route table, as each role: a member is
refused (403) everywhere except where a route opens itself to members; an admin everywhere
except the owner's routes; an owner nowhere. A route added later is covered as it is."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount

from api.app import create_app
from api.deps import READ_METHODS, get_principal, get_tenant_session
from api.services import Services
from tests.api.conftest import Tenant, client_for, key_for_member

# Write routes that take no tenant key, each with why.
EXEMPT: dict[tuple[str, str], str] = {
    ("POST", "/v1/tenants"): "sign-up: creates the tenant and its first key, so has none yet",
    ("POST", "/u/{token}"): "one-click unsubscribe: the recipient's signed link, not a key",
    ("POST", "/staff/codec/decode"): "staff codec: the staff credential, not a tenant key",
    ("POST", "/staff/codec/encode"): "staff codec: the staff credential, not a tenant key",
    ("POST", "/staff/codec/{credential}/decode"): "staff codec: credential in the path",
    ("POST", "/staff/codec/{credential}/encode"): "staff codec: credential in the path",
    ("POST", "/webhooks/inbound"): "a mail relay's raw message: the shared secret, not a key",
    ("POST", "/webhooks/stripe"): "Stripe's events: signed with the webhook secret, not a key",
}
EXEMPT_MOUNTS = {"/static-offline-docs": "the offline docs' static files: GET only"}
# Routes that change nothing, or only the reading state of replies and notifications
# (handling replies is a member's work), which members may call.
MEMBER_MAY = {
    ("POST", "/v1/templates/{template_id}/preview"),
    ("PATCH", "/v1/inbox/{inbound_id}"),
    ("POST", "/v1/notifications/{notification_id}/read"),
}
# Users' roles and membership are the owners' to manage.
OWNER_ONLY = {
    ("PATCH", "/v1/users/{user_id}"),
    ("DELETE", "/v1/users/{user_id}"),
    ("POST", "/v1/billing/subscription"),
    ("POST", "/v1/billing/subscription/cancel"),
    ("POST", "/v1/billing/subscription/resume"),
    ("POST", "/v1/billing/portal"),
}


def _takes_principal(dependant: Any) -> bool:
    return any(
        d.call in (get_principal, get_tenant_session) or _takes_principal(d)
        for d in dependant.dependencies
    )


def write_routes() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(tenant write routes, keyless write routes) of the application's route table."""
    tenant: list[tuple[str, str]] = []
    keyless: list[tuple[str, str]] = []
    for context in iter_route_contexts(create_app().routes):
        route = context.original_route
        if isinstance(route, Mount):
            assert route.path in EXEMPT_MOUNTS, f"mount {route.path} not looked at"
            continue
        for method in sorted(set(context.methods or ()) - READ_METHODS):
            key = (method, str(context.path))
            if isinstance(route, APIRoute) and _takes_principal(route.dependant):
                tenant.append(key)
            else:
                keyless.append(key)
    return tenant, keyless


def test_every_keyless_write_route_is_exempt_with_a_reason() -> None:
    tenant, keyless = write_routes()
    assert len(tenant) > 30
    assert set(keyless) == set(EXEMPT)
    assert set(tenant) >= (MEMBER_MAY | OWNER_ONLY)


async def test_each_role_on_every_write_route(services: Services, tenant_a: Tenant) -> None:
    keys: dict[str, str] = {"owner": tenant_a.key}
    async with client_for(services) as api:
        for role in ("admin", "member"):
            invited = await api.post(
                "/v1/users",
                json={"email": f"{role}-{uuid.uuid4().hex[:8]}@example.com", "roles": [role]},
                headers=tenant_a.auth,
            )
            assert invited.status_code == 201, invited.text
            keys[role] = await key_for_member(api, tenant_a, invited.json()["id"])
    tenant, _ = write_routes()
    wrong: list[str] = []
    for role, key in keys.items():
        # One address per role: the per-address limit stays out of the way.
        async with client_for(services) as api:
            for method, template in tenant:
                path = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), template)
                r = await api.request(
                    method, path, json={}, headers={"Authorization": f"Bearer {key}"}
                )
                refused = r.status_code == 403
                if refused:
                    assert r.json()["error"]["code"] == "forbidden", r.text
                # Staff routes refuse every tenant key, whatever its role.
                expected = (
                    template.startswith("/v1/staff/")
                    or (role == "member" and (method, template) not in MEMBER_MAY)
                    or (role == "admin" and (method, template) in OWNER_ONLY)
                )
                if refused != expected:
                    wrong.append(f"{role} {method} {template} -> {r.status_code}")
    assert not wrong, "\n".join(wrong)


async def test_member_reads_and_previews(services: Services, tenant_a: Tenant) -> None:
    async with client_for(services) as api:
        invited = await api.post(
            "/v1/users",
            json={"email": f"m-{uuid.uuid4().hex[:8]}@example.com"},
            headers=tenant_a.auth,
        )
        member = {
            "Authorization": f"Bearer {await key_for_member(api, tenant_a, invited.json()['id'])}"
        }
        created = await api.post(
            "/v1/templates",
            json={"name": "T", "subject": "Hi {{first_name}}", "body": "<p>B</p>"},
            headers=tenant_a.auth,
        )
        template_id = created.json()["id"]
        assert (await api.get("/v1/lead-lists", headers=member)).status_code == 200
        preview = await api.post(f"/v1/templates/{template_id}/preview", json={}, headers=member)
        assert preview.status_code == 200, preview.text
        # The writes members were once let through, refused before anything runs.
        for method, path, body in [
            ("POST", "/v1/lead-lists", {"name": "L"}),
            ("POST", "/v1/suppressions", {"email": "x@example.com"}),
            ("PATCH", f"/v1/templates/{template_id}", {"name": "N"}),
        ]:
            r = await api.request(method, path, json=body, headers=member)
            assert r.status_code == 403, (path, r.text)
        listed = await api.get("/v1/lead-lists", headers=tenant_a.auth)
        assert all(item["name"] != "L" for item in listed.json()["items"])
