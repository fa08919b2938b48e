from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from penguinmails.models.leads import SUPPRESSION_KINDS, SUPPRESSION_REASONS

# `erased` is the erasure's own reason, never one to give.
REASONS = tuple(r for r in SUPPRESSION_REASONS if r != "erased")
if TYPE_CHECKING:
    Reason = str
    Kind = str
else:
    Reason = Literal[REASONS]
    Kind = Literal[SUPPRESSION_KINDS]


class SuppressionCreate(BaseModel):
    """Exactly one of `email` (kept only as its hash) or `domain`."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320)
    domain: str | None = Field(default=None, max_length=253)
    reason: Reason = "manual"

    @model_validator(mode="after")
    def one_target(self) -> SuppressionCreate:
        if (self.email is None) == (self.domain is None):
            raise ValueError("give exactly one of email or domain")
        return self


class SuppressionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    kind: str
    value: str = Field(description="sha256 hex of the address, or the domain")
    reason: str
    created: datetime


class SuppressionImportResult(BaseModel):
    rows_total: int
    added: int
    already: int
    rejected: int
    rejected_rows: list[dict[str, object]] = Field(
        description="the first rejected rows: line and reason"
    )
