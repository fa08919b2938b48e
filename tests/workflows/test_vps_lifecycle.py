"""VpsLifecycleWorkflow with the real activities (Postgres, the `local` provider) on the
time-skipping server: a 3-month life with a provider outage mid-provisioning, a
decommission at the end of the paid period with the domains moved off first, and the
saga's compensation when the provider refuses at each stage."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.providers.local import LocalProvider
from activities.vps import VpsActivities
from penguinmails.db import Database
from penguinmails.domains import add_domain
from penguinmails.providers import GONE, billing_period
from penguinmails.repositories.ip_addresses import IpAddressRepository
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.repositories.vps import VpsRepository
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from tests.workflows.recording import keep_history
from workflows.names import workflow_id
from workflows.vps_lifecycle import VpsLifecycleInput, VpsLifecycleWorkflow

DOMAIN = "mta.example.test"
_subnets = iter(range(100, 250))


def _local(tmp_path: Path, **kw: int) -> LocalProvider:
    """A provider of its own /24: the test database is shared with the API tests' worker,
    whose provider hands out 127.0.0.x, and live addresses are unique across tenants."""
    return LocalProvider(
        tmp_path / "p.json",
        activate_after_seconds=0,
        activate_after_checks=kw.get("checks", 1),
        subnet=f"127.{next(_subnets)}.0",
    )


async def _tenant(db: Database) -> uuid.UUID:
    async with db.admin_session() as session:
        return (await TenantRepository(session).create("VPS Co")).id


async def _vps(db: Database, tenant: uuid.UUID) -> uuid.UUID:
    async with db.tenant_session(tenant) as session:
        return (await VpsRepository(session).create(tenant, "local", "local")).id


def _worker(
    env: WorkflowEnvironment, db: Database, provider: LocalProvider, queue: str, **options: Any
) -> Worker:
    acts = VpsActivities(db, {"local": provider}, DOMAIN)
    return Worker(
        env.client,
        task_queue=queue,
        **options,
        workflows=[VpsLifecycleWorkflow],
        activities=[
            acts.provision_vps,
            acts.check_vps,
            acts.register_vps_ips,
            acts.start_billing_period,
            acts.schedule_vps_decommission,
            acts.move_vps_domains,
            acts.release_vps,
        ],
    )


async def _start(
    env: WorkflowEnvironment, tenant: uuid.UUID, vps: uuid.UUID, queue: str
) -> WorkflowHandle:
    return await env.client.start_workflow(
        VpsLifecycleWorkflow.run,
        VpsLifecycleInput(str(tenant), str(vps), poll_initial_seconds=30),
        id=workflow_id("vps-lifecycle", tenant, vps),
        task_queue=queue,
    )


async def test_three_months_of_life_then_decommission_at_the_period_end(
    temporal_time_skipping: WorkflowEnvironment,
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    tmp_path: Path,
) -> None:
    env = temporal_time_skipping
    provider = _local(tmp_path, checks=3)
    # Mid-provisioning, the provider is out for two status checks (a 5xx, retried).
    provider.fail("status", times=2, unavailable=True)
    tenant = await _tenant(db)
    vps, spare_vps = await _vps(db, tenant), await _vps(db, tenant)
    domain = await add_domain(db, secret_store, settings, tenant, f"v{uuid.uuid4().hex[:8]}.test")
    queue = f"tq-{uuid.uuid4()}"
    async with _worker(env, db, provider, queue):
        started = await env.get_current_time()
        handle = await _start(env, tenant, vps, queue)
        await env.sleep(dt.timedelta(days=2))
        async with db.tenant_session(tenant) as session:
            ips = IpAddressRepository(session)
            [ip] = await ips.of_vps(vps)
            spare = await ips.register(tenant, spare_vps, f"{provider.subnet}.250", "spare.test")
            await session.execute(
                text(
                    "INSERT INTO domain_ip_assignments (tenant_id, domain_id, smtp_ip_address_id,"
                    " status) VALUES (:t, :d, :i, 'active')"
                ),
                {"t": tenant, "d": domain.id, "i": ip.id},
            )
        assert ip.status == "available" and ip.ptr_name == ip.helo_name
        assert ip.ptr_name == f"{str(ip.ip_address).replace('.', '-')}.{DOMAIN}"

        # Into the middle of the third paid period, whatever day the provider bills on (its
        # billing day is the server's creation day at the provider, not this test's clock).
        async with db.tenant_session(tenant) as session:
            active = await VpsRepository(session).get(vps)
        assert active is not None and active.billing_day is not None
        _, first = billing_period(active.billing_day, started)
        _, second = billing_period(active.billing_day, first)
        _, third = billing_period(active.billing_day, second)
        await env.sleep(second + (third - second) / 2 - await env.get_current_time())
        await handle.signal(VpsLifecycleWorkflow.schedule_decommission)
        await handle.signal(VpsLifecycleWorkflow.schedule_decommission)  # idempotent
        await env.sleep(dt.timedelta(hours=1))
        async with db.tenant_session(tenant) as session:
            row = await VpsRepository(session).get(vps)
        assert row is not None and row.status == "scheduled_decommission"
        state = await handle.result()
        await keep_history(handle, "vps_lifecycle_decommissioned")

    async with db.tenant_session(tenant) as session:
        row = await VpsRepository(session).get(vps)
        [ip] = await IpAddressRepository(session).of_vps(vps)
        moved = await session.execute(
            text(
                "SELECT smtp_ip_address_id, status FROM domain_ip_assignments "
                "WHERE domain_id = :d ORDER BY created"
            ),
            {"d": domain.id},
        )
        assignments = [(r[0], r[1]) for r in moved]
    assert row is not None and row.status == "decommissioned"
    # Three billing periods: decommissioned at the end of the paid one, not before.
    assert row.billing_day is not None
    _, first_end = billing_period(row.billing_day, started)
    _, second_end = billing_period(row.billing_day, first_end)
    _, third_end = billing_period(row.billing_day, second_end)
    assert state.phase == "decommissioned" and state.periods == 3
    assert row.decommission_scheduled_for == third_end
    assert state.decommission_at == third_end.isoformat()
    assert ip.status == "released"
    assert assignments == [(ip.id, "expired"), (spare.id, "active")]
    assert state.moved_domains == [domain.domain]
    server = provider.servers()[row.provider_instance_id or ""]
    assert server["status"] == GONE and server["cancel_at_period_end"]
    assert server["rdns"] == {str(ip.ip_address): ip.ptr_name}
    assert state.status_checks >= 2


@pytest.mark.parametrize("stage", ["create", "status", "list_ips", "set_reverse_dns"])
async def test_a_refusal_at_each_stage_compensates(
    temporal_time_skipping: WorkflowEnvironment, db: Database, tmp_path: Path, stage: str
) -> None:
    env = temporal_time_skipping
    provider = _local(tmp_path)
    provider.fail(stage)
    tenant = await _tenant(db)
    vps = await _vps(db, tenant)
    queue = f"tq-{uuid.uuid4()}"
    async with _worker(env, db, provider, queue):
        handle = await _start(env, tenant, vps, queue)
        state = await handle.result()
        if stage == "set_reverse_dns":
            await keep_history(handle, "vps_lifecycle_compensated")
    async with db.tenant_session(tenant) as session:
        row = await VpsRepository(session).get(vps)
        ips = await IpAddressRepository(session).of_vps(vps)
    assert state.phase == "failed" and row is not None and row.status == "failed"
    assert row.last_error and f"{stage} refused" in row.last_error
    assert all(ip.status == "released" for ip in ips)  # nothing half-registered stays
    servers = provider.servers()
    if stage == "create":
        assert servers == {} and row.provider_instance_id is None
    else:
        assert servers[row.provider_instance_id or ""]["status"] == GONE  # cancelled now


async def test_an_address_taken_elsewhere_compensates(
    temporal_time_skipping: WorkflowEnvironment, db: Database, tmp_path: Path
) -> None:
    """The registration step's own failure (the live-address index spans tenants)."""
    env = temporal_time_skipping
    provider = _local(tmp_path)
    first = f"{provider.subnet}.2"  # what the provider will hand out
    other = await _tenant(db)
    async with db.tenant_session(other) as session:
        await IpAddressRepository(session).register(other, await _vps(db, other), first, "x")
    tenant = await _tenant(db)
    vps = await _vps(db, tenant)
    queue = f"tq-{uuid.uuid4()}"
    async with _worker(env, db, provider, queue):
        state = await (await _start(env, tenant, vps, queue)).result()
    assert state.phase == "failed" and f"{first} is live on another server" in (state.error or "")
    assert next(iter(provider.servers().values()))["status"] == GONE


async def test_a_worker_restart_mid_life_loses_nothing_and_the_periods_go_on(
    temporal_time_skipping: WorkflowEnvironment, db: Database, tmp_path: Path
) -> None:
    """The worker stops while the server is active and waits on its billing timer, then a
    new one (new activities, a new provider client on the same provider) takes over: the
    state is the one the first left, the timers go on firing (40 days: a period or two),
    and the life goes on to its decommission."""
    env = temporal_time_skipping
    provider = _local(tmp_path)
    tenant = await _tenant(db)
    vps = await _vps(db, tenant)
    queue = f"tq-{uuid.uuid4()}"
    async with _worker(env, db, provider, queue, max_cached_workflows=0):
        handle = await _start(env, tenant, vps, queue)
        await env.sleep(dt.timedelta(days=2))
        before = await handle.query(VpsLifecycleWorkflow.get_state)
    assert before.phase == "active" and before.ips and before.period_end is not None
    # The new worker comes up on the spot: the time-skipping server does not move its clock
    # while a task waits for a worker, and a task sent to the stopped worker's sticky queue
    # would wait for that clock (the first one keeps no cache, so it has no sticky queue).
    again = LocalProvider(provider.state_path, activate_after_seconds=0, subnet=provider.subnet)
    async with _worker(env, db, again, queue):
        await env.sleep(dt.timedelta(days=40))
        after = await handle.query(VpsLifecycleWorkflow.get_state)
        assert (after.instance_id, after.ips) == (before.instance_id, before.ips)
        assert after.phase == "active" and after.periods > before.periods
        assert after.period_start is not None and before.period_end is not None
        assert after.period_start >= before.period_end
        await handle.signal(VpsLifecycleWorkflow.schedule_decommission)
        state = await handle.result()
    assert state.phase == "decommissioned" and state.instance_id == before.instance_id
    async with db.tenant_session(tenant) as session:
        row = await VpsRepository(session).get(vps)
    assert row is not None and row.status == "decommissioned"
