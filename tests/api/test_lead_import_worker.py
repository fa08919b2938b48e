"""Imports run by a worker in its own process: a worker killed (SIGKILL) in the middle of an
import changes nothing in the result (the next worker resumes from the last committed chunk
of the ledger), and a running import reports its progress to its workflow."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import ActivityEnvironment

from activities.interfaces.lead_imports import (
    REPORT_PROGRESS,
    FinishImportInput,
    ImportBatchInput,
    ImportBatchProgress,
)
from activities.lead_imports import LeadImportActivities
from api.services import Services
from penguinmails.repositories.lead_imports import LeadImportRepository
from penguinmails.settings import Settings
from penguinmails.uploads import store_upload
from tests.api.conftest import Tenant, set_plan
from tests.api.test_lead_imports import create_list
from workflows.lead_import import ImportProgress, LeadImportInput, LeadImportWorkflow
from workflows.names import LEAD_IMPORT, tenant_attributes, workflow_id

ROOT = Path(__file__).resolve().parents[2]
ROWS = 24_000
CHUNK_ROWS = 400


def _csv() -> tuple[bytes, set[str]]:
    lines = ["email,first name,score"]
    expected: set[str] = set()
    for i in range(ROWS):
        if i % 50 == 7:
            lines.append(f"broken-{i},X,{i}")  # invalid
        elif i % 40 == 3:
            lines.append(f"person{i - 1}@kill.example,dup,{i}")  # repeats the previous row
        else:
            lines.append(f"person{i}@kill.example,P{i},{i}")
            expected.add(f"person{i}@kill.example")
    return ("\n".join(lines) + "\n").encode(), expected


def _start_worker(
    settings: Settings, client: Client, codec_key: bytes, queue: str
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "ANALYTICS_DATABASE_URL": settings.analytics_database_url or "",
        "PM_TEST_TEMPORAL": client.service_client.config.target_host,
        "PM_TEST_NAMESPACE": client.namespace,
        "PM_TEST_CODEC_KEY": codec_key.hex(),
        "PM_TEST_QUEUE": queue,
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.import_worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


async def _pieces(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 1 << 16):
        yield data[i : i + (1 << 16)]


async def _committed(services: Services, tenant: Tenant, import_id: uuid.UUID) -> int:
    async with services.db.tenant_session(tenant.tenant_id) as session:
        _, chunks = await LeadImportRepository(session).sums(import_id)
    return chunks


async def _stored_import(
    services: Services, api: httpx.AsyncClient, tenant: Tenant, data: bytes, chunk_rows: int
) -> tuple[uuid.UUID, int]:
    """A new list and an import of `data` into it, stored as the upload route stores it;
    the import's id and stored size."""
    list_id = uuid.UUID(await create_list(api, tenant, f"worker-{uuid.uuid4().hex[:6]}"))
    tenant_id = uuid.UUID(tenant.tenant_id)
    import_id = uuid.uuid4()
    key = f"imports/{import_id}"
    async with services.db.tenant_session(tenant_id) as session:
        stored = await store_upload(session, tenant_id, key, _pieces(data))
        await LeadImportRepository(session).create(
            id=import_id,
            tenant_id=tenant_id,
            lead_list_id=list_id,
            content_storage_key=key,
            size_bytes=stored.size,
            chunk_rows=chunk_rows,
        )
    return import_id, stored.size


async def _start(
    client: Client, tenant: Tenant, import_id: uuid.UUID, size: int, queue: str
) -> WorkflowHandle[Any, ImportProgress]:
    tenant_id = uuid.UUID(tenant.tenant_id)
    return await client.start_workflow(
        LeadImportWorkflow.run,
        LeadImportInput(str(tenant_id), str(import_id), size),
        id=workflow_id(LEAD_IMPORT, tenant_id, import_id),
        task_queue=queue,
        search_attributes=tenant_attributes(tenant_id),
    )


async def test_killed_worker_changes_nothing(
    api: httpx.AsyncClient,
    services: Services,
    tenant_a: Tenant,
    settings: Settings,
    temporal_client: Client,
    codec_key: bytes,
) -> None:
    await set_plan(services, tenant_a.tenant_id, "growth")  # more leads than the trial's
    data, expected = _csv()
    import_id, size = await _stored_import(services, api, tenant_a, data, CHUNK_ROWS)
    tenant_id = uuid.UUID(tenant_a.tenant_id)
    queue = f"imports-kill-{uuid.uuid4().hex[:8]}"
    handle = await _start(temporal_client, tenant_a, import_id, size, queue)
    first = _start_worker(settings, temporal_client, codec_key, queue)
    try:
        for _ in range(1200):  # until a few chunks are committed, and far from all
            if await _committed(services, tenant_a, import_id) >= 3:
                break
            await asyncio.sleep(0.05)
        first.kill()
        first.wait()
        before = await _committed(services, tenant_a, import_id)
        total_chunks = -(-ROWS // CHUNK_ROWS)
        assert 3 <= before < total_chunks
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    second = _start_worker(settings, temporal_client, codec_key, queue)
    try:
        result = await asyncio.wait_for(handle.result(), timeout=300)
    finally:
        second.kill()
        second.wait()

    counts = result.counts
    assert result.status == "completed"
    assert counts.rows_total == ROWS
    assert counts.accepted + counts.rejected + counts.duplicates + counts.suppressed == ROWS
    assert counts.accepted == len(expected)
    assert counts.rejected == sum(1 for i in range(ROWS) if i % 50 == 7)

    r = await api.get(f"/v1/imports/{import_id}", headers=tenant_a.auth)
    assert r.json()["accepted"] == len(expected) and r.json()["status"] == "completed"
    async with services.db.tenant_session(tenant_id) as session:
        conn = await (await session.connection()).get_raw_connection()
        pg = conn.driver_connection
        chunks = await pg.fetch(
            "SELECT chunk_no FROM lead_import_chunks WHERE import_id = $1 ORDER BY chunk_no",
            import_id,
        )
        emails = await pg.fetch(
            "SELECT l.email FROM lead_list_members m JOIN leads l ON l.id = m.lead_id "
            "WHERE m.lead_list_id = (SELECT lead_list_id FROM lead_imports WHERE id = $1)",
            import_id,
        )
        live = await pg.fetchval(
            "SELECT count(*) FROM leads WHERE email LIKE '%@kill.example' AND deleted IS NULL"
        )
    # Each chunk committed once, none skipped (a file ending on a chunk boundary has one
    # more, empty, chunk that records the end).
    assert [c["chunk_no"] for c in chunks] == list(range(len(chunks)))
    assert len(chunks) in (total_chunks, total_chunks + 1)
    assert sorted(e["email"] for e in emails) == sorted(expected)
    assert live == len(expected)


async def test_a_running_import_reports_progress_to_its_workflow(
    api: httpx.AsyncClient,
    services: Services,
    tenant_a: Tenant,
    settings: Settings,
    temporal_client: Client,
    codec_key: bytes,
) -> None:
    """The batch activity signals the ledger's sums while it runs (the workflow answers
    progress queries from them): read back from the workflow's history."""
    await set_plan(services, tenant_a.tenant_id, "growth")  # more leads than the trial's
    data, expected = _csv()
    import_id, size = await _stored_import(services, api, tenant_a, data, CHUNK_ROWS)
    queue = f"imports-progress-{uuid.uuid4().hex[:8]}"
    handle = await _start(temporal_client, tenant_a, import_id, size, queue)
    worker = _start_worker(settings, temporal_client, codec_key, queue)
    try:
        result = await asyncio.wait_for(handle.result(), timeout=300)
    finally:
        worker.kill()
        worker.wait()
    assert result.status == "completed" and result.counts.accepted == len(expected)

    reports: list[ImportBatchProgress] = []
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            signaled = event.workflow_execution_signaled_event_attributes
            assert signaled.signal_name == REPORT_PROGRESS
            [report] = await temporal_client.data_converter.decode(
                signaled.input.payloads, [ImportBatchProgress]
            )
            reports.append(report)
    assert reports, "no progress was reported"
    for report in reports:
        c = report.counts
        assert 0 < c.rows_total <= ROWS and 0 < report.bytes_done <= size
        assert c.accepted + c.rejected + c.duplicates + c.suppressed == c.rows_total


async def test_the_result_does_not_depend_on_where_batches_end(
    api: httpx.AsyncClient, services: Services, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    """One chunk per batch (each batch resumes from the ledger and replays the chunks of its
    dedup window) ends with exactly the counts of one uninterrupted batch."""
    # Chunks of two rows: the suppressed address comes back two chunks later and again
    # two after that (inside the parser's window of two chunks: duplicates), a@ three
    # chunks later (outside it: the database finds it in the list).
    rows = ["s@sup.example", "a@x.com", "b@x.com", "c@x.com", "s@sup.example", "d@x.com"]
    rows += ["a@x.com", "e@x.com", "f@x.com", "s@sup.example", "g@x.com"]
    data = ("email\n" + "\n".join(rows) + "\n").encode()
    activities = LeadImportActivities(services.db, load_concurrency=2)
    env = ActivityEnvironment()
    results = []
    for tenant, budget in ((tenant_a, 0.0), (tenant_b, 600.0)):
        r = await api.post("/v1/suppressions", json={"email": "s@sup.example"}, headers=tenant.auth)
        assert r.status_code in (200, 201), r.text
        import_id, _ = await _stored_import(services, api, tenant, data, chunk_rows=2)
        batches, next_chunk = 0, 0
        while True:
            out = await env.run(
                activities.import_lead_batch,
                ImportBatchInput(tenant.tenant_id, str(import_id), next_chunk, budget),
            )
            batches += 1
            next_chunk = out.next_chunk
            if out.eof:
                break
        done = await env.run(
            activities.finish_lead_import, FinishImportInput(tenant.tenant_id, str(import_id))
        )
        results.append((batches, done.counts))
    (cut, counts_cut), (whole, counts_whole) = results
    assert cut >= 6 and whole == 1
    assert counts_cut == counts_whole
    assert (counts_whole.accepted, counts_whole.duplicates, counts_whole.suppressed) == (7, 3, 1)
