from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# The same limits as the names a template gives in its `folders` and `tags`.
LabelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class FolderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: LabelName


class FolderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: LabelName | None = None


class FolderPublic(BaseModel):
    id: UUID
    name: str
    template_count: int
    created: datetime
    updated: datetime


class TagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: LabelName
    description: str | None = Field(default=None, max_length=1000)
    default_value: str | None = Field(default=None, max_length=1000)


class TagUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: LabelName | None = None
    description: str | None = Field(default=None, max_length=1000)
    default_value: str | None = Field(default=None, max_length=1000)


class TagPublic(BaseModel):
    id: UUID
    name: str
    description: str | None
    default_value: str | None
    template_count: int
    created: datetime
    updated: datetime
