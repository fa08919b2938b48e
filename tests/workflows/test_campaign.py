"""The CampaignWorkflow's orchestration on the dev server (updates do not skip time on the
time-skipping server), with fakes under the real activity names keeping the enrollment table
in memory. The real activities run in tests/workflows/test_campaign_engine.py."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.interfaces.campaigns import (
    CANCEL_LEAD_SEQUENCES,
    CLAIM_ENROLLMENTS,
    ENROLLMENT_WINDOW,
    LOAD_LEAD_SEQUENCE,
    NOTIFY_LEADS_RESUMED,
    PAUSE_CAMPAIGN,
    RECORD_LEAD_ENDING,
    RESUME_CAMPAIGN,
    SET_CAMPAIGN_STATUS,
    CampaignRef,
    CampaignStatusOutput,
    ClaimInput,
    ClaimOutput,
    FanOutInput,
    FanOutOutput,
    LeadEndingInput,
    LeadEndingOutput,
    LoadSequenceInput,
    LoadSequenceOutput,
    PauseInput,
    PauseOutput,
    ResumeInput,
    ResumeOutput,
    SetStatusInput,
    WindowOutput,
)
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
from workflows.names import campaign_workflow_id, tenant_attributes

TENANT = str(uuid.uuid4())


@dataclass
class Table:
    """campaign_leads in memory: enrollment id -> [lead id, status, started]."""

    window: int
    rows: dict[str, list[Any]] = field(default_factory=dict)
    loads: Counter[str] = field(default_factory=Counter)
    statuses: list[str] = field(default_factory=list)
    max_running: int = 0
    late: int = 0  # enrolled while the campaign runs, once this many were claimed
    late_added: bool = False
    claimed: int = 0
    reasons: list[str] = field(default_factory=list)
    notified: int = 0
    # The second claim answers the first page again, as a claim retried after a lost
    # answer does, while that page's sequences still run (held in load by `gate`).
    echo: bool = False
    gate: asyncio.Event | None = None
    claims: list[ClaimOutput] = field(default_factory=list)

    def enroll(self, n: int) -> None:
        for _ in range(n):
            self.rows[str(uuid.uuid4())] = [str(uuid.uuid4()), "pending", False]

    def by_lead(self, lead: str) -> list[Any]:
        return next(r for r in self.rows.values() if r[0] == lead)

    @activity.defn(name=ENROLLMENT_WINDOW)
    async def window_(self, data: CampaignRef) -> WindowOutput:
        count = Counter(r[1] for r in self.rows.values())
        return WindowOutput(self.window, count["pending"], count["active"], count["paused"])

    @activity.defn(name=CLAIM_ENROLLMENTS)
    async def claim(self, data: ClaimInput) -> ClaimOutput:
        if self.echo and len(self.claims) == 1:
            self.claims.append(self.claims[0])
            return self.claims[0]
        out = await self._claim(data)
        self.claims.append(out)
        return out

    async def _claim(self, data: ClaimInput) -> ClaimOutput:
        page = [
            i
            for i in sorted(self.rows)
            if (data.after is None or i > data.after)
            and (
                self.rows[i][1] == "pending"
                or (self.rows[i][1] == "active" and not self.rows[i][2])
            )
        ][: data.limit]
        for i in page:
            self.rows[i][1] = "active"
        running = sum(1 for r in self.rows.values() if r[1] == "active")
        self.max_running = max(self.max_running, running)
        self.claimed += len(page)
        if self.late and self.claimed >= self.late and not self.late_added:
            self.late_added = True
            self.enroll(25)  # random ids: some sort before the cursor
        return ClaimOutput(
            [self.rows[i][0] for i in page],
            page[-1] if page else data.after,
            len(page) >= data.limit,
        )

    @activity.defn(name=LOAD_LEAD_SEQUENCE)
    async def load(self, data: LoadSequenceInput) -> LoadSequenceOutput:
        self.loads[data.lead_id] += 1
        if self.gate is not None:
            await self.gate.wait()
        row = self.by_lead(data.lead_id)
        row[2] = True
        return LoadSequenceOutput(True, row[1])  # no steps: the lead ends at once

    @activity.defn(name=RECORD_LEAD_ENDING)
    async def ending(self, data: LeadEndingInput) -> LeadEndingOutput:
        row = self.by_lead(data.lead_id)
        if row[1] in ("pending", "active"):
            row[1] = data.status
            return LeadEndingOutput(data.status, True)
        return LeadEndingOutput(row[1], False)

    @activity.defn(name=SET_CAMPAIGN_STATUS)
    async def set_status(self, data: SetStatusInput) -> CampaignStatusOutput:
        self.statuses.append(data.status)
        return CampaignStatusOutput(data.status, "2026-11-30T09:00:00+00:00")

    @activity.defn(name=PAUSE_CAMPAIGN)
    async def pause(self, data: PauseInput) -> PauseOutput:
        if data.reason not in self.reasons:
            self.reasons.append(data.reason)
        return PauseOutput("paused", list(self.reasons), True)

    @activity.defn(name=RESUME_CAMPAIGN)
    async def resume(self, data: ResumeInput) -> ResumeOutput:
        self.reasons = [r for r in self.reasons if r != data.reason]
        return ResumeOutput("paused" if self.reasons else "sending", list(self.reasons))

    @activity.defn(name=NOTIFY_LEADS_RESUMED)
    async def notify(self, data: FanOutInput) -> FanOutOutput:
        self.notified += 1
        return FanOutOutput(0)

    @activity.defn(name=CANCEL_LEAD_SEQUENCES)
    async def cancel(self, data: FanOutInput) -> FanOutOutput:
        n = 0
        for row in self.rows.values():
            if row[1] in ("pending", "active"):
                row[1], n = "stopped", n + 1
        return FanOutOutput(0, n)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.window_,
            self.claim,
            self.load,
            self.ending,
            self.set_status,
            self.pause,
            self.resume,
            self.notify,
            self.cancel,
        ]


@asynccontextmanager
async def campaign(
    env: WorkflowEnvironment, table: Table, **options: Any
) -> AsyncIterator[WorkflowHandle[Any, CampaignView]]:
    queue = f"campaigns-{uuid.uuid4().hex[:6]}"
    campaign_id = str(uuid.uuid4())
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[CampaignWorkflow, LeadSequenceWorkflow],
        activities=table.all(),
        max_concurrent_workflow_tasks=20,
    ):
        yield await env.client.start_workflow(
            CampaignWorkflow.run,
            CampaignInput(TENANT, campaign_id, sending_queue=queue, **options),
            id=campaign_workflow_id(TENANT, campaign_id),
            task_queue=queue,
            search_attributes=tenant_attributes(TENANT, campaign_id=campaign_id),
        )


async def test_500_leads_through_a_window_of_20_start_once_each_across_runs(
    temporal_dev_server: WorkflowEnvironment,
) -> None:
    table = Table(window=20, late=250)
    table.enroll(500)
    async with campaign(
        temporal_dev_server, table, window=20, children_per_run=100, page_size=20
    ) as handle:
        await handle.execute_update(CampaignWorkflow.start, StartRequest(TENANT))
        view = await handle.result()
        progress = await handle.query(CampaignWorkflow.get_progress)
    assert view.status == "completed"
    assert len(table.rows) == 525  # 25 enrolled while it ran, some behind the cursor
    assert set(table.loads) == {r[0] for r in table.rows.values()}
    assert set(table.loads.values()) == {1}  # every sequence started exactly once
    assert {r[1] for r in table.rows.values()} == {"completed"}
    assert table.max_running <= 20
    assert progress.started_total == 525
    assert progress.runs >= 6  # continue-as-new every 100 children
    assert table.statuses == ["sending", "completed"]


async def test_pause_reasons_are_lifted_per_actor_and_validators_refuse(
    temporal_dev_server: WorkflowEnvironment,
) -> None:
    table = Table(window=5)
    table.enroll(3)
    async with campaign(temporal_dev_server, table, refill_seconds=3600) as handle:
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(CampaignWorkflow.resume, ResumeRequest(TENANT))
        with pytest.raises(WorkflowUpdateFailedError):  # another tenant's request
            await handle.execute_update(CampaignWorkflow.start, StartRequest(str(uuid.uuid4())))
        await handle.execute_update(CampaignWorkflow.start, StartRequest(TENANT))
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(CampaignWorkflow.pause, PauseRequest(TENANT, "whim"))
        await handle.execute_update(CampaignWorkflow.pause, PauseRequest(TENANT, "user"))
        out = await handle.execute_update(CampaignWorkflow.pause, PauseRequest(TENANT, "billing"))
        assert (out.status, sorted(out.reasons)) == ("paused", ["billing", "user"])
        view = await handle.execute_update(CampaignWorkflow.resume, ResumeRequest(TENANT, "user"))
        assert (view.status, view.pause_reasons) == ("paused", ["billing"])
        view = await handle.execute_update(
            CampaignWorkflow.resume, ResumeRequest(TENANT, "billing")
        )
        assert (view.status, view.pause_reasons) == ("sending", [])
        view = await handle.result()
    assert view.status == "completed"
    assert table.notified == 1  # the resume's fan-out ran once


async def test_a_scheduled_campaign_waits_and_cancel_ends_it(
    temporal_dev_server: WorkflowEnvironment,
) -> None:
    table = Table(window=5)
    table.enroll(3)
    async with campaign(temporal_dev_server, table) as handle:
        later = (await temporal_dev_server.get_current_time()) + timedelta(days=3)
        view = await handle.execute_update(
            CampaignWorkflow.start, StartRequest(TENANT, later.isoformat())
        )
        assert view.status == "scheduled"
        status = await handle.query(CampaignWorkflow.get_status)
        assert status.scheduled_at == later.isoformat()
        view = await handle.execute_update(CampaignWorkflow.cancel, CancelRequest(TENANT))
        assert view.status == "cancelled"
        assert (await handle.result()).status == "cancelled"
    assert table.statuses == ["scheduled", "cancelled"]
    assert not table.loads  # nothing started before its time
    assert {r[1] for r in table.rows.values()} == {"stopped"}


async def test_a_page_claimed_again_while_its_sequences_run_starts_none_twice(
    temporal_dev_server: WorkflowEnvironment,
) -> None:
    table = Table(window=10, echo=True, gate=asyncio.Event())
    table.enroll(4)
    async with campaign(temporal_dev_server, table, page_size=2) as handle:
        await handle.execute_update(CampaignWorkflow.start, StartRequest(TENANT))
        for _ in range(400):  # the third claim comes after the echoed page's starts
            if len(table.claims) >= 3:
                break
            await asyncio.sleep(0.05)
        assert len(table.claims) >= 3 and table.claims[1] == table.claims[0]
        table.gate.set()  # type: ignore[union-attr]
        view = await handle.result()
    assert view.status == "completed"
    assert len(table.loads) == 4 and set(table.loads.values()) == {1}
