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


@dataclass(frozen=True)
class ImportBatchInput:
    tenant_id: str
    import_id: str
    next_chunk: int = 0
    # Work this long, then return so the workflow records progress.
    budget_seconds: float = 3.0


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
