"""PATCH: a field may be left out, a nullable one cleared with null, but a NOT NULL one refuses
null with 422 naming it, and nothing is stored (the row reads back as before)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import Tenant
from tests.api.fuzzing import seed_resources

# path template, its seed, the fields that refuse null
NON_NULLABLE = [
    ("/v1/companies/{}", "company_id", ["name", "status"]),
    ("/v1/templates/{}", "template_id", ["name", "subject", "body", "is_active"]),
    ("/v1/lead-lists/{}", "list_id", ["name"]),
    ("/v1/leads/{}", "lead_id", ["status", "custom_fields"]),
    (
        "/v1/email-accounts/{}",
        "account_id",
        [
            "daily_cap",
            "min_gap_seconds",
            "gap_jitter_seconds",
            "timezone",
            "smtp",
            "imap",
            "sending_window",
            "password",
        ],
    ),
]


@pytest.fixture
async def seeds(api: httpx.AsyncClient, tenant_a: Tenant) -> dict[str, str]:
    return await seed_resources(api, tenant_a.auth)


@pytest.mark.parametrize(("template", "seed", "fields"), NON_NULLABLE)
async def test_null_for_a_not_null_field_is_422_and_not_stored(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    seeds: dict[str, str],
    template: str,
    seed: str,
    fields: list[str],
) -> None:
    path = template.format(seeds[seed])
    before = (await api.get(path, headers=tenant_a.auth)).json()
    for field in fields:
        r = await api.patch(path, json={field: None}, headers=tenant_a.auth)
        assert r.status_code == 422, (field, r.text)
        details = r.json()["error"]["details"]
        assert [d["field"] for d in details] == [f"body.{field}"], details
        assert "not null" in details[0]["message"]
    after = await api.get(path, headers=tenant_a.auth)
    assert after.status_code == 200
    stored = after.json()
    for f in (
        *fields,
        "smtp_settings",
        "imap_settings",
    ):  # the mailbox stores smtp as smtp_settings
        assert stored.get(f) == before.get(f), (f, before, stored)
    listed = await api.get(path.rsplit("/", 1)[0], headers=tenant_a.auth)
    assert listed.status_code == 200


async def test_nullable_fields_clear_and_unsent_fields_stay(
    api: httpx.AsyncClient, tenant_a: Tenant, seeds: dict[str, str]
) -> None:
    h = tenant_a.auth
    company = f"/v1/companies/{seeds['company_id']}"
    set_ = await api.patch(company, json={"industry": "SaaS", "domain": "x.example"}, headers=h)
    assert set_.status_code == 200, set_.text
    cleared = await api.patch(company, json={"industry": None}, headers=h)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["industry"] is None and cleared.json()["domain"] == "x.example"

    lead = f"/v1/leads/{seeds['lead_id']}"
    r = await api.patch(
        lead, json={"custom_fields": {"plan": "pro"}, "first_name": None}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["custom_fields"] == {"plan": "pro"} and r.json()["first_name"] is None
    assert (await api.patch(lead, json={"status": "erased"}, headers=h)).status_code == 422

    account = f"/v1/email-accounts/{seeds['account_id']}"
    r = await api.patch(account, json={"daily_cap": 7, "signature": None}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["daily_cap"] == 7 and r.json()["timezone"] == "UTC"


async def test_patch_bodies_document_optional_not_nullable(api: httpx.AsyncClient) -> None:
    schemas = (await api.get("/openapi.json")).json()["components"]["schemas"]
    company = schemas["CompanyUpdate"]
    assert "required" not in company
    assert company["properties"]["name"]["type"] == "string"  # no null among its types
    assert {"type": "null"} in company["properties"]["domain"]["anyOf"]
    assert "default" not in schemas["EmailAccountUpdate"]["properties"]["daily_cap"]
    # The statuses come from the models' tuples.
    assert schemas["CompanyUpdate"]["properties"]["status"]["enum"] == [
        "active",
        "inactive",
        "archived",
    ]
    assert "erased" not in schemas["LeadUpdate"]["properties"]["status"]["enum"]
