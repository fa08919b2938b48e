from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from penguinmails.models.tenancy import ROLES

if TYPE_CHECKING:
    Role = str
else:
    Role = Literal[ROLES]


class UserInvite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    name: str | None = Field(default=None, max_length=200)
    roles: list[Role] = Field(default=["member"], min_length=1)


class UserRolesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[Role] = Field(min_length=1)


class UserPublic(BaseModel):
    id: UUID
    email: str
    name: str | None
    roles: list[str]
    created: datetime
