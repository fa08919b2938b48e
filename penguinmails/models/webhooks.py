"""A tenant's outbound webhooks: endpoints, deliveries (one per endpoint and event) and the
attempts of each (the delivery log). Migration 0013; decisions in docs/schema.md."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ARRAY, Column, Text, UniqueConstraint
from sqlmodel import Field

from penguinmails.models.base import (
    TenantScoped,
    id_field,
    jsonb_field,
    now_field,
    tenant_fk,
    tenant_table_args,
    timestamp_field,
)

ENDPOINT_STATUSES = ("active", "disabled")
DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookEndpoint(TenantScoped, table=True):
    __tablename__ = "webhook_endpoints"
    __table_args__ = tenant_table_args("webhook_endpoints")

    id: UUID = id_field()
    url: str
    description: str | None = None
    event_types: list[str] = Field(sa_column=Column(ARRAY(Text()), nullable=False))
    vault_key_path: str  # the signing secret lives in Vault only
    status: str = Field(default="active", sa_column_kwargs={"server_default": "active"})
    disabled_reason: str | None = None
    failing_since: datetime | None = timestamp_field()
    last_success_at: datetime | None = timestamp_field()
    created: datetime = now_field()
    updated: datetime = now_field()
    deleted: datetime | None = timestamp_field()


class WebhookDelivery(TenantScoped, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = tenant_table_args(
        "webhook_deliveries",
        tenant_fk("webhook_deliveries", "endpoint_id", "webhook_endpoints", ondelete="CASCADE"),
        UniqueConstraint(
            "tenant_id", "endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"
        ),
    )

    id: UUID = id_field()
    endpoint_id: UUID
    event_id: str
    event_type: str
    occurred_at: datetime = timestamp_field(nullable=False)
    payload: dict[str, Any] = jsonb_field()
    status: str = Field(default="pending", sa_column_kwargs={"server_default": "pending"})
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime = now_field()
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = timestamp_field()
    created: datetime = now_field()


class WebhookAttempt(TenantScoped, table=True):
    __tablename__ = "webhook_attempts"
    __table_args__ = tenant_table_args(
        "webhook_attempts",
        tenant_fk("webhook_attempts", "delivery_id", "webhook_deliveries", ondelete="CASCADE"),
    )

    id: UUID = id_field()
    delivery_id: UUID
    status_code: int | None = None
    error: str | None = None
    duration_ms: int
    attempted_at: datetime = now_field()
