"""The billing pause against real campaign workflows (dev server): `billing` joins the
campaign's pause reasons, and lifting it lifts only it."""

from __future__ import annotations

import asyncio

import asyncpg
from temporalio.testing import WorkflowEnvironment

from activities.billing import BillingActivities
from activities.interfaces.billing import BillingPauseInput
from penguinmails.db import Database
from penguinmails.settings import Settings
from tests.fixtures.campaigns import engine_campaign
from tests.workflows.test_campaign_engine import Deliveries, engine, until
from workflows.campaign import CampaignWorkflow, PauseRequest, ResumeRequest, StartRequest
from workflows.names import campaign_workflow_id


async def test_billing_pause_and_lift_through_the_campaign_workflow(
    temporal_dev_server: WorkflowEnvironment,
    db: Database,
    admin_conn: asyncpg.Connection,
    settings: Settings,
) -> None:
    c = await engine_campaign(admin_conn, emails=[f"b{i}@billing.test" for i in range(2)])
    deliveries = Deliveries(db, gate=asyncio.Event())  # sends held: the campaign keeps sending
    billing = BillingActivities(db, None, settings, client=temporal_dev_server.client)
    prefix = campaign_workflow_id(c.tenant_id, "")

    async def reasons() -> tuple[str, list[str]]:
        row = await admin_conn.fetchrow(
            "SELECT status, pause_reasons FROM campaigns WHERE id = $1", c.tenant.campaign_id
        )
        return row["status"], sorted(row["pause_reasons"])

    async with engine(temporal_dev_server, db, c, deliveries) as handle:
        await handle.execute_update(CampaignWorkflow.start, StartRequest(c.tenant_id))
        await until(lambda: _is(reasons(), ("sending", [])))
        out = await billing.set_billing_pause(BillingPauseInput(c.tenant_id, True, prefix))
        assert out.campaigns == 1
        assert await reasons() == ("paused", ["billing"])
        # The tenant pauses it too; payment lifts only `billing`.
        await handle.execute_update(CampaignWorkflow.pause, PauseRequest(c.tenant_id, "user"))
        out = await billing.set_billing_pause(BillingPauseInput(c.tenant_id, False, prefix))
        assert out.campaigns == 1
        assert await reasons() == ("paused", ["user"])
        await handle.execute_update(CampaignWorkflow.resume, ResumeRequest(c.tenant_id, "user"))
        assert await reasons() == ("sending", [])
        assert deliveries.gate is not None
        deliveries.gate.set()
        await handle.result()


async def _is(value: object, want: object) -> bool:
    return await value == want  # type: ignore[misc]
