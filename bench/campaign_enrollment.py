"""Campaign enrollment throughput: lead sequences started and ended per second through the
CampaignWorkflow's window, against bare Temporal child workflows on the same server.

The project's path: a `CampaignWorkflow` with `--leads` pending enrollments, a window of
`--window`, pages of 100, continue-as-new every `--per-run` children; its activities keep
the enrollment table in memory (this measures the orchestration, not Postgres), and each
`LeadSequenceWorkflow` has no steps (load, ending, the `lead_finished` signal). Timed from
the `start` update to the campaign's result. The baseline: a bare parent workflow starting
the same number of children in pages of 100, each child running two no-op activities, all
awaited (outside the sandbox: a script's own workflows cannot be imported into it, which
favours the baseline). Medians of `--runs`; each run's figures on stderr.

    python bench/campaign_enrollment.py [--leads 300] [--window 100] [--per-run 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio import activity, workflow  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from activities.interfaces.campaigns import (  # noqa: E402
    CLAIM_ENROLLMENTS,
    ENROLLMENT_WINDOW,
    LOAD_LEAD_SEQUENCE,
    RECORD_LEAD_ENDING,
    SET_CAMPAIGN_STATUS,
    CampaignRef,
    CampaignStatusOutput,
    ClaimInput,
    ClaimOutput,
    LeadEndingInput,
    LeadEndingOutput,
    LoadSequenceInput,
    LoadSequenceOutput,
    SetStatusInput,
    WindowOutput,
)
from devstack.ports import free_port  # noqa: E402
from devstack.temporal import start_temporal  # noqa: E402
from workflows.campaign import CampaignInput, CampaignWorkflow, StartRequest  # noqa: E402
from workflows.lead_sequence import LeadSequenceWorkflow  # noqa: E402
from workflows.names import campaign_workflow_id, tenant_attributes  # noqa: E402


class MemoryTable:
    def __init__(self, leads: int, window: int) -> None:
        self.window = window
        self.rows = {str(uuid.uuid4()): [str(uuid.uuid4()), "pending", False] for _ in range(leads)}
        self.by_lead = {r[0]: r for r in self.rows.values()}

    @activity.defn(name=ENROLLMENT_WINDOW)
    async def window_(self, data: CampaignRef) -> WindowOutput:
        c = Counter(r[1] for r in self.rows.values())
        return WindowOutput(self.window, c["pending"], c["active"])

    @activity.defn(name=CLAIM_ENROLLMENTS)
    async def claim(self, data: ClaimInput) -> ClaimOutput:
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
        return ClaimOutput(
            [self.rows[i][0] for i in page],
            page[-1] if page else data.after,
            len(page) >= data.limit,
        )

    @activity.defn(name=LOAD_LEAD_SEQUENCE)
    async def load(self, data: LoadSequenceInput) -> LoadSequenceOutput:
        self.by_lead[data.lead_id][2] = True
        return LoadSequenceOutput(True, "active")

    @activity.defn(name=RECORD_LEAD_ENDING)
    async def ending(self, data: LeadEndingInput) -> LeadEndingOutput:
        self.by_lead[data.lead_id][1] = data.status
        return LeadEndingOutput(data.status, True)

    @activity.defn(name=SET_CAMPAIGN_STATUS)
    async def status(self, data: SetStatusInput) -> CampaignStatusOutput:
        return CampaignStatusOutput(data.status)


@activity.defn(name="bare_touch")
async def bare_touch(n: int) -> int:
    return n


@workflow.defn(name="BareChild", sandboxed=False)
class BareChild:
    @workflow.run
    async def run(self, n: int) -> int:
        for _ in range(2):
            n = await workflow.execute_activity(
                bare_touch, n, start_to_close_timeout=timedelta(seconds=30)
            )
        return n


@workflow.defn(name="BareParent", sandboxed=False)
class BareParent:
    @workflow.run
    async def run(self, leads: int) -> int:
        handles = []
        prefix = workflow.info().workflow_id
        for start in range(0, leads, 100):
            handles += await asyncio.gather(
                *(
                    workflow.start_child_workflow(BareChild.run, i, id=f"{prefix}:{i}")
                    for i in range(start, min(start + 100, leads))
                )
            )
        return sum(await asyncio.gather(*handles))


async def project(client: Client, args: argparse.Namespace) -> float:
    table = MemoryTable(args.leads, args.window)
    queue = f"bench-campaigns-{uuid.uuid4().hex[:6]}"
    tenant, campaign = str(uuid.uuid4()), str(uuid.uuid4())
    async with Worker(
        client,
        task_queue=queue,
        workflows=[CampaignWorkflow, LeadSequenceWorkflow],
        activities=[table.window_, table.claim, table.load, table.ending, table.status],
    ):
        handle = await client.start_workflow(
            CampaignWorkflow.run,
            CampaignInput(
                tenant,
                campaign,
                children_per_run=args.per_run,
                window=args.window,
                sending_queue=queue,
            ),
            id=campaign_workflow_id(tenant, campaign),
            task_queue=queue,
            search_attributes=tenant_attributes(tenant, campaign_id=campaign),
        )
        began = time.perf_counter()
        await handle.execute_update(CampaignWorkflow.start, StartRequest(tenant))
        view = await handle.result()
        elapsed = time.perf_counter() - began
    ended = sum(1 for r in table.rows.values() if r[1] == "completed")
    assert view.status == "completed" and ended == args.leads, (view, ended)
    return args.leads / elapsed


async def baseline(client: Client, args: argparse.Namespace) -> float:
    queue = f"bench-bare-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client, task_queue=queue, workflows=[BareParent, BareChild], activities=[bare_touch]
    ):
        began = time.perf_counter()
        await client.execute_workflow(
            BareParent.run, args.leads, id=f"bare:{uuid.uuid4()}", task_queue=queue
        )
        return args.leads / (time.perf_counter() - began)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--per-run", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    # The dev stack's launcher: its output goes to a log file, stdout stays for the figures.
    with tempfile.TemporaryDirectory() as tmp:
        server = await asyncio.to_thread(
            start_temporal, free_port(), db_filename=None, log_path=Path(tmp) / "temporal.log"
        )
        try:
            client = await Client.connect(server.address)
            values, bases = [], []
            for run in range(args.runs):
                values.append(await project(client, args))
                bases.append(await baseline(client, args))
                figures = f"campaign {values[-1]:.1f}/s, bare {bases[-1]:.1f}/s"
                print(f"run {run}: {figures}", file=sys.stderr)
        finally:
            server.stop()
    value, base = statistics.median(values), statistics.median(bases)
    print(
        json.dumps(
            {
                "bench": "campaign_enrollment",
                "metric": "sequences_per_s",
                "value": round(value, 1),
                "baseline": round(base, 1),
                "ratio": round(value / base, 2),
                "unit": "sequences/s",
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
