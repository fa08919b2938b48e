"""Staff: the system notifications (platform alerts; `tenant_id` says which tenant one is
about), newest last like every list; resolve one (audited)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter

from api.deps import Principal, ServicesDep, require_staff
from api.errors import not_found
from api.pagination import CursorFirstDep, Page, PageLimit, page
from api.routes.staff_tenants import actor_of
from api.schemas.staff import SystemNotificationPublic
from penguinmails.repositories.system_notifications import SystemNotificationRepository
from usecases.staff import resolve_notification

router = APIRouter(prefix="/v1/staff/system-notifications", tags=["staff"])

NotificationsRead = Annotated[Principal, require_staff("notifications.read")]
NotificationsWrite = Annotated[Principal, require_staff("notifications.write")]


@router.get("", response_model=Page[SystemNotificationPublic])
async def list_system_notifications(
    after: CursorFirstDep,  # first: an invalid cursor is 400 whoever asks
    staff: NotificationsRead,
    services: ServicesDep,
    unresolved: bool | None = None,
    limit: PageLimit = 50,
) -> Page[SystemNotificationPublic]:
    """`unresolved=true`: only those still open; `false`: only resolved ones."""
    async with services.db.admin_session() as session:
        rows = await SystemNotificationRepository(session).list(unresolved, after, limit)
    return page(rows, limit, SystemNotificationPublic.model_validate)


@router.post("/{notification_id}/resolve", response_model=SystemNotificationPublic)
async def resolve(
    notification_id: UUID, staff: NotificationsWrite, services: ServicesDep
) -> SystemNotificationPublic:
    """Mark it resolved (again: unchanged)."""
    note = await resolve_notification(
        services.db, notification_id, actor_of(staff), staff.tenant_id
    )
    if note is None:
        raise not_found("system notification")
    return SystemNotificationPublic.model_validate(note)
