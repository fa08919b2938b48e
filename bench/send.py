"""Campaign sending: a one-step campaign to `--leads` leads through the whole engine into a
local SMTP sink, against the same workflows with every activity a no-op.

The project's path: the production workers of the `campaigns` and `sending` queues (as
worker.py builds them: the campaign activities on Postgres, `deliver_step` with its
concurrency limit, the DKIM key and passwords from OpenBao, events to Redis), a
`CampaignWorkflow` started by its `start` update, each lead's `LeadSequenceWorkflow` asking
its slot and calling `deliver_step`, timed to the campaign's result (completed: every lead
ended). Nothing binds: `--mailboxes` mailboxes with caps of 100,000 and no gap, the sending
window open all day (00:00-23:59 every day; a run at 23:59 UTC waits for midnight), the
enrollment window today's capacity. The sink (aiosmtpd) counts messages per recipient:
`duplicates` is the number of messages beyond one per lead, over every run (0 expected),
and a lead without its message stops the script.

The baseline: the same CampaignWorkflow and LeadSequenceWorkflow on the same dev server,
their activities no-ops over an in-memory table (bench/enroll.py's, the slot now,
`deliver_step` answering sent). Medians of `--runs`, each with a fresh campaign; each run's
figures on stderr.

Services: the Postgres and Redis of `DATABASE_URL`/`REDIS_URL` when set (a database of its
own, dropped at the end), else embedded ones; an OpenBao dev server; a Temporal dev server.

    python bench/send.py [--leads 500] [--mailboxes 4] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from temporalio import activity  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from activities.interfaces.campaigns import (  # noqa: E402
    NEXT_SEND_SLOT,
    RECORD_LEAD_PROGRESS,
    STEP_EMAIL,
    LeadProgressInput,
    LeadProgressOutput,
    NextSlotInput,
    NextSlotOutput,
    SequenceStep,
)
from activities.interfaces.delivery import DELIVER_STEP, DeliverInput, DeliverOutput  # noqa: E402
from bench.deliver_step import World, _admin, _with_db  # noqa: E402
from bench.enroll import MemoryTable, dev_server, figure, load_average  # noqa: E402
from devstack.openbao import start_dev_openbao  # noqa: E402
from devstack.ports import free_port  # noqa: E402
from penguinmails import migrate  # noqa: E402
from penguinmails.db import Database  # noqa: E402
from penguinmails.secrets import SecretStore  # noqa: E402
from penguinmails.settings import Settings, asyncpg_dsn  # noqa: E402
from worker import build_workers  # noqa: E402
from workflows.campaign import CampaignInput, CampaignWorkflow, StartRequest  # noqa: E402
from workflows.lead_sequence import LeadSequenceWorkflow  # noqa: E402
from workflows.names import TaskQueue, campaign_workflow_id, tenant_attributes  # noqa: E402

ALWAYS_OPEN = {"sending_window": {"start": "00:00", "end": "23:59", "days": [1, 2, 3, 4, 5, 6, 7]}}


class Sink:
    """Counts messages per recipient."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for rcpt in envelope.rcpt_tos:
            self.received[rcpt.lower()] += 1
        return "250 2.0.0 Queued"


class NoOpSends(MemoryTable):
    """bench/enroll.py's table, the slot now and the send a no-op answering sent."""

    @activity.defn(name=NEXT_SEND_SLOT)
    async def slot(self, data: NextSlotInput) -> NextSlotOutput:
        at = datetime.now(UTC).isoformat()
        return NextSlotOutput(at, "UTC", False, at, "open")

    @activity.defn(name=DELIVER_STEP)
    async def deliver(self, data: DeliverInput) -> DeliverOutput:
        return DeliverOutput("sent", mailbox_id=str(uuid.uuid4()), message_id=f"<{uuid.uuid4()}>")

    @activity.defn(name=RECORD_LEAD_PROGRESS)
    async def progress(self, data: LeadProgressInput) -> LeadProgressOutput:
        return LeadProgressOutput(True)

    def activities(self) -> list[Any]:
        return [*super().activities(), self.deliver, self.progress]


async def run_campaign(client: Client, tenant: str, campaign: str, queue: str, **kw: Any) -> float:
    """Seconds from the start update to the campaign's result (asserted completed)."""
    handle = await client.start_workflow(
        CampaignWorkflow.run,
        CampaignInput(tenant, campaign, **kw),
        id=campaign_workflow_id(tenant, campaign),
        task_queue=queue,
        search_attributes=tenant_attributes(tenant, campaign_id=campaign),
    )
    began = time.perf_counter()
    await handle.execute_update(CampaignWorkflow.start, StartRequest(tenant))
    view = await handle.result()
    elapsed = time.perf_counter() - began
    if view.status != "completed":
        raise SystemExit(f"the campaign ended {view.status}")
    return elapsed


async def project(
    client: Client,
    conn: asyncpg.Connection,
    world: World,
    sink: Sink,
    leads: int,
) -> tuple[float, int]:
    """(sends per second, messages beyond one per lead)."""
    await conn.execute(
        "UPDATE campaigns SET status = 'draft', configuration = $2::jsonb WHERE id = $1",
        world.campaign_id,
        json.dumps(ALWAYS_OPEN),
    )
    lead_ids = await world.leads(conn, leads)
    await conn.execute(
        "INSERT INTO campaign_leads (tenant_id, campaign_id, lead_id, variant_draw) "
        "SELECT $1, $2, l, random() * 0.999 FROM unnest($3::uuid[]) l",
        world.tenant_id,
        world.campaign_id,
        lead_ids,
    )
    emails = [
        r["email"].lower()
        for r in await conn.fetch("SELECT email FROM leads WHERE id = ANY($1::uuid[])", lead_ids)
    ]
    elapsed = await run_campaign(
        client, str(world.tenant_id), str(world.campaign_id), TaskQueue.CAMPAIGNS.value
    )
    missing = [e for e in emails if sink.received[e] == 0]
    if missing:
        raise SystemExit(f"{len(missing)} lead(s) got no message, e.g. {missing[0]}")
    return leads / elapsed, sum(sink.received[e] - 1 for e in emails)


async def baseline(client: Client, leads: int) -> float:
    table = NoOpSends(leads, leads, [SequenceStep(str(uuid.uuid4()), 1, STEP_EMAIL)])
    queue = f"bench-noop-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[CampaignWorkflow, LeadSequenceWorkflow],
        activities=table.activities(),
    ):
        elapsed = await run_campaign(
            client, str(uuid.uuid4()), str(uuid.uuid4()), queue, sending_queue=queue
        )
    return leads / elapsed


async def measure(args: argparse.Namespace, settings: Settings, store: SecretStore) -> None:
    sink = Sink()
    smtp_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port, ready_timeout=10)
    controller.start()
    db = Database(settings)
    assert settings.database_url
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        async with AsyncExitStack() as stack:
            server = await stack.enter_async_context(dev_server())
            client = await Client.connect(server.address)
            queues = [TaskQueue.CAMPAIGNS.value, TaskQueue.SENDING.value]
            for worker in build_workers(client, db, settings, queues, store):
                await stack.enter_async_context(worker)
            ours, base, duplicates = [], [], 0
            for run in range(args.runs):
                world = World(db, store, settings)
                await world.build(conn, smtp_port, args.mailboxes)
                rate, dup = await project(client, conn, world, sink, args.leads)
                ours.append(rate)
                duplicates += dup
                base.append(await baseline(client, args.leads))
                print(
                    f"run {run}: campaign {rate:.1f} sends/s ({dup} duplicates), no-op "
                    f"activities {base[-1]:.1f}/s (load {load_average()})",
                    file=sys.stderr,
                )
    finally:
        await conn.close()
        await db.dispose()
        controller.stop()
    print(figure("send", "send_per_s", statistics.median(ours), statistics.median(base), "sends/s"))
    print(json.dumps({"bench": "send", "metric": "duplicates", "value": duplicates,
                      "baseline": 0, "ratio": None, "unit": "messages"}))  # fmt: skip


Measure = Callable[[argparse.Namespace, Settings, SecretStore], Awaitable[None]]


async def run(
    args: argparse.Namespace, tmp: Path, stack: AsyncExitStack, measure: Measure, **extra: Any
) -> None:
    """`measure` with the services up and a migrated database of its own (`extra`: more
    settings)."""
    admin_url = os.environ.get("DATABASE_URL")
    if admin_url:
        admin_url = _with_db(admin_url, "postgres")
    else:
        from devstack.postgres import start_postgres

        pg = start_postgres(tmp / "pgdata", free_port())
        stack.callback(pg.stop)
        admin_url = pg.url("postgres")
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        from devstack.redis import start_redis

        redis_server = start_redis(tmp / "redis", free_port(), persist=False)
        stack.callback(redis_server.stop)
        redis_url = redis_server.url
    vault = start_dev_openbao(free_port(), log_path=tmp / "openbao.log")
    stack.callback(vault.stop)
    name = f"pm_bench_{uuid.uuid4().hex[:8]}"
    for db_name in (name, f"{name}_analytics"):
        await _admin(admin_url, f'CREATE DATABASE "{db_name}"')
    try:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp / "data",
            database_url=_with_db(admin_url, name),
            analytics_database_url=_with_db(admin_url, f"{name}_analytics"),
            redis_url=redis_url,
            events_stream=f"bench-events-{uuid.uuid4().hex[:8]}",
            vault_addr=vault.addr,  # for a worker started as its own process
            vault_token=vault.token,
            **extra,
        )
        await asyncio.to_thread(migrate.upgrade, settings)
        await measure(args, settings, SecretStore(vault.addr, vault.token, mount="secret"))
    finally:
        for db_name in (name, f"{name}_analytics"):
            await _admin(admin_url, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def with_services(args: argparse.Namespace, measure: Measure, **extra: Any) -> None:
    print(f"load average before: {load_average()}", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="pm-bench-"))
    tmp.chmod(0o755)  # the embedded Postgres runs as another user
    try:
        asyncio.run(_with_stack(args, tmp, measure, extra))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _with_stack(
    args: argparse.Namespace, tmp: Path, measure: Measure, extra: dict[str, Any]
) -> None:
    async with AsyncExitStack() as stack:
        await run(args, tmp, stack, measure, **extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--leads", type=int, default=500)
    parser.add_argument("--mailboxes", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    with_services(parser.parse_args(), measure)


if __name__ == "__main__":
    main()
