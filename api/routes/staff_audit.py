"""Staff: the audit trail of every tenant, filtered by tenant, actor, action and time,
oldest first and cursor-paginated like every list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api.deps import Principal, ServicesDep, require_staff
from api.pagination import CursorFirstDep, Page, PageLimit, page
from api.schemas.staff import AuditEntryPublic
from penguinmails.models.audit import ACTOR_TYPES
from penguinmails.repositories.audit import AuditFilter, AuditRepository

router = APIRouter(prefix="/v1/staff/audit", tags=["staff"])

AuditRead = Annotated[Principal, require_staff("audit.read")]


@router.get("", response_model=Page[AuditEntryPublic])
async def list_audit(
    after: CursorFirstDep,  # first: an invalid cursor is 400 whoever asks
    staff: AuditRead,
    services: ServicesDep,
    tenant_id: UUID | None = None,
    actor: Annotated[
        UUID | None, Query(description="The actor's id (a staff member's user)")
    ] = None,
    actor_type: Annotated[str | None, Query(pattern="^(" + "|".join(ACTOR_TYPES) + ")$")] = None,
    action: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    since: Annotated[datetime | None, Query(description="From this time (inclusive)")] = None,
    until: Annotated[datetime | None, Query(description="Before this time")] = None,
    limit: PageLimit = 50,
) -> Page[AuditEntryPublic]:
    # A time without an offset is UTC, as every stored time.
    since, until = (t if t is None or t.tzinfo else t.replace(tzinfo=UTC) for t in (since, until))
    where = AuditFilter(tenant_id, actor, actor_type, action, since, until)
    async with services.db.admin_session() as session:
        rows = await AuditRepository(session).list(where, after, limit)
    return page(rows, limit, AuditEntryPublic.model_validate)
