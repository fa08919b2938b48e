from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.base import Patch
from penguinmails.models.leads import IMPORT_STATUSES, LEAD_STATUSES

if TYPE_CHECKING:
    LeadStatus = str
    ImportStatus = str
    SettableLeadStatus = str
else:
    LeadStatus = Literal[LEAD_STATUSES]
    ImportStatus = Literal[IMPORT_STATUSES]
    # Erasure is its own operation (DELETE), never a status to set.
    SettableLeadStatus = Literal[tuple(s for s in LEAD_STATUSES if s != "erased")]


class LeadListBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=2000)
    company_id: UUID | None = None


class LeadListCreate(LeadListBase):
    pass


class LeadListUpdate(LeadListBase, Patch):
    pass


class LeadListPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    description: str | None
    company_id: UUID | None
    source: str
    status: str
    original_filename: str | None
    row_count: int
    created: datetime
    updated: datetime


class ImportStarted(BaseModel):
    id: UUID
    lead_list_id: UUID
    status: str


class ImportPublic(BaseModel):
    id: UUID
    lead_list_id: UUID
    status: ImportStatus
    rows_total: int
    accepted: int
    rejected: int
    duplicates: int
    suppressed: int
    existing: int = Field(description="part of `accepted`: rows matching a lead the tenant had")
    percent: float
    error: str | None = None
    original_filename: str | None = None
    created: datetime
    completed: datetime | None = None


class LeadPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    email: str
    first_name: str | None
    last_name: str | None
    company: str | None
    position: str | None
    timezone: str | None
    custom_fields: dict[str, Any]
    status: str
    role_account: bool
    disposable_domain: bool
    created: datetime
    updated: datetime


class LeadUpdate(Patch):
    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    company: str | None = Field(default=None, max_length=255)
    position: str | None = Field(default=None, max_length=255)
    timezone: str | None = Field(default=None, max_length=64)
    custom_fields: dict[str, Any]
    status: SettableLeadStatus


class ErasureStarted(BaseModel):
    lead_id: UUID
    workflow_id: str
