from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.base import Patch
from penguinmails.models.tenancy import COMPANY_STATUSES

if TYPE_CHECKING:
    Status = str
else:
    Status = Literal[COMPANY_STATUSES]


class CompanyBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    domain: str | None = Field(default=None, max_length=253)
    industry: str | None = Field(default=None, max_length=100)
    size: str | None = Field(default=None, max_length=50)


class CompanyCreate(CompanyBase):
    pass


class CompanyUpdate(CompanyBase, Patch):
    status: Status


class CompanyPublic(CompanyBase):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    status: str
    is_default: bool
    created: datetime
    updated: datetime
