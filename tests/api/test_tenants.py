import asyncio
import uuid

import httpx
from temporalio.client import Client, WorkflowExecutionStatus

from penguinmails.db import Database
from penguinmails.repositories.companies import CompanyRepository
from penguinmails.repositories.tenants import TenantRepository
from tests.api.conftest import Tenant, sign_up
from workflows.names import TENANT_PROVISIONING, workflow_id


async def _wait_provisioned(client: Client, tenant_id: str) -> None:
    handle = client.get_workflow_handle(workflow_id(TENANT_PROVISIONING, tenant_id, tenant_id))
    await asyncio.wait_for(handle.result(), timeout=30)


async def test_sign_up_returns_a_working_key_and_provisions_the_tenant(
    api: httpx.AsyncClient, temporal_client: Client, db: Database
) -> None:
    tenant = await sign_up(api, "Penguin Co")
    assert tenant.key.startswith("pm_")
    await _wait_provisioned(temporal_client, tenant.tenant_id)

    me = await api.get("/v1/tenants/me", headers=tenant.auth)
    assert me.status_code == 200
    assert me.json()["name"] == "Penguin Co"
    assert me.json()["provisioning"] == "completed"

    tid = uuid.UUID(tenant.tenant_id)
    async with db.tenant_session(tid) as session:
        repo = TenantRepository(session)
        config = await repo.get_config(tid)
        policies = await repo.get_policies(tid)
        companies = await CompanyRepository(session).list(None, 10)
    assert config is not None and config.billing_email and config.billing_email.startswith("owner-")
    assert policies is not None and policies.password_min_length == 8
    assert [c.is_default for c in companies] == [True]


async def test_provisioning_is_findable_by_tenant_id(
    api: httpx.AsyncClient, temporal_client: Client
) -> None:
    tenant = await sign_up(api)
    await _wait_provisioned(temporal_client, tenant.tenant_id)
    found = []
    for _ in range(50):  # the visibility store catches up asynchronously
        found = [
            wf async for wf in temporal_client.list_workflows(f"TenantId = '{tenant.tenant_id}'")
        ]
        if found and found[0].status == WorkflowExecutionStatus.COMPLETED:
            break
        await asyncio.sleep(0.2)
    assert [wf.id for wf in found] == [
        workflow_id(TENANT_PROVISIONING, tenant.tenant_id, tenant.tenant_id)
    ]


async def test_provisioning_payloads_are_encrypted_in_history(
    api: httpx.AsyncClient, temporal_client: Client, temporal_dev_server
) -> None:
    tenant = await sign_up(api)
    await _wait_provisioned(temporal_client, tenant.tenant_id)
    # The raw client has no codec: what the server stores must not show the tenant id.
    raw = temporal_dev_server.client.get_workflow_handle(
        workflow_id(TENANT_PROVISIONING, tenant.tenant_id, tenant.tenant_id)
    )
    history = await raw.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    payload = started.input.payloads[0]
    assert payload.metadata["encoding"] == b"binary/encrypted"
    assert tenant.tenant_id.encode() not in payload.data


async def test_duplicate_sign_up_email_is_409_case_insensitively(api: httpx.AsyncClient) -> None:
    email = f"dup-{uuid.uuid4().hex[:8]}@example.com"
    first = await api.post("/v1/tenants", json={"name": "One", "owner_email": email})
    assert first.status_code == 201
    again = await api.post("/v1/tenants", json={"name": "Two", "owner_email": email.upper()})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "email_taken"


async def test_concurrent_duplicate_sign_ups_create_one_tenant(api: httpx.AsyncClient) -> None:
    email = f"race-{uuid.uuid4().hex[:8]}@example.com"
    responses = await asyncio.gather(
        *(api.post("/v1/tenants", json={"name": "R", "owner_email": email}) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]


async def test_sign_up_validation(api: httpx.AsyncClient) -> None:
    bad = await api.post("/v1/tenants", json={"name": "", "owner_email": "not-an-email"})
    assert bad.status_code == 422
    fields = {d["field"] for d in bad.json()["error"]["details"]}
    assert fields == {"body.name", "body.owner_email"}
    extra = await api.post(
        "/v1/tenants", json={"name": "x", "owner_email": "a@example.com", "tenant_id": "y"}
    )
    assert extra.status_code == 422


async def test_me_without_or_with_bad_key_is_401(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    assert (await api.get("/v1/tenants/me")).status_code == 401
    bogus = tenant_a.key[:-4] + "AAAA"
    r = await api.get("/v1/tenants/me", headers={"Authorization": f"Bearer {bogus}"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    r = await api.get("/v1/tenants/me", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
