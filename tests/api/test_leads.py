"""Lists, leads, filters, export, suppressions and erasure through the API, with the real
workflows and activities."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid

import httpx
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from api.services import Services
from tests.api.conftest import Tenant
from tests.api.test_lead_imports import create_list, invariant, leads_of, run_import
from tests.fixtures.fake_sequence import FakeLeadSequence
from workflows.erasure import ErasureWorkflow
from workflows.names import ERASURE, tenant_attributes, workflow_id

CSV = (
    "email,first name,company,plan\n"
    "ann@acme.example,Ann,Acme,pro\n"
    "andy@acme.example,Andy,Acme,free\n"
    "bea@beta.example,Bea,Beta,pro\n"
)


async def test_lists_crud_and_tenant_wide_or_workspace(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    r = await api.post("/v1/companies", json={"name": "Sales team"}, headers=tenant_a.auth)
    company = r.json()["id"]
    r = await api.post(
        "/v1/lead-lists", json={"name": "Q1", "company_id": company}, headers=tenant_a.auth
    )
    assert r.status_code == 201 and r.json()["company_id"] == company
    scoped = r.json()["id"]
    wide = await create_list(api, tenant_a, "Everyone")
    r = await api.get("/v1/lead-lists", params={"company_id": company}, headers=tenant_a.auth)
    assert [x["id"] for x in r.json()["items"]] == [scoped]
    r = await api.patch(f"/v1/lead-lists/{wide}", json={"name": "All"}, headers=tenant_a.auth)
    assert r.json()["name"] == "All"
    r = await api.post(
        "/v1/lead-lists", json={"name": "x", "company_id": str(uuid.uuid4())}, headers=tenant_a.auth
    )
    assert r.status_code == 422
    assert (
        await api.patch(f"/v1/lead-lists/{wide}", json={"name": "y"}, headers=tenant_b.auth)
    ).status_code == 404
    assert (await api.delete(f"/v1/lead-lists/{wide}", headers=tenant_b.auth)).status_code == 404
    assert (await api.delete(f"/v1/lead-lists/{wide}", headers=tenant_a.auth)).status_code == 204
    assert (await api.get(f"/v1/lead-lists/{wide}", headers=tenant_a.auth)).status_code == 404


async def test_filters_pages_update_delete_and_export(
    api: httpx.AsyncClient, services: Services, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    list_id = await create_list(api, tenant_a)
    await run_import(api, services, tenant_a, list_id, CSV.encode())
    auth = tenant_a.auth
    r = await api.get("/v1/leads", params={"list_id": list_id, "email_prefix": "AN"}, headers=auth)
    assert sorted(x["email"] for x in r.json()["items"]) == [
        "andy@acme.example",
        "ann@acme.example",
    ]
    r = await api.get("/v1/leads", params={"list_id": list_id, "company": "beta"}, headers=auth)
    assert [x["email"] for x in r.json()["items"]] == ["bea@beta.example"]
    r = await api.get("/v1/leads", params={"list_id": list_id, "limit": 2}, headers=auth)
    assert len(r.json()["items"]) == 2 and r.json()["next_cursor"]
    r2 = await api.get(
        "/v1/leads",
        params={"list_id": list_id, "limit": 2, "cursor": r.json()["next_cursor"]},
        headers=auth,
    )
    assert len(r2.json()["items"]) == 1 and r2.json()["next_cursor"] is None
    assert (await api.get("/v1/leads", params={"list_id": list_id}, headers=tenant_b.auth)).json()[
        "items"
    ] == []

    leads = await leads_of(api, tenant_a, list_id)
    ann = leads["ann@acme.example"]["id"]
    r = await api.patch(
        f"/v1/leads/{ann}", json={"status": "replied", "timezone": "UTC+2"}, headers=auth
    )
    assert (
        r.status_code == 200
        and r.json()["status"] == "replied"
        and r.json()["timezone"] == "Etc/GMT-2"
    )
    r = await api.get("/v1/leads", params={"list_id": list_id, "status": "replied"}, headers=auth)
    assert [x["id"] for x in r.json()["items"]] == [ann]
    assert (
        await api.patch(f"/v1/leads/{ann}", json={"timezone": "Nowhere"}, headers=auth)
    ).status_code == 422
    assert (await api.get(f"/v1/leads/{ann}", headers=tenant_b.auth)).status_code == 404

    andy = leads["andy@acme.example"]["id"]
    assert (await api.delete(f"/v1/leads/{andy}", headers=auth)).status_code == 204
    assert (await api.get(f"/v1/leads/{andy}", headers=auth)).status_code == 404

    r = await api.get(f"/v1/lead-lists/{list_id}/export.csv", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(x["email"] for x in rows) == ["ann@acme.example", "bea@beta.example"]
    assert (
        next(x for x in rows if x["email"] == "bea@beta.example")["custom_fields"]
        == '{"plan": "pro"}'
    )
    assert (
        await api.get(f"/v1/lead-lists/{list_id}/export.csv", headers=tenant_b.auth)
    ).status_code == 404


async def test_suppressions_api_and_csv_upload_block_imports(
    api: httpx.AsyncClient, services: Services, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    auth = tenant_a.auth
    r = await api.post("/v1/suppressions", json={"email": " Ann@ACME.example "}, headers=auth)
    assert r.status_code == 201 and r.json()["kind"] == "address" and len(r.json()["value"]) == 64
    entry = r.json()["id"]
    again = await api.post("/v1/suppressions", json={"email": "ann@acme.example"}, headers=auth)
    assert again.status_code == 200 and again.json()["id"] == entry
    assert (
        await api.post("/v1/suppressions", json={"email": "nope"}, headers=auth)
    ).status_code == 422
    assert (await api.post("/v1/suppressions", json={}, headers=auth)).status_code == 422
    r = await api.get("/v1/suppressions", params={"email": "ANN@acme.example"}, headers=auth)
    assert [x["id"] for x in r.json()["items"]] == [entry]
    assert (await api.get("/v1/suppressions", headers=tenant_b.auth)).json()["items"] == []

    dnc = "Email Address,domain\nandy@acme.example,\n,beta.example\nbroken,\n"
    r = await api.post(
        "/v1/suppressions/imports",
        files={"file": ("dnc.csv", dnc.encode(), "text/csv")},
        data={"reason": "unsubscribed"},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["rows_total"], r.json()["added"], r.json()["rejected"]) == (3, 2, 1)

    list_id = await create_list(api, tenant_a)
    body = await run_import(api, services, tenant_a, list_id, CSV.encode())
    assert (body["accepted"], body["suppressed"]) == (0, 3)
    invariant(body)

    assert (await api.delete(f"/v1/suppressions/{entry}", headers=tenant_b.auth)).status_code == 404
    assert (await api.delete(f"/v1/suppressions/{entry}", headers=auth)).status_code == 204
    body = await run_import(api, services, tenant_a, list_id, CSV.encode())
    assert (body["accepted"], body["suppressed"]) == (1, 2)
    # Tenant B's lists are untouched by A's suppressions.
    other = await create_list(api, tenant_b)
    body = await run_import(api, services, tenant_b, other, CSV.encode())
    assert body["accepted"] == 3


async def test_erasure_cancels_anonymises_and_keeps_suppressed(
    api: httpx.AsyncClient,
    services: Services,
    tenant_a: Tenant,
    temporal_client: Client,
    admin_conn: object,
) -> None:
    list_id = await create_list(api, tenant_a)
    await run_import(api, services, tenant_a, list_id, CSV.encode())
    lead = (await leads_of(api, tenant_a, list_id))["bea@beta.example"]
    lead_id = lead["id"]

    queue = f"fake-sequences-{uuid.uuid4().hex[:8]}"
    async with Worker(temporal_client, task_queue=queue, workflows=[FakeLeadSequence]):
        sequence = await temporal_client.start_workflow(
            FakeLeadSequence.run,
            id=f"lead-sequence:{tenant_a.tenant_id}:{lead_id}",
            task_queue=queue,
            search_attributes=tenant_attributes(tenant_a.tenant_id, lead_id=lead_id),
        )
        for _ in range(200):  # visibility is eventually consistent
            found = [
                w
                async for w in temporal_client.list_workflows(
                    f"TenantId = '{tenant_a.tenant_id}' AND LeadId = '{lead_id}'"
                )
            ]
            if found:
                break
            await asyncio.sleep(0.05)
        r = await api.post(f"/v1/leads/{lead_id}/erase", headers=tenant_a.auth)
        assert r.status_code == 202
        handle = services.temporal.get_workflow_handle_for(
            ErasureWorkflow.run, workflow_id(ERASURE, tenant_a.tenant_id, lead_id)
        )
        result = await handle.result()
        assert result.found and result.erased_now and result.workflows_cancelled == 1
        assert (await sequence.describe()).status == WorkflowExecutionStatus.CANCELED

    r = await api.get(f"/v1/leads/{lead_id}", headers=tenant_a.auth)
    body = r.json()
    assert body["status"] == "erased" and body["email"].endswith("@erased.invalid")
    assert "bea" not in r.text.lower() and "beta" not in r.text.lower()
    assert body["custom_fields"] == {} and body["first_name"] is None and body["company"] is None
    r = await api.get(
        "/v1/suppressions", params={"email": "bea@beta.example"}, headers=tenant_a.auth
    )
    assert r.json()["items"][0]["reason"] == "erased"
    # An erasure entry stays.
    entry = r.json()["items"][0]["id"]
    assert (await api.delete(f"/v1/suppressions/{entry}", headers=tenant_a.auth)).status_code == 409
    # Gone from its lists; a new upload never brings the person back.
    assert "bea@beta.example" not in await leads_of(api, tenant_a, list_id)
    body = await run_import(api, services, tenant_a, list_id, CSV.encode())
    assert body["suppressed"] == 1
    # Idempotent: a second request changes nothing and writes no second audit record.
    r = await api.post(f"/v1/leads/{lead_id}/erase", headers=tenant_a.auth)
    await services.temporal.get_workflow_handle(
        workflow_id(ERASURE, tenant_a.tenant_id, lead_id)
    ).result()
    audits = await admin_conn.fetchval(  # type: ignore[attr-defined]
        "SELECT count(*) FROM audit_logs WHERE entity_id = $1 AND action = 'lead.erased'", lead_id
    )
    assert audits == 1
