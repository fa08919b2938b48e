"""The campaign engine end to end on the dev server with its real activities against
Postgres (enrollment, slots, conditions, statuses, pause/resume/cancel and their fan-outs).
`deliver_step` is a stand-in under its real name that reads the campaign's status the way
the real one re-checks it: the delivery activity has its own tests."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy import text
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.campaigns import CampaignActivities
from activities.interfaces.campaigns import (
    SIGNAL_ENROLLED,
    SIGNAL_REPLY,
    CampaignNudge,
    LeadSignal,
)
from activities.interfaces.delivery import DELIVER_STEP, DeliverInput, DeliverOutput
from penguinmails.db import Database
from penguinmails.repositories.campaign_setup import CampaignSetupRepository
from penguinmails.repositories.outbox import campaign_lock_key
from penguinmails.settings import Settings, asyncpg_dsn
from tests.fixtures.campaigns import EngineCampaign, engine_campaign
from workflows.campaign import (
    CampaignInput,
    CampaignView,
    CampaignWorkflow,
    CancelRequest,
    PauseRequest,
    ResumeRequest,
    StartRequest,
)
from workflows.lead_sequence import LeadSequenceWorkflow
from workflows.names import (
    CAMPAIGN_STATUS,
    campaign_workflow_id,
    lead_sequence_workflow_id,
    tenant_attributes,
)

WAIT_72H = {"step_type": "wait", "wait_duration_hours": 72}


@dataclass
class Deliveries:
    """deliver_step's stand-in: `sent` while the campaign sends, else `deferred` with
    `campaign_not_sending`; `gate` holds the first calls like a send in flight."""

    db: Database
    calls: list[DeliverInput] = field(default_factory=list)
    gate: asyncio.Event | None = None
    mailbox: str = ""  # the campaign's mailbox: a first touch's

    @activity.defn(name=DELIVER_STEP)
    async def deliver(self, data: DeliverInput) -> DeliverOutput:
        self.calls.append(data)
        if self.gate is not None:
            await self.gate.wait()
        async with self.db.tenant_session(data.tenant_id) as session:
            status = (
                await session.execute(
                    # The stand-in's only query, as the real activity's re-check reads it.
                    text("SELECT status FROM campaigns WHERE id = CAST(:id AS uuid)"),
                    {"id": data.campaign_id},
                )
            ).scalar_one()
        if status != "sending":
            return DeliverOutput("deferred", "campaign_not_sending")
        return DeliverOutput(
            "sent",
            mailbox_id=data.mailbox_id or self.mailbox,
            message_id=f"<{data.campaign_id}.{data.lead_id}.{data.step_id}@send.test>",
        )

    def per_lead(self) -> Counter[str]:
        return Counter(c.lead_id for c in self.calls)


@asynccontextmanager
async def engine(
    env: WorkflowEnvironment, db: Database, c: EngineCampaign, deliveries: Deliveries, **kw: Any
) -> AsyncIterator[WorkflowHandle[Any, CampaignView]]:
    queue = f"campaigns-{uuid.uuid4().hex[:6]}"
    deliveries.mailbox = str(c.tenant.mailbox_id)
    acts = CampaignActivities(db)
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[CampaignWorkflow, LeadSequenceWorkflow],
        activities=[
            acts.load_lead_sequence,
            acts.next_send_slot,
            acts.evaluate_condition,
            acts.record_lead_progress,
            acts.record_lead_ending,
            acts.stop_company_leads,
            acts.enrollment_window,
            acts.claim_enrollments,
            acts.set_campaign_status,
            acts.pause_campaign,
            acts.resume_campaign,
            acts.notify_leads_resumed,
            acts.cancel_lead_sequences,
            deliveries.deliver,
        ],
    ):
        yield await env.client.start_workflow(
            CampaignWorkflow.run,
            CampaignInput(c.tenant_id, c.campaign_id, sending_queue=queue, **kw),
            id=campaign_workflow_id(c.tenant_id, c.campaign_id),
            task_queue=queue,
            search_attributes=tenant_attributes(c.tenant_id, campaign_id=c.campaign_id),
        )


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(600):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


def lead_handle(env: WorkflowEnvironment, c: EngineCampaign, lead: uuid.UUID) -> Any:
    return env.client.get_workflow_handle_for(
        LeadSequenceWorkflow.run, lead_sequence_workflow_id(c.tenant_id, c.campaign_id, lead)
    )


async def enrollments(conn: asyncpg.Connection, c: EngineCampaign) -> dict[uuid.UUID, Any]:
    rows = await conn.fetch(
        "SELECT lead_id, status, current_step, email_account_id, started_at, finished_at, "
        "last_skip_reason FROM campaign_leads WHERE campaign_id = $1",
        c.tenant.campaign_id,
    )
    return {r["lead_id"]: r for r in rows}


async def test_a_campaign_runs_every_lead_through_its_steps_in_the_database(
    temporal_dev_server: WorkflowEnvironment, db: Database, admin_conn: asyncpg.Connection
) -> None:
    c = await engine_campaign(
        admin_conn,
        zones=["America/New_York", "Not/AZone", None],
        steps=[
            {"step_type": "email"},
            {"step_type": "condition", "condition_type": "no_reply"},
            {"step_type": "email"},
        ],
    )
    deliveries = Deliveries(db)
    async with engine(temporal_dev_server, db, c, deliveries) as handle:
        await handle.execute_update(CampaignWorkflow.start, StartRequest(c.tenant_id))
        view = await handle.result()
        described = await handle.describe()
        history = await lead_handle(temporal_dev_server, c, c.leads[1]).fetch_history()
    assert view.status == "completed" and view.started_at and view.completed_at
    assert described.typed_search_attributes.get(CAMPAIGN_STATUS) == "completed"
    campaign = await admin_conn.fetchrow(
        "SELECT status, started_at, completed_at FROM campaigns WHERE id = $1",
        c.tenant.campaign_id,
    )
    assert campaign["status"] == "completed" and campaign["completed_at"] >= campaign["started_at"]
    rows = await enrollments(admin_conn, c)
    assert {r["status"] for r in rows.values()} == {"completed"}
    assert {r["current_step"] for r in rows.values()} == {3}
    assert {r["email_account_id"] for r in rows.values()} == {c.tenant.mailbox_id}
    assert all(r["started_at"] and r["finished_at"] for r in rows.values())
    # Two sends a lead; the follow-up from the sticky mailbox, threaded under the first.
    assert set(deliveries.per_lead().values()) == {2}
    follow_ups = [d for d in deliveries.calls if d.step_id == str(c.steps[2])]
    assert {d.mailbox_id for d in follow_ups} == {str(c.tenant.mailbox_id)}
    assert all(d.thread_message_id and d.lead_id in d.thread_message_id for d in follow_ups)
    # The history names what was done, step by step.
    summaries = [
        e.user_metadata.summary.data.decode()
        for e in history.events
        if e.HasField("user_metadata") and e.user_metadata.HasField("summary")
    ]
    assert '"step 1: next sending slot"' in summaries
    assert '"step 2: condition no_reply"' in summaries
    assert '"ended: completed"' in summaries


async def test_pause_waits_for_sends_in_flight_and_resume_reaches_the_waiting_leads(
    temporal_dev_server: WorkflowEnvironment,
    db: Database,
    admin_conn: asyncpg.Connection,
    settings: Settings,
) -> None:
    c = await engine_campaign(admin_conn, emails=[f"p{i}@pause.test" for i in range(2)])
    deliveries = Deliveries(db, gate=asyncio.Event())
    # A send in flight: the campaign's shared lock, held by another connection.
    assert settings.database_url
    sender = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    await sender.execute(
        "SELECT pg_advisory_lock_shared(hashtextextended($1, 0))",
        campaign_lock_key(c.tenant.campaign_id),
    )
    async with engine(temporal_dev_server, db, c, deliveries, pause_lock_timeout_ms=300) as handle:
        await handle.execute_update(CampaignWorkflow.start, StartRequest(c.tenant_id))
        await until(lambda: _true(len(deliveries.calls) == 2))
        held = await handle.execute_update(
            CampaignWorkflow.pause, PauseRequest(c.tenant_id, "user")
        )
        assert (held.status, held.reasons, held.drained) == ("paused", ["user"], False)
        await sender.close()  # the send ends
        drained = await handle.execute_update(
            CampaignWorkflow.pause, PauseRequest(c.tenant_id, "billing")
        )
        assert (drained.status, drained.drained) == ("paused", True)
        assert sorted(drained.reasons) == ["billing", "user"]
        assert deliveries.gate is not None
        deliveries.gate.set()  # both sends find the campaign paused: deferred

        async def waiting() -> bool:
            states = [
                await lead_handle(temporal_dev_server, c, lead).query(
                    LeadSequenceWorkflow.get_state
                )
                for lead in c.leads
            ]
            return {s.phase for s in states} == {"paused_campaign"}

        await until(waiting)
        view = await handle.execute_update(
            CampaignWorkflow.resume, ResumeRequest(c.tenant_id, "user")
        )
        assert (view.status, view.pause_reasons) == ("paused", ["billing"])
        view = await handle.execute_update(
            CampaignWorkflow.resume, ResumeRequest(c.tenant_id, "billing")
        )
        assert (view.status, view.pause_reasons) == ("sending", [])
        view = await handle.result()
    assert view.status == "completed"
    assert set(deliveries.per_lead().values()) == {2}  # deferred once, then sent
    campaign = await admin_conn.fetchrow(
        "SELECT status, pause_reasons FROM campaigns WHERE id = $1", c.tenant.campaign_id
    )
    assert (campaign["status"], campaign["pause_reasons"]) == ("completed", [])


async def test_a_lead_enrolled_while_the_campaign_completes_is_not_left_pending(
    temporal_dev_server: WorkflowEnvironment, db: Database, admin_conn: asyncpg.Connection
) -> None:
    # The interleaving, made deterministic: the campaign counts no open enrollment (its last
    # lead has ended) while an enrollment is written but not committed; the completion then
    # meets the enrollment's lock on the campaign row, and the enrollment commits.
    c = await engine_campaign(admin_conn, emails=["first@late.test"])
    late: uuid.UUID = await admin_conn.fetchval(
        "INSERT INTO leads (id, tenant_id, email) VALUES (gen_random_uuid(), $1, "
        "'late@late.test') RETURNING id",
        c.tenant.tenant_id,
    )
    deliveries = Deliveries(db, gate=asyncio.Event())
    async with engine(temporal_dev_server, db, c, deliveries) as handle:
        await handle.execute_update(CampaignWorkflow.start, StartRequest(c.tenant_id))
        await until(lambda: _true(len(deliveries.calls) == 1))  # the only lead is sending
        async with db.tenant_session(c.tenant.tenant_id) as session:
            # What enrolling does (usecases.campaigns.enroll): the campaign's row, then rows.
            repo = CampaignSetupRepository(session)
            campaign = await repo.get(c.tenant.campaign_id, for_update=True)
            assert campaign is not None and campaign.status == "sending"
            counts = await repo.enroll(
                c.tenant.tenant_id,
                c.tenant.campaign_id,
                list_id=None,
                lead_ids=[late],
                allow_other=False,
            )
            assert counts["enrolled"] == 1
            assert deliveries.gate is not None
            deliveries.gate.set()  # the first lead ends; the campaign finds nothing open

            async def completing() -> bool:
                return bool(
                    await admin_conn.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database() AND query ILIKE '%campaigns%'"
                    )
                )

            await until(completing)  # the completion waits for the enrollment's commit
        await handle.signal(SIGNAL_ENROLLED, CampaignNudge(c.tenant_id))  # as enroll does
        view = await handle.result()
    assert view.status == "completed"
    rows = await enrollments(admin_conn, c)
    assert {lead: r["status"] for lead, r in rows.items()} == {
        c.leads[0]: "completed",
        late: "completed",
    }
    assert deliveries.per_lead() == Counter({str(c.leads[0]): 1, str(late): 1})


async def test_cancel_fans_out_from_the_enrollment_table(
    temporal_dev_server: WorkflowEnvironment, db: Database, admin_conn: asyncpg.Connection
) -> None:
    c = await engine_campaign(
        admin_conn, steps=[{"step_type": "email"}, WAIT_72H, {"step_type": "email"}]
    )
    deliveries = Deliveries(db)
    async with engine(temporal_dev_server, db, c, deliveries) as handle:
        await handle.execute_update(CampaignWorkflow.start, StartRequest(c.tenant_id))

        async def all_waiting() -> bool:
            rows = await enrollments(admin_conn, c)
            return {r["current_step"] for r in rows.values()} == {1}

        await until(all_waiting)
        view = await handle.execute_update(CampaignWorkflow.cancel, CancelRequest(c.tenant_id))
        assert view.status == "cancelled"
        assert (await handle.result()).status == "cancelled"
        # Each lead records its ending, then its cancel completes.
        for lead in c.leads:
            handle_ = lead_handle(temporal_dev_server, c, lead)
            await until(lambda h=handle_: _status_is(h, WorkflowExecutionStatus.CANCELED))
    rows = await enrollments(admin_conn, c)
    assert {r["status"] for r in rows.values()} == {"stopped"}
    assert {r["last_skip_reason"] for r in rows.values()} <= {"cancelled", "campaign_cancelled"}
    assert len(deliveries.calls) == 3  # the follow-ups never went
    campaign = await admin_conn.fetchrow(
        "SELECT status, completed_at FROM campaigns WHERE id = $1", c.tenant.campaign_id
    )
    assert campaign["status"] == "cancelled" and campaign["completed_at"]


async def test_a_reply_ends_the_lead_and_stops_its_company_but_not_free_mail(
    temporal_dev_server: WorkflowEnvironment, db: Database, admin_conn: asyncpg.Connection
) -> None:
    company = f"acme-{uuid.uuid4().hex[:6]}.test"
    c = await engine_campaign(
        admin_conn,
        emails=[f"ann@{company}", f"bob@{company}", "cat@gmail.com", "dan@gmail.com"],
        steps=[{"step_type": "email"}, WAIT_72H, {"step_type": "email"}],
        stop_for_company=True,
    )
    ann, bob, cat, dan = c.leads
    deliveries = Deliveries(db)
    async with engine(temporal_dev_server, db, c, deliveries) as handle:
        await handle.execute_update(CampaignWorkflow.start, StartRequest(c.tenant_id))

        async def all_waiting() -> bool:
            rows = await enrollments(admin_conn, c)
            return {r["current_step"] for r in rows.values()} == {1}

        await until(all_waiting)
        await lead_handle(temporal_dev_server, c, cat).signal(
            SIGNAL_REPLY, LeadSignal(c.tenant_id, "<r1@gmail.com>")
        )
        await lead_handle(temporal_dev_server, c, ann).signal(
            SIGNAL_REPLY, LeadSignal(c.tenant_id, "<r2@acme.test>")
        )
        assert (await lead_handle(temporal_dev_server, c, ann).result()).status == "replied"
        assert (await lead_handle(temporal_dev_server, c, cat).result()).status == "replied"
        await until(
            lambda: _status_is(
                lead_handle(temporal_dev_server, c, bob), WorkflowExecutionStatus.CANCELED
            )
        )
        rows = await enrollments(admin_conn, c)
        assert (rows[bob]["status"], rows[bob]["last_skip_reason"]) == (
            "stopped",
            "company_replied",
        )
        assert rows[dan]["status"] == "active"  # gmail.com names no company
        await handle.execute_update(CampaignWorkflow.cancel, CancelRequest(c.tenant_id))
        await handle.result()
    assert len(deliveries.calls) == 4


async def _status_is(handle: Any, status: WorkflowExecutionStatus) -> bool:
    return bool((await handle.describe()).status == status)


async def _true(value: bool) -> bool:
    return value
