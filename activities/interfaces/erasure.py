"""Inputs, outputs and names of the erasure activities: light enough for workflow code."""

from __future__ import annotations

from dataclasses import dataclass

CANCEL_LEAD_WORKFLOWS = "cancel_lead_workflows"
ERASE_LEAD = "erase_lead"


@dataclass(frozen=True)
class CancelLeadWorkflowsInput:
    tenant_id: str
    lead_id: str
    # The erasure workflow itself carries the LeadId attribute too.
    exclude_workflow_id: str | None = None


@dataclass(frozen=True)
class CancelLeadWorkflowsOutput:
    cancelled: int


@dataclass(frozen=True)
class EraseLeadInput:
    tenant_id: str
    lead_id: str
    actor_type: str = "workflow"
    actor_id: str | None = None


@dataclass(frozen=True)
class EraseLeadOutput:
    found: bool
    erased_now: bool  # False on a repeat: the lead was erased already
    messages_scrubbed: int = 0
