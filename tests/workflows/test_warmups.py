"""Warmup workflows with the real activities (Postgres): a 30-day IP warmup on the
time-skipping server with a blocklist hit on day 10 (the ramp steps back, then reaches
its target: the IP `warmed`), `burned` stopping at once; pause/resume/stop updates on
the dev server."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.interfaces.warmups import EXCHANGE_WARMUP, ExchangeInput, ExchangeOutput
from activities.warmup_exchange import WarmupExchangeActivities
from activities.warmups import WarmupActivities
from penguinmails.db import Database
from penguinmails.repositories.capacity import CapacityRepository
from penguinmails.repositories.ip_addresses import IpAddressRepository
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.repositories.vps import VpsRepository
from penguinmails.repositories.warmups import WarmupRepository
from penguinmails.settings import Settings
from penguinmails.warmup import RampCurve
from tests.fixtures.campaigns import sending_tenant
from tests.workflows.recording import keep_history
from workflows.ip_warmup import IpWarmupWorkflow
from workflows.mailbox_warmup import MailboxWarmupWorkflow
from workflows.warmup_ramp import ReputationSignal, WarmupCommand, WarmupInput

_hosts = iter(range(2, 250))


async def _ip_warmup(db: Database, curve: RampCurve) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    async with db.admin_session() as session:
        tenant = (await TenantRepository(session).create("Warm Co")).id
    async with db.tenant_session(tenant) as session:
        vps = await VpsRepository(session).create(tenant, "local", "local")
        ip = await IpAddressRepository(session).register(
            tenant, vps.id, f"127.251.{next(_hosts)}.1", "w.test"
        )
        warmup = await WarmupRepository(session).create(
            tenant, curve, dt.date(2000, 1, 1), smtp_ip_address_id=ip.id
        )
    return tenant, ip.id, warmup.id


def _worker(client: Client, db: Database, queue: str, **options: Any) -> Worker:
    acts = WarmupActivities(db)
    # The real exchange activity: these warmups are outside the pool, so each round answers
    # at once that there is nothing to do (no secret store needed).
    exchange = WarmupExchangeActivities(db, None, Settings(_env_file=None))  # type: ignore[call-arg]
    return Worker(
        client,
        task_queue=queue,
        **options,
        workflows=[IpWarmupWorkflow, MailboxWarmupWorkflow],
        activities=[acts.advance_warmup, acts.set_warmup_status, exchange.exchange_warmup],
    )


async def test_thirty_days_with_a_blocklist_hit_on_day_ten(
    temporal_time_skipping: WorkflowEnvironment, db: Database
) -> None:
    env = temporal_time_skipping
    curve = RampCurve(start=10, growth_pct=20, target=200, step_back_days=3)
    tenant, ip_id, warmup_id = await _ip_warmup(db, curve)
    async with db.tenant_session(tenant) as session:
        ip = await IpAddressRepository(session).get(ip_id)
    assert ip is not None and ip.status == "warming"
    queue = f"tq-{uuid.uuid4()}"
    caps: list[int] = []
    async with _worker(env.client, db, queue):
        handle = await env.client.start_workflow(
            IpWarmupWorkflow.run,
            WarmupInput(str(tenant), str(warmup_id)),
            id=f"ip-warmup:{tenant}:{ip_id}",
            task_queue=queue,
        )
        for day in range(1, 31):
            await env.sleep(dt.timedelta(days=1))
            async with db.tenant_session(tenant) as session:
                w = await WarmupRepository(session).get(warmup_id)
            assert w is not None
            caps.append(w.today_cap)
            if day == 10:
                await handle.signal(IpWarmupWorkflow.reputation, ReputationSignal("blocklist"))
            if w.status == "completed":
                break
        state = await handle.result()
        await keep_history(handle, "ip_warmup_completed")

    # Up the curve for ten days, back three ramp days after the hit, then up to the target.
    assert caps[:10] == [curve.cap(d) for d in range(1, 11)]
    assert caps[10] == curve.cap(10 - 3)
    assert caps[11] == curve.cap(8)
    assert caps[-1] == 200 and state.status == "completed"
    assert state.days_run == curve.days_to_target() + 4  # the step back cost four steps
    assert len(caps) <= 30
    async with db.tenant_session(tenant) as session:
        ip = await IpAddressRepository(session).get(ip_id)
        w = await WarmupRepository(session).get(warmup_id)
    assert ip is not None and ip.status == "warmed"
    assert w is not None and w.status == "completed" and w.ended is not None


async def test_a_worker_restart_mid_ramp_keeps_the_day_and_the_ramp_goes_on(
    temporal_time_skipping: WorkflowEnvironment, db: Database
) -> None:
    """Five days up the ramp, the worker stops, a new one (new activities) takes over on
    the spot: the day and the cap are where the first left them, and the daily timers go
    on from there. (The first worker keeps no cache: a task sent to a stopped worker's
    sticky queue would wait for the time-skipping server's clock, which does not move
    while a task waits for a worker.)"""
    env = temporal_time_skipping
    curve = RampCurve(start=10, growth_pct=20, target=200)
    tenant, ip_id, warmup_id = await _ip_warmup(db, curve)
    queue = f"tq-{uuid.uuid4()}"
    async with _worker(env.client, db, queue, max_cached_workflows=0):
        handle = await env.client.start_workflow(
            IpWarmupWorkflow.run,
            WarmupInput(str(tenant), str(warmup_id)),
            id=f"ip-warmup:{tenant}:{ip_id}",
            task_queue=queue,
        )
        await env.sleep(dt.timedelta(days=5))
        before = await handle.query(IpWarmupWorkflow.get_state)
    assert before.status == "active" and before.cap == curve.cap(before.days_run)
    async with _worker(env.client, db, queue):
        after = await handle.query(IpWarmupWorkflow.get_state)
        assert (after.days_run, after.cap) == (before.days_run, before.cap)
        await env.sleep(dt.timedelta(days=3))
        later = await handle.query(IpWarmupWorkflow.get_state)
        async with db.tenant_session(tenant) as session:
            w = await WarmupRepository(session).get(warmup_id)
        await handle.terminate()
    assert later.days_run == before.days_run + 3
    assert later.cap == curve.cap(later.days_run)
    assert w is not None and w.today_cap == later.cap


async def test_burned_stops_at_once(
    temporal_time_skipping: WorkflowEnvironment, db: Database
) -> None:
    env = temporal_time_skipping
    tenant, ip_id, warmup_id = await _ip_warmup(db, RampCurve(start=10, target=100))
    queue = f"tq-{uuid.uuid4()}"
    async with _worker(env.client, db, queue):
        handle = await env.client.start_workflow(
            IpWarmupWorkflow.run,
            WarmupInput(str(tenant), str(warmup_id)),
            id=f"ip-warmup:{tenant}:{ip_id}",
            task_queue=queue,
        )
        await env.sleep(dt.timedelta(days=2, hours=3))
        await handle.signal(IpWarmupWorkflow.reputation, ReputationSignal("burned"))
        state = await handle.result()
        await keep_history(handle, "ip_warmup_burned")
    assert state.status == "stopped" and state.reason == "burned" and state.days_run == 3
    async with db.tenant_session(tenant) as session:
        ip = await IpAddressRepository(session).get(ip_id)
    assert ip is not None and ip.status == "burned"


async def test_pause_resume_stop_updates(temporal_client: Client, db: Database) -> None:
    tenant, ip_id, warmup_id = await _ip_warmup(db, RampCurve(start=10, target=100))
    queue = f"tq-{uuid.uuid4()}"
    async with _worker(temporal_client, db, queue):
        handle = await temporal_client.start_workflow(
            IpWarmupWorkflow.run,
            WarmupInput(str(tenant), str(warmup_id)),
            id=f"ip-warmup:{tenant}:{ip_id}",
            task_queue=queue,
        )
        paused = await handle.execute_update(IpWarmupWorkflow.pause, WarmupCommand())
        assert paused.status == "paused"
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(IpWarmupWorkflow.pause, WarmupCommand())
        async with db.tenant_session(tenant) as session:
            w = await WarmupRepository(session).get(warmup_id)
        assert w is not None and w.status == "paused"
        resumed = await handle.execute_update(IpWarmupWorkflow.resume, WarmupCommand())
        assert resumed.status == "active"
        stopped = await handle.execute_update(IpWarmupWorkflow.stop, WarmupCommand("enough"))
        assert stopped.status == "stopped"
        state = await handle.result()
    assert state.status == "stopped"
    async with db.tenant_session(tenant) as session:
        w = await WarmupRepository(session).get(warmup_id)
    assert w is not None and (w.status, w.last_reason) == ("stopped", "enough")
    assert w.ended is not None


async def test_a_mailbox_warmup_drives_the_engine_s_capacity(
    temporal_time_skipping: WorkflowEnvironment, db: Database, admin_conn: asyncpg.Connection
) -> None:
    """Three days of a mailbox's ramp: each day the capacity the engine reads is the cap."""
    env = temporal_time_skipping
    tenant = await sending_tenant(admin_conn, daily_cap=500, daily_limit=None)
    curve = RampCurve(start=10, growth_pct=50, target=100)
    async with db.tenant_session(tenant.tenant_id) as session:
        warmup = await WarmupRepository(session).create(
            tenant.tenant_id, curve, dt.date(2000, 1, 1), email_account_id=tenant.mailbox_id
        )
    queue = f"tq-{uuid.uuid4()}"
    seen = []
    async with _worker(env.client, db, queue):
        handle = await env.client.start_workflow(
            MailboxWarmupWorkflow.run,
            WarmupInput(str(tenant.tenant_id), str(warmup.id)),
            id=f"mailbox-warmup:{tenant.tenant_id}:{tenant.mailbox_id}",
            task_queue=queue,
        )
        for _ in range(3):
            await env.sleep(dt.timedelta(days=1))
            async with db.tenant_session(tenant.tenant_id) as session:
                [cap] = await CapacityRepository(session).mailboxes([tenant.mailbox_id])
            seen.append((cap.infrastructure_left, cap.allowed))
        await handle.signal(MailboxWarmupWorkflow.reputation, ReputationSignal("burned"))
        state = await handle.result()
    assert seen == [(curve.cap(d), curve.cap(d)) for d in (1, 2, 3)]
    assert state.status == "stopped"
    async with db.tenant_session(tenant.tenant_id) as session:
        [cap] = await CapacityRepository(session).mailboxes([tenant.mailbox_id])
    assert cap.infrastructure_left is None  # a stopped warmup no longer caps


async def test_a_mailbox_warmup_runs_three_exchange_rounds_a_day_and_none_while_paused(
    temporal_time_skipping: WorkflowEnvironment, db: Database, admin_conn: asyncpg.Connection
) -> None:
    """The rounds' orchestration (the exchange itself is tested against the real mail
    system in tests/activities/test_warmup_exchange.py): 06:00, 12:00 and 18:00 UTC."""
    env = temporal_time_skipping
    tenant = await sending_tenant(admin_conn, daily_cap=500, daily_limit=None)
    async with db.tenant_session(tenant.tenant_id) as session:
        warmup = await WarmupRepository(session).create(
            tenant.tenant_id,
            RampCurve(start=10, growth_pct=50, target=1000),
            dt.date(2000, 1, 1),
            email_account_id=tenant.mailbox_id,
            pool=True,
        )
    rounds: list[dt.datetime] = []

    @activity.defn(name=EXCHANGE_WARMUP)
    async def exchange(data: ExchangeInput) -> ExchangeOutput:
        assert data.sends is None  # the activity takes the round's share of today's cap
        rounds.append(activity.info().current_attempt_scheduled_time)
        return ExchangeOutput(sent=1)

    acts = WarmupActivities(db)
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[MailboxWarmupWorkflow],
        activities=[acts.advance_warmup, acts.set_warmup_status, exchange],
    ):
        handle = await env.client.start_workflow(
            MailboxWarmupWorkflow.run,
            WarmupInput(str(tenant.tenant_id), str(warmup.id)),
            id=f"mailbox-warmup:{tenant.tenant_id}:{tenant.mailbox_id}",
            task_queue=queue,
        )
        start = await env.get_current_time()
        first_midnight = (start + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0)
        await env.sleep(first_midnight - start + dt.timedelta(days=2, hours=1))
        full_days = [r for r in rounds if r >= first_midnight]
        assert len(full_days) == 6
        assert sorted({r.hour for r in full_days}) == [6, 12, 18]
        await handle.execute_update(MailboxWarmupWorkflow.pause, WarmupCommand())
        before = len(rounds)
        await env.sleep(dt.timedelta(days=1))
        assert len(rounds) == before  # paused: no exchange
        await handle.execute_update(MailboxWarmupWorkflow.stop, WarmupCommand())
        await handle.result()


async def test_simulated_days_step_the_ramp_by_simulated_date_with_the_rounds_inside(
    temporal_time_skipping: WorkflowEnvironment, db: Database, admin_conn: asyncpg.Connection
) -> None:
    """`day_seconds` (development): a ramp day lasts 10 minutes; each step is keyed by its
    simulated date (the first run's date + N days: three steps in one real day all land),
    and the exchange rounds fall at 1/4, 1/2 and 3/4 of each simulated day."""
    env = temporal_time_skipping
    day = 600
    tenant = await sending_tenant(admin_conn, daily_cap=500, daily_limit=None)
    curve = RampCurve(start=10, growth_pct=50, target=1000)
    async with db.tenant_session(tenant.tenant_id) as session:
        warmup = await WarmupRepository(session).create(
            tenant.tenant_id, curve, dt.date(2000, 1, 1), email_account_id=tenant.mailbox_id
        )
    rounds: list[dt.datetime] = []

    @activity.defn(name=EXCHANGE_WARMUP)
    async def exchange(data: ExchangeInput) -> ExchangeOutput:
        rounds.append(activity.info().current_attempt_scheduled_time)
        return ExchangeOutput(skipped="not in the pool")

    acts = WarmupActivities(db)
    queue = f"tq-{uuid.uuid4()}"
    steps: list[tuple[int, int, dt.date | None]] = []
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[MailboxWarmupWorkflow],
        activities=[acts.advance_warmup, acts.set_warmup_status, exchange],
    ):
        handle = await env.client.start_workflow(
            MailboxWarmupWorkflow.run,
            WarmupInput(str(tenant.tenant_id), str(warmup.id), day_seconds=day),
            id=f"mailbox-warmup:{tenant.tenant_id}:{tenant.mailbox_id}",
            task_queue=queue,
        )
        await env.sleep(dt.timedelta(seconds=60))
        for _ in range(3):
            await env.sleep(dt.timedelta(seconds=day))
            async with db.tenant_session(tenant.tenant_id) as session:
                w = await WarmupRepository(session).get(warmup.id)
            assert w is not None
            steps.append((w.day, w.today_cap, w.cap_date))
        state = await handle.query(MailboxWarmupWorkflow.get_state)
        await handle.execute_update(MailboxWarmupWorkflow.stop, WarmupCommand())
        await handle.result()
        await keep_history(handle, "mailbox_warmup_simulated_days")

    assert state.sim_start is not None and state.days_run == 3
    start = dt.datetime.fromisoformat(state.sim_start)
    assert steps == [(d, curve.cap(d), start.date() + dt.timedelta(days=d)) for d in (1, 2, 3)]
    offsets = [(r - start).total_seconds() for r in rounds]
    expected = [n * day + day * f / 4 for n in range(3) for f in (1, 2, 3)]
    assert len(offsets) == len(expected), offsets
    assert all(abs(o - e) < 2 for o, e in zip(offsets, expected, strict=True)), offsets
