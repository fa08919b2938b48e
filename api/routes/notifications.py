"""The member's in-app notifications (those for the whole tenant and their own), newest
first; mark one read."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from api.deps import MemberDep, PrincipalDep, SessionDep
from api.errors import not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, encode_cursor
from api.schemas.inbox import NotificationPublic
from penguinmails.repositories.notifications import NotificationRepository

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])


@router.get("", response_model=Page[NotificationPublic])
async def list_notifications(
    principal: PrincipalDep,
    session: SessionDep,
    unread: bool | None = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> Page[NotificationPublic]:
    rows = await NotificationRepository(session).page(
        principal.user_id, unread, decode_cursor(cursor), limit
    )
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1]["created"], rows[-1]["id"]) if more and rows else None
    return Page[NotificationPublic](
        items=[NotificationPublic(**r) for r in rows], next_cursor=cursor
    )


@router.post("/{notification_id}/read", response_model=NotificationPublic)
async def mark_read(
    notification_id: UUID, principal: MemberDep, session: SessionDep
) -> NotificationPublic:
    row = await NotificationRepository(session).mark_read(notification_id, principal.user_id)
    if row is None:
        raise not_found("notification")
    return NotificationPublic(**row)
