"""The audit trail: who did what to which entity, per tenant. Append-only for the
application role (SELECT and INSERT only); retention purges run as the system role.
`details` holds ids and changed field names, never personal data, so erasure need not
rewrite history."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from penguinmails.models.base import (
    TenantScoped,
    id_field,
    inet_field,
    jsonb_field,
    now_field,
    tenant_table_args,
)

# `recipient`: the person an e-mail went to, through a signed public link (migration 0006).
ACTOR_TYPES = ("user", "api_key", "staff", "system", "workflow", "recipient")


class AuditLog(TenantScoped, table=True):
    __tablename__ = "audit_logs"
    __table_args__ = tenant_table_args("audit_logs")

    id: UUID = id_field()
    actor_type: str
    actor_id: UUID | None = None  # no foreign key: the trail outlives its actors
    action: str
    entity_type: str
    entity_id: str | None = None
    details: dict[str, Any] = jsonb_field()
    request_id: str | None = None
    ip_address: str | None = inet_field()
    user_agent: str | None = None
    created: datetime = now_field()


__all__ = ["ACTOR_TYPES", "AuditLog"]
