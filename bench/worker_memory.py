"""Worker memory: the resident set of a worker process holding `--leads` lead sequences
cached, each waiting on its timer, against the same number of bare workflows.

Each side runs in a fresh process of its own (this script, `--side`), against one Temporal
dev server started here: the process starts a worker on the campaigns' workflows (in the
sandbox, as in production), starts a campaign whose sending window is closed (the
activities of bench/enroll.py: an in-memory enrollment table, `next_send_slot` answering
tomorrow) and, once every lead stands at its timer, reads its own VmRSS. The baseline
process does the same with bench/enroll.py's bare workflows (outside the sandbox, two no-op
activities, a day's timer). Each process also reports its RSS with the worker started and
nothing run yet (stderr). The process includes its client and the in-memory table (a few
hundred bytes a lead), so the figure is an upper bound on the worker's own. Medians of
`--runs`.

    python bench/worker_memory.py [--leads 1000] [--runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from activities.interfaces.campaigns import STEP_EMAIL, SequenceStep  # noqa: E402
from bench.enroll import (  # noqa: E402
    BareCounter,
    BareLead,
    BareParent,
    MemoryTable,
    campaign_worker,
    dev_server,
    figure,
    load_average,
    start_campaign,
    until,
)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS in /proc/self/status")


async def side(address: str, which: str, leads: int) -> None:
    """One process's measure: prints {"idle": MB, "cached": MB} on stdout."""
    client = await Client.connect(address)
    args = argparse.Namespace(leads=leads, window=leads, per_run=1000)
    if which == "project":
        table = MemoryTable(leads, leads, [SequenceStep(str(uuid.uuid4()), 1, STEP_EMAIL)])
        async with campaign_worker(client, table) as queue:
            await asyncio.sleep(1)
            idle = rss_mb()
            await start_campaign(client, queue, args)
            await until(lambda: table.slots_asked >= leads)
            await asyncio.sleep(2)  # the timers' workflow tasks
            gc.collect()
            cached = rss_mb()
    else:
        queue = f"bench-bare-{uuid.uuid4().hex[:6]}"
        bare = BareCounter()
        async with Worker(
            client,
            task_queue=queue,
            workflows=[BareParent, BareLead],
            activities=[bare.load, bare.slot],
            max_cached_workflows=10_000,
        ):
            await asyncio.sleep(1)
            idle = rss_mb()
            await client.start_workflow(
                BareParent.run, args=[leads, True], id=f"bare:{uuid.uuid4()}", task_queue=queue
            )
            await until(lambda: bare.slots_asked >= leads)
            await asyncio.sleep(2)
            gc.collect()
            cached = rss_mb()
    print(json.dumps({"idle": idle, "cached": cached}))


def measure(address: str, which: str, leads: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--side", which, "--address", address, "--leads", str(leads)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--side", choices=["project", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        await side(args.address, args.side, args.leads)
        return
    print(f"load average before: {load_average()}", file=sys.stderr)
    ours, base = [], []
    async with dev_server() as server:
        for run in range(args.runs):
            p = await asyncio.to_thread(measure, server.address, "project", args.leads)
            b = await asyncio.to_thread(measure, server.address, "bare", args.leads)
            ours.append(p["cached"])
            base.append(b["cached"])
            print(
                f"run {run}: worker {p['idle']:.0f} MB idle, {p['cached']:.0f} MB with "
                f"{args.leads} lead sequences; bare {b['idle']:.0f} MB idle, "
                f"{b['cached']:.0f} MB with {args.leads} workflows (load {load_average()})",
                file=sys.stderr,
            )
    print(
        figure(
            "worker_memory", "worker_rss_mb", statistics.median(ours), statistics.median(base), "MB"
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
