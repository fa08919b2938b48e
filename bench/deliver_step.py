"""Sending one step with `deliver_step`, against bare SMTP sends of the same messages.

The project's path: `deliver_step` called for each lead of a sending campaign over several
mailboxes, one call per mailbox at a time: the context read, rotation (the capacity
query), rendering, the DKIM key and the mailbox's password from Vault, the reserve
transaction (every check and counter), the mailbox lock, the attempt committed, the send
transaction (campaign lock, re-check `FOR UPDATE`, SMTP, `sent`), and the `sent` event in
Redis. The baseline: the same number of messages, built and DKIM-signed beforehand, sent
with aiosmtplib over one reused connection per mailbox, as many at once, to the same local
aiosmtpd server, in the same run. Figures are medians of `--runs` runs (each with fresh
leads); each run's own figures go to stderr.

Services: the Postgres and Redis of `DATABASE_URL`/`REDIS_URL` when set (a database of its
own, dropped at the end), else embedded ones; an OpenBao dev server.

    python bench/deliver_step.py [--sends 200] [--mailboxes 4] [--runs 3]
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
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiosmtplib  # noqa: E402
import asyncpg  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from activities.delivery import DeliveryActivities  # noqa: E402
from activities.interfaces.delivery import DeliverInput  # noqa: E402
from devstack.openbao import start_dev_openbao  # noqa: E402
from devstack.ports import free_port  # noqa: E402
from penguinmails import migrate  # noqa: E402
from penguinmails.db import Database  # noqa: E402
from penguinmails.domains import add_domain, read_dkim_private_key  # noqa: E402
from penguinmails.mail.message import (  # noqa: E402
    DkimKey,
    MessageSpec,
    build_message,
    outbound_message_id,
)
from penguinmails.mailboxes import add_mailbox  # noqa: E402
from penguinmails.repositories.content import ContentRepository  # noqa: E402
from penguinmails.repositories.tenants import TenantRepository  # noqa: E402
from penguinmails.secrets import SecretStore  # noqa: E402
from penguinmails.settings import Settings, asyncpg_dsn  # noqa: E402

BODY = (
    "<html><body><p>{Hi|Hello} {{ first_name }}, a question about {{ company }}: "
    "<a href='https://acme.test/offer'>our offer</a>.</p><p>{{ sender.name }}</p></body></html>"
)


class Counting:
    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        return "250 2.0.0 Queued"


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class World:
    def __init__(self, db: Database, store: SecretStore, settings: Settings) -> None:
        self.db, self.store, self.settings = db, store, settings
        self.tenant_id = uuid.uuid4()
        self.domain = ""
        self.mailboxes: list[str] = []
        self.campaign_id = uuid.uuid4()
        self.step_id = uuid.uuid4()
        self.dkim: DkimKey | None = None

    async def build(self, conn: asyncpg.Connection, smtp_port: int, mailboxes: int) -> None:
        async with self.db.admin_session() as session:
            tenant = await TenantRepository(session).create("Bench Co")
        self.tenant_id = tenant.id
        self.domain = f"bench{uuid.uuid4().hex[:8]}.example.test"
        domain = await add_domain(self.db, self.store, self.settings, tenant.id, self.domain)
        assert domain.dkim_selector
        self.dkim = DkimKey(
            self.domain, domain.dkim_selector, await read_dkim_private_key(self.store, domain)
        )
        async with self.db.tenant_session(tenant.id) as session:
            key = await ContentRepository(session).put(tenant.id, BODY.encode(), "text/html")
        template = await conn.fetchval(
            "INSERT INTO templates (id, tenant_id, name, subject, content_storage_key) VALUES "
            "(gen_random_uuid(), $1, 'Intro', 'A question, {{ first_name }}', $2) RETURNING id",
            tenant.id,
            key,
        )
        self.campaign_id = await conn.fetchval(
            "INSERT INTO campaigns (id, tenant_id, company_id, name, status) "
            "VALUES (gen_random_uuid(), $1, $2, 'Bench', 'sending') RETURNING id",
            tenant.id,
            domain.company_id,
        )
        self.step_id = await conn.fetchval(
            "INSERT INTO campaign_sequence_steps (id, tenant_id, campaign_id, step_order, "
            "step_type, template_id) VALUES (gen_random_uuid(), $1, $2, 1, 'email', $3) "
            "RETURNING id",
            tenant.id,
            self.campaign_id,
            template,
        )
        for n in range(mailboxes):
            account = await add_mailbox(
                self.db, self.store, tenant.id, email=f"sender{n}@{self.domain}",
                smtp_password="x", imap_password="x", from_name=f"Sender {n}",
                smtp_settings={"host": "127.0.0.1", "port": smtp_port, "security": "none"},
            )  # fmt: skip
            await conn.execute(
                "UPDATE email_accounts SET status = 'active', daily_cap = 100000, "
                "min_gap_seconds = 0, gap_jitter_seconds = 0 WHERE id = $1",
                account.id,
            )
            await conn.execute(
                "INSERT INTO campaign_mailboxes (id, tenant_id, campaign_id, email_account_id) "
                "VALUES (gen_random_uuid(), $1, $2, $3)",
                tenant.id,
                self.campaign_id,
                account.id,
            )
            self.mailboxes.append(account.email)

    async def leads(self, conn: asyncpg.Connection, count: int) -> list[str]:
        rows = await conn.fetch(
            "INSERT INTO leads (id, tenant_id, email, first_name, company) "
            "SELECT gen_random_uuid(), $1, 'lead-' || g || '-' || $2 || '@example.org', "
            "'Grace', 'Hopper Inc' FROM generate_series(1, $3) g RETURNING id",
            self.tenant_id,
            uuid.uuid4().hex[:8],
            count,
        )
        return [str(r["id"]) for r in rows]


async def project(
    acts: DeliveryActivities, world: World, leads: list[str], width: int
) -> list[float]:
    """Per-send latencies (ms); `width` calls at once (one per mailbox)."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for lead in leads:
        queue.put_nowait(lead)
    latencies: list[float] = []

    async def lane() -> None:
        while not queue.empty():
            lead = queue.get_nowait()
            data = DeliverInput(
                str(world.tenant_id), str(world.campaign_id), lead, str(world.step_id)
            )
            start = time.perf_counter()
            out = await acts.deliver_step(data)
            latencies.append((time.perf_counter() - start) * 1000)
            if out.outcome != "sent":
                raise SystemExit(f"a send did not go out: {out}")

    await asyncio.gather(*(lane() for _ in range(width)))
    return latencies


async def baseline(
    world: World, smtp_port: int, count: int, token_key: bytes
) -> tuple[float, list[float]]:
    """The same number of messages, built beforehand (not timed), over one connection per
    mailbox: (sends per second, per-send latencies in ms)."""
    messages: list[list[tuple[str, bytes]]] = [[] for _ in world.mailboxes]
    for n in range(count):
        box = n % len(world.mailboxes)
        to = f"base-{n}@example.org"
        spec = MessageSpec(
            tenant_id=str(world.tenant_id),
            message_id=outbound_message_id(
                str(world.tenant_id), "base", str(n), "s", world.domain
            ),
            from_email=world.mailboxes[box], to_email=to, subject="A question, Grace",
            html=BODY, date=datetime.now(UTC), tracking_base_url=f"https://track.{world.domain}",
        )  # fmt: skip
        messages[box].append((to, build_message(spec, token_key, world.dkim).raw))
    latencies: list[float] = []

    async def lane(sender: str, batch: list[tuple[str, bytes]]) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port, start_tls=False)
        await client.connect()
        for to, raw in batch:
            start = time.perf_counter()
            await client.sendmail(sender, [to], raw)
            latencies.append((time.perf_counter() - start) * 1000)
        await client.quit()

    start = time.perf_counter()
    await asyncio.gather(*(lane(s, b) for s, b in zip(world.mailboxes, messages, strict=True)))
    return count / (time.perf_counter() - start), latencies


async def run(args: argparse.Namespace, tmp: Path, stack: ExitStack) -> None:
    admin_url = os.environ.get("DATABASE_URL")
    if admin_url:
        admin_url = _with_db(admin_url, "postgres")
    else:
        from devstack.postgres import start_postgres

        server = start_postgres(tmp / "pgdata", free_port())
        stack.callback(server.stop)
        admin_url = server.url("postgres")
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
        )
        await asyncio.to_thread(migrate.upgrade, settings)
        await measure(args, settings, SecretStore(vault.addr, vault.token, mount="secret"))
    finally:
        for db_name in (name, f"{name}_analytics"):
            await _admin(admin_url, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


async def measure(args: argparse.Namespace, settings: Settings, store: SecretStore) -> None:
    handler = Counting()
    smtp_port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port, ready_timeout=10)
    controller.start()
    db = Database(settings)
    redis = Redis.from_url(settings.redis_url or "")
    acts = DeliveryActivities(db, store, settings, redis=redis)
    assert settings.database_url
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        world = World(db, store, settings)
        await world.build(conn, smtp_port, args.mailboxes)
        width = len(world.mailboxes)
        await project(acts, world, await world.leads(conn, width * 3), width)  # warm-up
        token_key = await acts.token_key()
        ours, base = [], []
        for n in range(args.runs):
            leads = await world.leads(conn, args.sends)
            start = time.perf_counter()
            lat = await project(acts, world, leads, width)
            ours_rate = args.sends / (time.perf_counter() - start)
            base_rate, base_lat = await baseline(world, smtp_port, args.sends, token_key)
            ours.append((ours_rate, statistics.median(lat)))
            base.append((base_rate, statistics.median(base_lat)))
            print(
                f"run {n + 1}: deliver_step {ours_rate:.1f}/s (p50 {statistics.median(lat):.1f} "
                f"ms), bare SMTP {base_rate:.1f}/s (p50 {statistics.median(base_lat):.1f} ms)",
                file=sys.stderr,
            )
        expected = width * 3 + 2 * args.sends * args.runs
        if handler.received != expected:
            raise SystemExit(f"the server took {handler.received} messages, not {expected}")
    finally:
        await conn.close()
        await acts.close()
        await db.dispose()
        controller.stop()

    for metric, value, baseline_value, unit in (
        ("sends_per_s", statistics.median(r for r, _ in ours),
         statistics.median(r for r, _ in base), "sends/s"),
        ("latency_p50_ms", statistics.median(p for _, p in ours),
         statistics.median(p for _, p in base), "ms"),
    ):  # fmt: skip
        print(json.dumps({
            "bench": "deliver_step",
            "metric": metric,
            "value": round(value, 2),
            "baseline": round(baseline_value, 2),
            "ratio": round(value / baseline_value, 3),
            "unit": unit,
        }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sends", type=int, default=200)
    parser.add_argument("--mailboxes", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pm-bench-send-"))
    tmp.chmod(0o755)  # the embedded Postgres runs as another user
    try:
        with ExitStack() as stack:
            asyncio.run(run(args, tmp, stack))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
