"""`POST /v1/billing/portal`: the development Stripe has no customer portal (501
`portal_unavailable`, nothing called); with Stripe (checkout mode) a tenant that is not a
customer yet gets 409."""

from __future__ import annotations

import httpx

from api.services import Services
from tests.api.conftest import Tenant, client_for


async def test_portal_is_501_in_development(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    r = await api.post("/v1/billing/portal", headers=tenant_a.auth)
    assert r.status_code == 501, r.text
    assert r.json()["error"]["code"] == "portal_unavailable"
    assert (await api.post("/v1/billing/portal")).status_code == 401


async def test_portal_needs_a_stripe_customer(services: Services, tenant_a: Tenant) -> None:
    stripe = services.settings.model_copy(update={"stripe_mode": "checkout"})
    svc = Services(**{**services.__dict__, "settings": stripe})
    async with client_for(svc) as api:
        r = await api.post("/v1/billing/portal", headers=tenant_a.auth)
    assert r.status_code == 409, r.text
    assert "customer" in r.json()["error"]["message"]
