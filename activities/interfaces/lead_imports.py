"""Inputs, outputs and names of the lead import activities: light enough for workflow code."""

from __future__ import annotations

from dataclasses import dataclass

IMPORT_LEAD_BATCH = "import_lead_batch"
FINISH_LEAD_IMPORT = "finish_lead_import"
# Raised (non-retryable) when the file itself cannot be imported.
IMPORT_FILE_INVALID = "ImportFileInvalid"


@dataclass(frozen=True)
class ImportCounts:
    rows_total: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    suppressed: int = 0
    existing: int = 0  # part of `accepted`: rows that matched a lead the tenant had

    def plus(self, other: ImportCounts) -> ImportCounts:
        return ImportCounts(
            self.rows_total + other.rows_total,
            self.accepted + other.accepted,
            self.rejected + other.rejected,
            self.duplicates + other.duplicates,
            self.suppressed + other.suppressed,
            self.existing + other.existing,
        )


# The workflow's signal that carries a running batch's progress.
REPORT_PROGRESS = "report_progress"


@dataclass(frozen=True)
class ImportBatchInput:
    tenant_id: str
    import_id: str
    next_chunk: int = 0
    # Work this long, then return (the workflow's history stays short, a continue-as-new
    # can happen); meanwhile signal progress every `progress_seconds`. A restart costs the
    # pipeline's drain and refill, so batches are long.
    budget_seconds: float = 120.0
    progress_seconds: float = 2.0


@dataclass(frozen=True)
class ImportBatchProgress:
    """A running batch's progress: the ledger's sums from the batch's first chunk, and the
    furthest byte a committed chunk reached."""

    first_chunk: int
    counts: ImportCounts
    bytes_done: int


@dataclass(frozen=True)
class ImportBatchOutput:
    next_chunk: int
    eof: bool
    counts: ImportCounts  # of the chunks this batch covers (from the ledger)
    bytes_done: int = 0


@dataclass(frozen=True)
class FinishImportInput:
    tenant_id: str
    import_id: str
    failed: bool = False
    error: str | None = None


@dataclass(frozen=True)
class FinishImportOutput:
    status: str
    counts: ImportCounts
