"""Outbound webhook endpoints, their deliveries and attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.base import Patch
from penguinmails.webhooks import EVENT_TYPES

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]


class WebhookBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048)
    event_types: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES))
    description: str | None = Field(default=None, max_length=500)


class WebhookCreate(WebhookBase):
    pass


class WebhookUpdate(WebhookBase, Patch):
    # `active` re-enables an endpoint that was disabled after a day of failures.
    status: Literal["active", "disabled"]


class WebhookPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    url: str
    description: str | None
    event_types: list[str]
    status: str
    disabled_reason: str | None
    failing_since: datetime | None
    last_success_at: datetime | None
    created: datetime
    updated: datetime


class WebhookCreated(WebhookPublic):
    # Shown once: PenguinMails signs every delivery with it (see docs/operations.md).
    secret: str


class WebhookSecret(BaseModel):
    secret: str


class AttemptPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status_code: int | None
    error: str | None
    duration_ms: int
    attempted_at: datetime


class DeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    event_id: str
    event_type: str
    occurred_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created: datetime
    attempt_log: list[AttemptPublic] = Field(default_factory=list)


class TestEventAccepted(BaseModel):
    event_id: str
