from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    user_id: UUID | None = Field(
        default=None, description="Issue the key to this member (default: the caller)."
    )


class ApiKeyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    prefix: str
    user_id: UUID
    created: datetime
    last_used: datetime | None
    revoked: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="Shown once; store it now.")
