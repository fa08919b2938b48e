"""Lead import: one per uploaded CSV. Drives the batch activity until the file ends,
answers progress by query, and records the outcome from the chunk ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
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

HEARTBEAT_TIMEOUT = timedelta(seconds=15)
# Both activities: retried (1 s doubling to 30 s) until they succeed, unless the file itself
# cannot be imported.
RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=30), non_retryable_error_types=[IMPORT_FILE_INVALID]
)


@dataclass(frozen=True)
class LeadImportInput:
    tenant_id: str
    import_id: str
    size_bytes: int = 0
    # Carried across continue-as-new.
    next_chunk: int = 0
    counts: ImportCounts = field(default_factory=ImportCounts)
    bytes_done: int = 0


@dataclass(frozen=True)
class ImportProgress:
    status: str  # running | completed | failed
    counts: ImportCounts
    size_bytes: int
    bytes_done: int
    error: str | None = None

    @property
    def percent(self) -> float:
        if self.status != "running":
            return 100.0
        if not self.size_bytes:
            return 0.0
        return round(min(100.0, 100.0 * self.bytes_done / self.size_bytes), 1)


@workflow.defn(name="LeadImportWorkflow")
class LeadImportWorkflow:
    def __init__(self) -> None:
        self._progress = ImportProgress("running", ImportCounts(), 0, 0)
        # The running batch: its first chunk and the counts of the batches before it.
        self._batch_first = -1
        self._batch_base = ImportCounts()

    @workflow.run
    async def run(self, data: LeadImportInput) -> ImportProgress:
        counts, next_chunk, bytes_done = data.counts, data.next_chunk, data.bytes_done
        self._progress = ImportProgress("running", counts, data.size_bytes, bytes_done)
        error: str | None = None
        try:
            while True:
                self._batch_first, self._batch_base = next_chunk, counts
                out: ImportBatchOutput = await workflow.execute_activity(
                    IMPORT_LEAD_BATCH,
                    ImportBatchInput(data.tenant_id, data.import_id, next_chunk),
                    result_type=ImportBatchOutput,
                    start_to_close_timeout=timedelta(minutes=30),
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    retry_policy=RETRY,
                )
                self._batch_first = -1
                counts = counts.plus(out.counts)
                next_chunk, bytes_done = out.next_chunk, out.bytes_done
                self._progress = ImportProgress("running", counts, data.size_bytes, bytes_done)
                if out.eof:
                    break
                if workflow.info().is_continue_as_new_suggested():
                    workflow.continue_as_new(
                        LeadImportInput(
                            data.tenant_id,
                            data.import_id,
                            data.size_bytes,
                            next_chunk,
                            counts,
                            bytes_done,
                        )
                    )
        except ActivityError as exc:
            cause = exc.cause
            if not (isinstance(cause, ApplicationError) and cause.type == IMPORT_FILE_INVALID):
                raise
            error = cause.message
        result: FinishImportOutput = await workflow.execute_activity(
            FINISH_LEAD_IMPORT,
            FinishImportInput(data.tenant_id, data.import_id, error is not None, error),
            result_type=FinishImportOutput,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RETRY,
        )
        self._progress = ImportProgress(
            result.status, result.counts, data.size_bytes, data.size_bytes, error
        )
        return self._progress

    @workflow.signal(name=REPORT_PROGRESS)
    def report_progress(self, report: ImportBatchProgress) -> None:
        """From the running batch activity; a report of another batch (a late one, or a
        zombie attempt's) is ignored, and so is one that would move progress back."""
        if report.first_chunk != self._batch_first or self._progress.status != "running":
            return
        if report.bytes_done < self._progress.bytes_done:
            return
        self._progress = ImportProgress(
            "running",
            self._batch_base.plus(report.counts),
            self._progress.size_bytes,
            report.bytes_done,
        )

    @workflow.query
    def get_progress(self) -> ImportProgress:
        return self._progress
