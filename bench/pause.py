"""Pausing a sending campaign: how long the `pause` update takes to return with sends in
flight, and that no send starts after it returned.

A stub SMTP server (aiosmtpd's protocol on this process's loop) holds every DATA until
`--in-flight` sends are waiting in it at once; then the campaign workflow's `pause` update
is called and the stub answers each held DATA 1 s later (any later one 1 s after it
arrives). `pause_s` is the time the update took to return; its baseline is the floor, the
time from the call to the stub's last answer to a held DATA (the sends the pause must wait
for). `sends_after_pause` counts the SMTP MAIL commands the stub saw after the update
returned, over `--settle` seconds (0 expected).

The production workers of the `campaigns` and `sending` queues (as worker.py builds them),
with a sending concurrency and a database pool that allow the sends in flight
(`--in-flight` + 10 each); `--mailboxes` mailboxes (one send at a time each, so at least
`--in-flight`), caps and gaps not binding, the sending window open all day, a one-step
campaign to `--leads` leads. Services as bench/send.py. Medians of `--runs`, each with a
fresh campaign; each run's figures on stderr.

    python bench/pause.py [--in-flight 50] [--leads 100] [--runs 1] [--settle 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from aiosmtpd.smtp import SMTP  # noqa: E402
from temporalio.client import Client  # noqa: E402

from bench.deliver_step import World  # noqa: E402
from bench.enroll import dev_server, figure, load_average  # noqa: E402
from bench.send import ALWAYS_OPEN, with_services  # noqa: E402
from devstack.ports import free_port  # noqa: E402
from penguinmails.db import Database  # noqa: E402
from penguinmails.secrets import SecretStore  # noqa: E402
from penguinmails.settings import Settings, asyncpg_dsn  # noqa: E402
from worker import build_workers  # noqa: E402
from workflows.campaign import (  # noqa: E402
    CampaignInput,
    CampaignWorkflow,
    CancelRequest,
    PauseRequest,
    StartRequest,
)
from workflows.names import TaskQueue, campaign_workflow_id, tenant_attributes  # noqa: E402

HOLD_AFTER_PAUSE_S = 1.0
FILL_TIMEOUT_S = 180


class HoldingStub:
    """Holds each DATA until released; records when each MAIL came."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.reset()

    def reset(self) -> None:
        self.waiting = 0
        self.full = asyncio.Event()
        self.released = asyncio.Event()
        self.answer_at = 0.0
        self.last_answer = 0.0
        self.mail_times: list[float] = []

    def release(self) -> None:
        self.answer_at = time.perf_counter() + HOLD_AFTER_PAUSE_S
        self.released.set()

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.mail_times.append(time.perf_counter())
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.released.is_set():  # came after the pause was called
            await asyncio.sleep(HOLD_AFTER_PAUSE_S)
            return "250 2.0.0 Queued"
        self.waiting += 1
        if self.waiting >= self.target:
            self.full.set()
        await self.released.wait()
        await asyncio.sleep(max(0.0, self.answer_at - time.perf_counter()))
        self.last_answer = max(self.last_answer, time.perf_counter())
        self.waiting -= 1
        return "250 2.0.0 Queued"


async def one_run(
    client: Client, conn: asyncpg.Connection, world: World, stub: HoldingStub, args: Any
) -> tuple[float, float, int]:
    """(pause seconds, drain floor seconds, MAILs after the pause returned)."""
    await conn.execute(
        "UPDATE campaigns SET status = 'draft', configuration = $2::jsonb WHERE id = $1",
        world.campaign_id,
        json.dumps(ALWAYS_OPEN),
    )
    lead_ids = await world.leads(conn, args.leads)
    await conn.execute(
        "INSERT INTO campaign_leads (tenant_id, campaign_id, lead_id, variant_draw) "
        "SELECT $1, $2, l, random() * 0.999 FROM unnest($3::uuid[]) l",
        world.tenant_id,
        world.campaign_id,
        lead_ids,
    )
    tenant, campaign = str(world.tenant_id), str(world.campaign_id)
    handle = await client.start_workflow(
        CampaignWorkflow.run,
        CampaignInput(tenant, campaign),
        id=campaign_workflow_id(tenant, campaign),
        task_queue=TaskQueue.CAMPAIGNS.value,
        search_attributes=tenant_attributes(tenant, campaign_id=campaign),
    )
    await handle.execute_update(CampaignWorkflow.start, StartRequest(tenant))
    try:
        await asyncio.wait_for(stub.full.wait(), FILL_TIMEOUT_S)
    except TimeoutError:
        raise SystemExit(
            f"only {stub.waiting} sends ever waited at once, not {stub.target}"
        ) from None
    began = time.perf_counter()
    stub.release()
    out = await handle.execute_update(CampaignWorkflow.pause, PauseRequest(tenant))
    returned = time.perf_counter()
    await asyncio.sleep(args.settle)
    after = sum(1 for t in stub.mail_times if t > returned)
    print(
        f"  pause -> {out.status}, drained {out.drained}, {len(out.in_flight)} in flight; "
        f"{len(stub.mail_times)} MAILs in all",
        file=sys.stderr,
    )
    await handle.execute_update(CampaignWorkflow.cancel, CancelRequest(tenant))
    return returned - began, stub.last_answer - began, after


async def measure(args: argparse.Namespace, settings: Settings, store: SecretStore) -> None:
    stub = HoldingStub(args.in_flight)
    smtp_port = free_port()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(stub), "127.0.0.1", smtp_port)
    db = Database(settings)
    assert settings.database_url
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    pauses, floors, after_total = [], [], 0
    try:
        async with AsyncExitStack() as stack:
            temporal = await stack.enter_async_context(dev_server())
            client = await Client.connect(temporal.address)
            queues = [TaskQueue.CAMPAIGNS.value, TaskQueue.SENDING.value]
            for worker in build_workers(client, db, settings, queues, store):
                await stack.enter_async_context(worker)
            for run in range(args.runs):
                stub.reset()
                world = World(db, store, settings)
                await world.build(conn, smtp_port, args.mailboxes)
                pause_s, floor_s, after = await one_run(client, conn, world, stub, args)
                pauses.append(pause_s)
                floors.append(floor_s)
                after_total += after
                print(
                    f"run {run}: pause {pause_s:.2f} s (floor {floor_s:.2f} s), {after} MAILs "
                    f"after it returned (load {load_average()})",
                    file=sys.stderr,
                )
    finally:
        await conn.close()
        await db.dispose()
        server.close()
    print(figure("pause", "pause_s", statistics.median(pauses), statistics.median(floors), "s"))
    print(json.dumps({"bench": "pause", "metric": "sends_after_pause", "value": after_total,
                      "baseline": 0, "ratio": None, "unit": "sends"}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--leads", type=int, default=100)
    parser.add_argument("--mailboxes", type=int, default=None, help="--in-flight")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--settle", type=float, default=5.0)
    args = parser.parse_args()
    args.mailboxes = args.mailboxes or args.in_flight
    room = args.in_flight + 10
    with_services(args, measure, database_pool_size=room, sending_max_concurrent_activities=room)


if __name__ == "__main__":
    main()
