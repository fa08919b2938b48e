"""Domain verification with the real DNS activity (Postgres, the loopback DNS server) on the
time-skipping server: backoff until the deadline, then `failed`; `verified` when published."""

import uuid

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.domains import DomainActivities
from devstack.dns import Zone
from penguinmails.db import Database
from penguinmails.domains import add_domain
from penguinmails.repositories.domains import DomainRepository
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from workflows.domain_verification import DomainVerificationInput, DomainVerificationWorkflow


async def _domain(db: Database, store: SecretStore, settings: Settings) -> tuple[str, str]:
    async with db.admin_session() as session:
        tenant = await TenantRepository(session).create("DNS Co")
    name = f"wf{uuid.uuid4().hex[:10]}.example.test"
    domain = await add_domain(db, store, settings, tenant.id, name)
    return str(tenant.id), str(domain.id)


async def _run(
    env: WorkflowEnvironment, db: Database, settings: Settings, data: DomainVerificationInput
) -> tuple[str, int]:
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[DomainVerificationWorkflow],
        activities=[DomainActivities(db, settings.dns_resolver).check_domain_dns],
    ):
        handle = await env.client.start_workflow(
            DomainVerificationWorkflow.run,
            data,
            id=f"domain-verification:{data.tenant_id}:{data.domain_id}",
            task_queue=queue,
        )
        status = await handle.result()
        state = await handle.query(DomainVerificationWorkflow.get_state)
    return status, state.checks


async def test_fails_at_the_deadline_with_per_record_results(
    temporal_time_skipping: WorkflowEnvironment,
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
) -> None:
    tenant_id, domain_id = await _domain(db, secret_store, settings)
    status, checks = await _run(
        temporal_time_skipping,
        db,
        settings,
        DomainVerificationInput(
            tenant_id,
            domain_id,
            deadline_seconds=6 * 3600,
            initial_interval_seconds=60,
            max_interval_seconds=3600,
        ),
    )
    assert status == "failed"
    # 60 s doubling to the 1 h cap over 6 h: 1m, 2m, 4m, ... then hourly, plus the last check.
    assert 8 <= checks <= 14
    async with db.tenant_session(tenant_id) as session:
        domain = await DomainRepository(session).get(uuid.UUID(domain_id))
    assert domain is not None and domain.verification_status == "failed"
    assert domain.verified_at is None and domain.last_checked_at is not None
    results = domain.dns_records["records"]
    assert {r["status"] for r in results} == {"fail"}
    assert all(r["detail"] for r in results)


async def test_verified_once_the_records_are_published(
    temporal_time_skipping: WorkflowEnvironment,
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    dns_zone: Zone,
) -> None:
    tenant_id, domain_id = await _domain(db, secret_store, settings)
    async with db.tenant_session(tenant_id) as session:
        domain = await DomainRepository(session).get(uuid.UUID(domain_id))
    assert domain is not None
    for r in domain.dns_records["records"]:
        dns_zone.add(r["name"], r["type"], r["value"])
    status, checks = await _run(
        temporal_time_skipping, db, settings, DomainVerificationInput(tenant_id, domain_id)
    )
    assert (status, checks) == ("verified", 1)
    async with db.tenant_session(tenant_id) as session:
        domain = await DomainRepository(session).get(uuid.UUID(domain_id))
    assert domain is not None and domain.verified_at is not None
    assert {r["status"] for r in domain.dns_records["records"]} == {"pass"}
