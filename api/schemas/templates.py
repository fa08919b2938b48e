from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.base import Patch


class TemplateBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    subject: str = Field(min_length=1, max_length=998)
    body: str = Field(min_length=1, max_length=200_000)  # HTML with variables and spintax
    folders: list[str] = Field(default_factory=list, max_length=50)
    tags: list[str] = Field(default_factory=list, max_length=50)
    is_active: bool = True


class TemplateCreate(TemplateBase):
    pass


class TemplateUpdate(TemplateBase, Patch):
    pass


class TemplatePublic(BaseModel):
    id: UUID
    name: str
    subject: str | None
    body: str | None = None  # in single reads; lists leave it out
    content_storage_key: str
    variables: list[str]
    folders: list[str]
    tags: list[str]
    is_active: bool
    created: datetime
    updated: datetime


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lead_id: UUID | None = None  # none: sample data
    step_id: UUID | None = None  # the spintax seed with the lead
    email_account_id: UUID | None = None  # the sender's name, address and signature


class PreviewPublic(BaseModel):
    subject: str
    html: str
    text: str
    sample: bool
