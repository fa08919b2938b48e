"""The LeadImportWorkflow's orchestration with fake activities under the real names (the
real activities run in tests/api/test_lead_imports.py and the worker-kill test)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.interfaces.lead_imports import (
    FINISH_LEAD_IMPORT,
    IMPORT_FILE_INVALID,
    IMPORT_LEAD_BATCH,
    REPORT_PROGRESS,
    FinishImportInput,
    FinishImportOutput,
    ImportBatchInput,
    ImportBatchOutput,
    ImportBatchProgress,
    ImportCounts,
)
from workflows.lead_import import ImportProgress, LeadImportInput, LeadImportWorkflow

BATCH = ImportCounts(rows_total=10, accepted=7, rejected=1, duplicates=1, suppressed=1)


PARTIAL = ImportCounts(rows_total=4, accepted=3, rejected=1)


class Fakes:
    def __init__(self, fail_at: int | None = None, report: bool = False) -> None:
        self.fail_at = fail_at
        self.report = report
        self.release = asyncio.Event()
        self.finished: list[FinishImportInput] = []

    @activity.defn(name=IMPORT_LEAD_BATCH)
    async def batch(self, data: ImportBatchInput) -> ImportBatchOutput:
        if data.next_chunk == self.fail_at:
            raise ApplicationError("not CSV", type=IMPORT_FILE_INVALID, non_retryable=True)
        if data.next_chunk == 1:
            if self.report:  # as the real activity does: a late report of batch 0 first
                info = activity.info()
                assert info.workflow_id is not None
                handle = activity.client().get_workflow_handle(info.workflow_id)
                await handle.signal(REPORT_PROGRESS, ImportBatchProgress(0, BATCH, 999))
                await handle.signal(REPORT_PROGRESS, ImportBatchProgress(1, PARTIAL, 150))
            await self.release.wait()
        return ImportBatchOutput(
            data.next_chunk + 1, data.next_chunk == 2, BATCH, 100 * (data.next_chunk + 1)
        )

    @activity.defn(name=FINISH_LEAD_IMPORT)
    async def finish(self, data: FinishImportInput) -> FinishImportOutput:
        self.finished.append(data)
        status = "failed" if data.failed else "completed"
        return FinishImportOutput(status, ImportCounts(*(3 * v for v in vars(BATCH).values())))


@asynccontextmanager
async def running(
    env: WorkflowEnvironment, fakes: Fakes
) -> AsyncIterator[WorkflowHandle[Any, ImportProgress]]:
    """A lead import of 300 bytes started against a worker running `fakes`."""
    queue = f"imports-{uuid.uuid4().hex[:6]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[LeadImportWorkflow],
        activities=[fakes.batch, fakes.finish],
    ):
        yield await env.client.start_workflow(
            LeadImportWorkflow.run,
            LeadImportInput("t", "i", size_bytes=300),
            id=f"lead-import:t:{uuid.uuid4()}",
            task_queue=queue,
        )


async def progress_when(
    handle: WorkflowHandle[Any, ImportProgress], ready: Callable[[ImportProgress], bool]
) -> ImportProgress:
    progress = None
    for _ in range(200):
        progress = await handle.query(LeadImportWorkflow.get_progress)
        if ready(progress):
            break
        await asyncio.sleep(0.05)
    assert progress is not None
    return progress


async def test_progress_by_query_then_the_ledger_totals(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    async with running(temporal_time_skipping, fakes) as handle:
        progress = await progress_when(handle, lambda p: p.counts.rows_total > 0)
        assert progress.status == "running"
        assert progress.counts == BATCH and progress.percent == 33.3
        fakes.release.set()
        result = await handle.result()
    assert result.status == "completed" and result.counts.rows_total == 30
    assert result.percent == 100.0 and fakes.finished[0].failed is False


async def test_a_running_batch_reports_progress_by_signal(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    fakes = Fakes(report=True)
    async with running(temporal_time_skipping, fakes) as handle:
        progress = await progress_when(handle, lambda p: p.bytes_done == 150)
        # Batch 0's counts, then batch 1's report; batch 0's late one was ignored.
        assert progress.status == "running"
        assert progress.counts == BATCH.plus(PARTIAL) and progress.percent == 50.0
        fakes.release.set()
        result = await handle.result()
    assert result.status == "completed" and result.counts.rows_total == 30


async def test_a_file_that_cannot_be_read_ends_failed_with_the_reason(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    fakes = Fakes(fail_at=0)
    async with running(temporal_time_skipping, fakes) as handle:
        result = await handle.result()
    assert result.status == "failed" and result.error == "not CSV"
    assert fakes.finished[0].failed and fakes.finished[0].error == "not CSV"
