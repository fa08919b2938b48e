from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class SignUp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    owner_email: EmailStr


class SignUpResult(BaseModel):
    tenant_id: UUID
    user_id: UUID
    api_key: str = Field(description="Shown once; store it now.")


class TenantPublic(BaseModel):
    id: UUID
    name: str
    created: datetime
    provisioning: str
