"""Fault test: a two-step campaign sent while its worker is killed (`kill -9`) every
`--kill-every` seconds and started again, until every lead is done; then every (lead, step)
is counted at the SMTP sink.

The path: the production worker (`python worker.py`, serving `campaigns` and `sending`) as a
process of its own, on a Temporal dev server; a campaign of an e-mail step, a wait of 0 h
and a follow-up to `--leads` leads over `--mailboxes` mailboxes, nothing binding (caps of
100,000, no gap, the window open all day), at most `--window` (100) sequences running at
once, as a campaign sized by its mailboxes' capacity runs them: a restarted worker replays
every running sequence before it makes progress, and 1,000 of them on two cores took longer
than the 20 s between kills (each workflow task past its 10 s timeout). The mailboxes send into the dev stack's SMTP sink
(which writes each message as a file) and are Dovecot users whose Sent folder gets a copy
of every message they send, as Gmail and Microsoft 365 keep one: a send whose worker was
killed in its SMTP exchange is resolved by its retry through that folder (DESIGN "Outbox").

Figures (JSON lines; counts, no baseline: the target is the count itself):
- `duplicates`: messages beyond one per (lead, step) at the sink (target 0);
- `missing`: (lead, step) pairs with no message at the sink whose outbox row is not
  `unknown` (target 0);
- `unknown`: outbox rows left `unknown` (target: at most `kills`);
- `kills`: how many times the worker was killed;
- `unthreaded`: follow-ups whose In-Reply-To or References miss the lead's first message
  (target 0).
The script exits 1 when a target is missed. Each kill and the progress go to stderr.

Services: the Postgres and Redis of `DATABASE_URL`/`REDIS_URL` when set (a database of its
own, dropped at the end), else embedded ones; an OpenBao dev server, Dovecot, a Temporal dev
server.

    python bench/chaos_send.py [--leads 1000] [--mailboxes 4] [--kill-every 20] [--window 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from temporalio.client import Client  # noqa: E402

from bench.deliver_step import World  # noqa: E402
from bench.enroll import dev_server, load_average  # noqa: E402
from bench.send import ALWAYS_OPEN, with_services  # noqa: E402
from devstack.dovecot import Dovecot  # noqa: E402
from devstack.ports import free_port  # noqa: E402
from devstack.smtp_sink import SmtpSink, normalize_message_id  # noqa: E402
from penguinmails.db import Database  # noqa: E402
from penguinmails.mail.message import outbound_message_id  # noqa: E402
from penguinmails.runtime import temporal_client  # noqa: E402
from penguinmails.secrets import SecretStore  # noqa: E402
from penguinmails.settings import Settings, asyncpg_dsn  # noqa: E402
from workflows.campaign import CampaignInput, CampaignWorkflow, StartRequest  # noqa: E402
from workflows.names import TaskQueue, campaign_workflow_id, tenant_attributes  # noqa: E402

PASSWORD = "x"  # bench.deliver_step.World's mailbox passwords


class WorkerProcess:
    """`python worker.py` with the bench's settings, killed and started again at will."""

    def __init__(self, settings: Settings, temporal: str, log: Path) -> None:
        queues = [TaskQueue.CAMPAIGNS.value, TaskQueue.SENDING.value]
        assert settings.vault_token is not None
        self.env = {
            **os.environ,
            "DATABASE_URL": settings.database_url or "",
            "ANALYTICS_DATABASE_URL": settings.analytics_database_url or "",
            "REDIS_URL": settings.redis_url or "",
            "EVENTS_STREAM": settings.events_stream,
            "TEMPORAL_ADDRESS": temporal,
            "VAULT_ADDR": settings.vault_addr or "",
            "VAULT_TOKEN": settings.vault_token.get_secret_value(),
            "VAULT_MOUNT": settings.vault_mount,
            "WORKER_TASK_QUEUES": json.dumps(queues),
            "SMTP_SINK_HOST": settings.smtp_sink_host,
            "SMTP_SINK_PORT": str(settings.smtp_sink_port),
            "DATA_DIR": str(settings.data_dir),
            "LOG_LEVEL": "WARNING",
        }
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py")],
                env=self.env,
                cwd=self.log.parent,  # no .env of the checkout
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


async def build(
    conn: asyncpg.Connection,
    world: World,
    dovecot: Dovecot,
    sink: SmtpSink,
    mailboxes: int,
    leads: int,
) -> tuple[list[str], list[str]]:
    """The campaign (e-mail, wait 0 h, e-mail) with its enrollments: (lead ids, e-mail step
    ids)."""
    await world.build(conn, sink.port, mailboxes)
    imap = {"host": dovecot.host, "port": dovecot.port, "security": "none"}
    await conn.execute(
        "UPDATE email_accounts SET imap_settings = $2::jsonb, "
        "smtp_settings = smtp_settings || '{\"saves_sent_copy\": true}'::jsonb "
        "WHERE tenant_id = $1",
        world.tenant_id,
        json.dumps(imap),
    )
    for address in world.mailboxes:
        dovecot.add_user(address, PASSWORD)
    template = await conn.fetchval(
        "SELECT template_id FROM campaign_sequence_steps WHERE id = $1", world.step_id
    )
    await conn.execute(
        "INSERT INTO campaign_sequence_steps (id, tenant_id, campaign_id, step_order, "
        "step_type, wait_duration_hours) VALUES (gen_random_uuid(), $1, $2, 2, 'wait', 0)",
        world.tenant_id,
        world.campaign_id,
    )
    follow_up = await conn.fetchval(
        "INSERT INTO campaign_sequence_steps (id, tenant_id, campaign_id, step_order, "
        "step_type, template_id) VALUES (gen_random_uuid(), $1, $2, 3, 'email', $3) "
        "RETURNING id",
        world.tenant_id,
        world.campaign_id,
        template,
    )
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
    return lead_ids, [str(world.step_id), str(follow_up)]


def read_sink(directory: Path) -> tuple[Counter[str], dict[str, list[tuple[str, str]]]]:
    """(copies per Message-ID, each Message-ID's (In-Reply-To, References) per copy)."""
    copies: Counter[str] = Counter()
    threads: dict[str, list[tuple[str, str]]] = {}
    parser = BytesHeaderParser(policy=compat32)
    for path in directory.glob("*.eml"):
        headers = parser.parsebytes(path.read_bytes())
        mid = normalize_message_id(str(headers.get("Message-ID") or ""))
        copies[mid] += 1
        threads.setdefault(mid, []).append(
            (str(headers.get("In-Reply-To") or ""), str(headers.get("References") or ""))
        )
    return copies, threads


def mail_services() -> tuple[Path, Dovecot, SmtpSink]:
    """Dovecot and the sink that files each sender's copy into its Sent folder."""
    tmp = Path(tempfile.mkdtemp(prefix="pm-chaos-"))
    tmp.chmod(0o755)  # Dovecot's processes run as their own users
    dovecot = Dovecot(tmp / "dovecot", free_port()).start()
    sink = SmtpSink(tmp / "sink", port=free_port(), mailstore=dovecot).start()
    return tmp, dovecot, sink


async def measure(args: argparse.Namespace, settings: Settings, store: SecretStore) -> None:
    tmp, dovecot, sink = await asyncio.to_thread(mail_services)
    sink_port = sink.port
    settings = settings.model_copy(update={"smtp_sink_port": sink_port, "data_dir": tmp})
    db_conn = await asyncpg.connect(asyncpg_dsn(settings.database_url or ""))
    db = Database(settings)
    worker: WorkerProcess | None = None
    try:
        async with AsyncExitStack() as stack:
            server = await stack.enter_async_context(dev_server())
            world = World(db, store, settings)
            lead_ids, steps = await build(db_conn, world, dovecot, sink, args.mailboxes, args.leads)
            client: Client = await temporal_client(
                settings.model_copy(update={"temporal_address": server.address}), store
            )
            worker = WorkerProcess(settings, server.address, tmp / "worker.log")
            worker.start()
            tenant, campaign = str(world.tenant_id), str(world.campaign_id)
            handle = await client.start_workflow(
                CampaignWorkflow.run,
                CampaignInput(tenant, campaign, window=args.window),
                id=campaign_workflow_id(tenant, campaign),
                task_queue=TaskQueue.CAMPAIGNS.value,
                search_attributes=tenant_attributes(tenant, campaign_id=campaign),
            )
            began = time.monotonic()
            await handle.execute_update(CampaignWorkflow.start, StartRequest(tenant))
            result = asyncio.ensure_future(handle.result())
            kills = 0
            deadline = began + args.max_minutes * 60
            while not result.done():
                await asyncio.wait({result}, timeout=args.kill_every)
                if result.done():
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"not done after {args.max_minutes} minutes")
                worker.kill()
                kills += 1
                worker.start()
                done = await db_conn.fetchval(
                    "SELECT count(*) FROM campaign_leads WHERE campaign_id = $1 "
                    "AND status NOT IN ('pending', 'active', 'paused')",
                    world.campaign_id,
                )
                print(
                    f"kill {kills} at {time.monotonic() - began:.0f} s: {done}/{args.leads} "
                    f"leads done (load {load_average()})",
                    file=sys.stderr,
                )
            view = result.result()
            print(
                f"campaign {view.status} after {time.monotonic() - began:.0f} s, {kills} kills",
                file=sys.stderr,
            )
            unknown_ids = {
                normalize_message_id(r["message_id"])
                for r in await db_conn.fetch(
                    "SELECT message_id FROM inbox_message_refs WHERE campaign_id = $1 "
                    "AND direction = 'outbound' AND status = 'unknown'",
                    world.campaign_id,
                )
            }
            open_leads = await db_conn.fetchval(
                "SELECT count(*) FROM campaign_leads WHERE campaign_id = $1 "
                "AND status <> 'completed'",
                world.campaign_id,
            )
    finally:
        if worker is not None:
            worker.stop()
        await db_conn.close()
        await db.dispose()
        sink.stop()
        copies, threads = read_sink(tmp / "sink")
        dovecot.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    duplicates = missing = unthreaded = 0
    for lead in lead_ids:
        first, follow_up = (
            normalize_message_id(outbound_message_id(tenant, campaign, lead, step, world.domain))
            for step in steps
        )
        for mid in (first, follow_up):
            duplicates += max(copies[mid] - 1, 0)
            missing += copies[mid] == 0 and mid not in unknown_ids
        for in_reply_to, references in threads.get(follow_up, []):
            if first not in in_reply_to or first not in references:
                unthreaded += 1
    figures = {
        "duplicates": (duplicates, "messages"),
        "missing": (missing, "messages"),
        "unknown": (len(unknown_ids), "messages"),
        "kills": (kills, "kills"),
        "unthreaded": (unthreaded, "messages"),
    }
    for metric, (value, unit) in figures.items():
        print(json.dumps({"bench": "chaos_send", "metric": metric, "value": value, "unit": unit}))
    failed = [
        f"{view.status} campaign" if view.status != "completed" else "",
        f"{open_leads} lead(s) not completed" if open_leads else "",
        f"{duplicates} duplicate(s)" if duplicates else "",
        f"{missing} missing" if missing else "",
        f"{len(unknown_ids)} unknown > {kills} kills" if len(unknown_ids) > kills else "",
        f"{unthreaded} follow-up(s) not threaded" if unthreaded else "",
    ]
    if any(failed):
        raise SystemExit("; ".join(f for f in failed if f))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--mailboxes", type=int, default=4)
    parser.add_argument("--kill-every", type=float, default=20.0, help="seconds")
    parser.add_argument(
        "--window", type=int, default=100, help="lead sequences running at once (the campaign's)"
    )
    parser.add_argument("--max-minutes", type=float, default=90.0)
    # A TERM stops the run as Ctrl-C does, its services stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with_services(parser.parse_args(), measure)


if __name__ == "__main__":
    main()
