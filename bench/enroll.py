"""Campaign enrollment: lead sequences started per second through a CampaignWorkflow whose
sending window is closed, against a bare parent starting ABANDON children on the same
Temporal dev server (a fresh one each run).

The project's path: a `CampaignWorkflow` with `--leads` pending enrollments and a window
that holds them all (`--window`, default `--leads`), pages of 100, continue-as-new every
`--per-run` children. Its activities keep the enrollment table in memory (this measures the
orchestration, not Postgres). Each `LeadSequenceWorkflow` has one e-mail step: it loads its
enrollment, asks `next_send_slot` (which answers tomorrow: the sending window is closed)
and waits at that timer. Timed from the `start` update until every lead's slot was asked
(its timer follows in the next workflow task, as in the baseline).

The baseline: a bare parent starting as many children (ABANDON, pages of 100 started at
once, the same window, continue-as-new every `--per-run` children), each running the same
two activities as no-ops and then a timer of a day; timed from the parent's start until
every child stands at its timer. Workflows of this script run outside the sandbox (the
project's run inside it), which favours the baseline. Medians of `--runs`; each run's
figures on stderr.

`--lifecycle` measures instead what this script measured first: sequences with no steps
started and ended per second (load, ending, the `lead_finished` signal refilling the
window), the campaign awaited to its end, against bare children awaited by their parent.

    python bench/enroll.py [--leads 10000] [--window N] [--per-run 1000] [--runs 3]
    python bench/enroll.py --lifecycle [--leads 300] [--window 100] [--per-run 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio import activity, workflow  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402
from temporalio.workflow import ParentClosePolicy  # noqa: E402

from activities.interfaces.campaigns import (  # noqa: E402
    CLAIM_ENROLLMENTS,
    ENROLLMENT_WINDOW,
    LOAD_LEAD_SEQUENCE,
    NEXT_SEND_SLOT,
    RECORD_LEAD_ENDING,
    SET_CAMPAIGN_STATUS,
    STEP_EMAIL,
    CampaignRef,
    CampaignStatusOutput,
    ClaimInput,
    ClaimOutput,
    LeadEndingInput,
    LeadEndingOutput,
    LoadSequenceInput,
    LoadSequenceOutput,
    NextSlotInput,
    NextSlotOutput,
    SequenceStep,
    SetStatusInput,
    WindowOutput,
)
from devstack.ports import free_port  # noqa: E402
from devstack.temporal import TemporalDevServer, start_temporal  # noqa: E402
from workflows.campaign import CampaignInput, CampaignWorkflow, StartRequest  # noqa: E402
from workflows.lead_sequence import LeadSequenceWorkflow  # noqa: E402
from workflows.names import campaign_workflow_id, tenant_attributes  # noqa: E402

CLOSED_FOR = timedelta(days=1)  # next_send_slot's answer: the window opens tomorrow
UNTIL_TIMEOUT_S = 600  # plus LEAD_TIMEOUT_S a lead (10,000 leads take long on a loaded host)
LEAD_TIMEOUT_S = 0.25


class MemoryTable:
    """The campaign activities over an in-memory enrollment table; `steps` is what each
    lead's sequence walks (none, or one e-mail step whose slot is tomorrow)."""

    def __init__(self, leads: int, window: int, steps: list[SequenceStep]) -> None:
        self.window = window
        self.steps = steps
        # enrollment id -> [lead id, status, sequence started]
        self.rows: dict[str, list[Any]] = {
            str(uuid.uuid4()): [str(uuid.uuid4()), "pending", False] for _ in range(leads)
        }
        self.order = sorted(self.rows)
        self.by_lead = {r[0]: r for r in self.rows.values()}
        self.slots_asked = 0

    @activity.defn(name=ENROLLMENT_WINDOW)
    async def window_(self, data: CampaignRef) -> WindowOutput:
        c = Counter(r[1] for r in self.rows.values())
        return WindowOutput(self.window, c["pending"], c["active"])

    @activity.defn(name=CLAIM_ENROLLMENTS)
    async def claim(self, data: ClaimInput) -> ClaimOutput:
        page: list[str] = []
        for i in self.order:
            if len(page) >= data.limit:
                break
            row = self.rows[i]
            if (data.after is None or i > data.after) and (
                row[1] == "pending" or (row[1] == "active" and not row[2])
            ):
                page.append(i)
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
        return LoadSequenceOutput(True, "active", steps=self.steps)

    @activity.defn(name=NEXT_SEND_SLOT)
    async def slot(self, data: NextSlotInput) -> NextSlotOutput:
        self.slots_asked += 1
        at = (datetime.now(UTC) + CLOSED_FOR).isoformat()
        return NextSlotOutput(at, "UTC", False, at, "window closed")

    @activity.defn(name=RECORD_LEAD_ENDING)
    async def ending(self, data: LeadEndingInput) -> LeadEndingOutput:
        self.by_lead[data.lead_id][1] = data.status
        return LeadEndingOutput(data.status, True)

    @activity.defn(name=SET_CAMPAIGN_STATUS)
    async def status(self, data: SetStatusInput) -> CampaignStatusOutput:
        return CampaignStatusOutput(data.status)

    def activities(self) -> list[Callable[..., Any]]:
        return [self.window_, self.claim, self.load, self.slot, self.ending, self.status]


# -- the baseline: bare workflows, the same activities as no-ops ------------------------------


class BareCounter:
    def __init__(self) -> None:
        self.slots_asked = 0

    @activity.defn(name="bare_load")
    async def load(self, n: int) -> int:
        return n

    @activity.defn(name="bare_slot")
    async def slot(self, n: int) -> int:
        self.slots_asked += 1
        return n


@workflow.defn(name="BareLead", sandboxed=False)
class BareLead:
    """Two no-op activities, then a day's timer (`wait`), or an end."""

    @workflow.run
    async def run(self, n: int, wait: bool) -> int:
        timeout = timedelta(seconds=30)
        n = await workflow.execute_activity("bare_load", n, start_to_close_timeout=timeout)
        n = await workflow.execute_activity("bare_slot", n, start_to_close_timeout=timeout)
        if wait:
            await workflow.sleep(CLOSED_FOR)
        return n


@workflow.defn(name="BareParent", sandboxed=False)
class BareParent:
    """Starts leads `first`..`leads` as children in pages of 100 and awaits them, or, when
    they wait (ABANDON), continues as new every `per_run` children as the campaign does:
    one history holding 10,000 children passes Temporal's 2,000 pending-children limit and
    its replay trips the deadlock detector."""

    @workflow.run
    async def run(self, leads: int, wait: bool, per_run: int = 1000, first: int = 0) -> int:
        handles = []
        prefix = workflow.info().workflow_id
        policy = ParentClosePolicy.ABANDON if wait else ParentClosePolicy.TERMINATE
        last = min(leads, first + per_run) if wait else leads
        for start in range(first, last, 100):
            handles += await asyncio.gather(
                *(
                    workflow.start_child_workflow(
                        BareLead.run, args=[i, wait], id=f"{prefix}:{i}", parent_close_policy=policy
                    )
                    for i in range(start, min(start + 100, last))
                )
            )
        if wait and last < leads:
            workflow.continue_as_new(args=[leads, wait, per_run, last])
        return leads if wait else sum(await asyncio.gather(*handles))


async def until(predicate: Callable[[], bool], leads: int) -> None:
    deadline = time.monotonic() + UNTIL_TIMEOUT_S + LEAD_TIMEOUT_S * leads
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("the leads did not all reach their timer in time")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def campaign_worker(
    client: Client, table: MemoryTable, max_cached: int = 10_000
) -> AsyncIterator[str]:
    queue = f"bench-campaigns-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[CampaignWorkflow, LeadSequenceWorkflow],
        activities=table.activities(),
        max_cached_workflows=max_cached,
    ):
        yield queue


async def start_campaign(client: Client, queue: str, args: argparse.Namespace) -> object:
    tenant, campaign = str(uuid.uuid4()), str(uuid.uuid4())
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
    await handle.execute_update(CampaignWorkflow.start, StartRequest(tenant))
    return handle


async def enroll_project(client: Client, args: argparse.Namespace) -> float:
    table = MemoryTable(args.leads, args.window, [SequenceStep(str(uuid.uuid4()), 1, STEP_EMAIL)])
    async with campaign_worker(client, table) as queue:
        began = time.perf_counter()
        await start_campaign(client, queue, args)
        await until(lambda: table.slots_asked >= args.leads, args.leads)
        elapsed = time.perf_counter() - began
    return args.leads / elapsed


async def enroll_baseline(client: Client, args: argparse.Namespace) -> float:
    queue = f"bench-bare-{uuid.uuid4().hex[:6]}"
    bare = BareCounter()
    async with Worker(
        client,
        task_queue=queue,
        workflows=[BareParent, BareLead],
        activities=[bare.load, bare.slot],
    ):
        began = time.perf_counter()
        await client.start_workflow(
            BareParent.run,
            args=[args.leads, True, args.per_run],
            id=f"bare:{uuid.uuid4()}",
            task_queue=queue,
        )
        await until(lambda: bare.slots_asked >= args.leads, args.leads)
        return args.leads / (time.perf_counter() - began)


async def lifecycle_project(client: Client, args: argparse.Namespace) -> float:
    table = MemoryTable(args.leads, args.window, [])
    async with campaign_worker(client, table) as queue:
        began = time.perf_counter()
        handle = await start_campaign(client, queue, args)
        view = await handle.result()  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - began
    ended = sum(1 for r in table.rows.values() if r[1] == "completed")
    assert view.status == "completed" and ended == args.leads, (view, ended)
    return args.leads / elapsed


async def lifecycle_baseline(client: Client, args: argparse.Namespace) -> float:
    queue = f"bench-bare-{uuid.uuid4().hex[:6]}"
    bare = BareCounter()
    async with Worker(
        client,
        task_queue=queue,
        workflows=[BareParent, BareLead],
        activities=[bare.load, bare.slot],
    ):
        began = time.perf_counter()
        await client.execute_workflow(
            BareParent.run, args=[args.leads, False], id=f"bare:{uuid.uuid4()}", task_queue=queue
        )
        return args.leads / (time.perf_counter() - began)


@asynccontextmanager
async def dev_server() -> AsyncIterator[TemporalDevServer]:
    """The dev stack's Temporal (in memory); its output goes to a log file, stdout stays
    for the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        server = await asyncio.to_thread(
            start_temporal, free_port(), db_filename=None, log_path=Path(tmp) / "temporal.log"
        )
        try:
            yield server
        finally:
            server.stop()


def figure(bench: str, metric: str, value: float, base: float, unit: str) -> str:
    return json.dumps(
        {
            "bench": bench,
            "metric": metric,
            "value": round(value, 2),
            "baseline": round(base, 2),
            "ratio": round(value / base, 3) if base else None,
            "unit": unit,
        }
    )


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--leads", type=int, default=None, help="10000, the issue's size (300 with --lifecycle)"
    )
    parser.add_argument("--window", type=int, default=None, help="--leads (100 with --lifecycle)")
    parser.add_argument("--per-run", type=int, default=None, help="1000 (100 with --lifecycle)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lifecycle", action="store_true")
    args = parser.parse_args()
    life = args.lifecycle
    args.leads = args.leads or (300 if life else 10_000)
    args.window = args.window or (100 if life else args.leads)
    args.per_run = args.per_run or (100 if life else 1000)
    project, baseline = (
        (lifecycle_project, lifecycle_baseline) if life else (enroll_project, enroll_baseline)
    )
    print(f"load average before: {load_average()}", file=sys.stderr)
    values, bases = [], []
    for run in range(args.runs):
        # A fresh server each run: the waiting workflows of one run would slow the next.
        async with dev_server() as server:
            client = await Client.connect(server.address)
            values.append(await project(client, args))
            bases.append(await baseline(client, args))
            print(
                f"run {run}: campaign {values[-1]:.1f}/s, bare {bases[-1]:.1f}/s "
                f"(load {load_average()})",
                file=sys.stderr,
            )
    value, base = statistics.median(values), statistics.median(bases)
    if life:
        print(figure("campaign_enrollment", "sequences_per_s", value, base, "sequences/s"))
    else:
        print(figure("enroll", "enroll_per_s", value, base, "leads/s"))


if __name__ == "__main__":
    asyncio.run(main())
