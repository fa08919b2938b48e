"""The reply inbox: replies from every mailbox, newest first, each with what we sent it
about; a lead's thread; marking read and re-labelling the category; answering from the
same mailbox into the thread."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter

from api.deps import MemberDep, PrincipalDep, ServicesDep, SessionDep
from api.errors import ApiError, not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, encode_cursor
from api.schemas.inbox import (
    Category,
    InboxAnswer,
    InboxAnswerResult,
    InboxItem,
    InboxThread,
    InboxUpdate,
    SentMessage,
    ThreadMessage,
)
from penguinmails.mail.inbound import readable_text
from penguinmails.repositories.content import ContentRepository
from penguinmails.repositories.content_parts import ContentPartsRepository
from penguinmails.repositories.inbox import InboxFilters, InboxRepository
from usecases import inbox as uc

router = APIRouter(prefix="/v1/inbox", tags=["inbox"])


def _item(row: dict[str, Any]) -> InboxItem:
    sent = (
        SentMessage(
            id=row["sent_id"],
            message_id=row["sent_message_id"],
            subject=row["sent_subject"],
            sent_at=row["sent_at"],
        )
        if row["sent_id"]
        else None
    )
    return InboxItem(
        id=row["id"],
        received=row["created"],
        mailbox_id=row["mailbox_id"],
        campaign_id=row["campaign_id"],
        lead_id=row["lead_id"],
        message_id=row["message_id"],
        from_email=row["from_email"],
        subject=row["subject"],
        classification=row["classification"],
        category=row["category"],
        category_confidence=row["category_confidence"],
        category_source=row["category_source"],
        read=row["read_at"] is not None,
        sent=sent,
        thread_size=row["thread_size"],
    )


@router.get("", response_model=Page[InboxItem])
async def list_inbox(
    session: SessionDep,
    campaign_id: UUID | None = None,
    mailbox_id: UUID | None = None,
    unread: bool | None = None,
    category: Category | None = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> Page[InboxItem]:
    """Replies (human replies, unsubscribe requests in words, automatic replies), newest
    first; `next_cursor` continues to older ones."""
    rows = await InboxRepository(session).page(
        InboxFilters(campaign_id, mailbox_id, unread, category), decode_cursor(cursor), limit
    )
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1]["created"], rows[-1]["id"]) if more and rows else None
    return Page[InboxItem](items=[_item(r) for r in rows], next_cursor=cursor)


async def _text(session: SessionDep, key: str | None) -> str | None:
    if not key:
        return None
    parts = ContentPartsRepository(session)
    raw = b"".join([p async for p in parts.stream(key)])
    if not raw:
        raw = await ContentRepository(session).get(key) or b""
    return readable_text(raw) if raw else None


@router.get("/{inbound_id}", response_model=InboxThread)
async def get_thread(inbound_id: UUID, session: SessionDep) -> InboxThread:
    """The reply and its lead's whole thread in the campaign, oldest first, with the text
    of each message (quoted history cut)."""
    repo = InboxRepository(session)
    row = await repo.item(inbound_id)
    if row is None:
        raise not_found("inbox message")
    messages = [
        ThreadMessage(
            id=m["id"],
            direction=m["direction"],
            message_id=m["message_id"],
            from_email=m["from_email"],
            to_email=m["to_email"],
            subject=m["subject"],
            status=m["status"],
            classification=m["classification"],
            category=m["category"],
            parent_id=m["parent_message_id"],
            at=m["at"],
            text=await _text(session, m["content_storage_key"]),
        )
        for m in await repo.thread(inbound_id)
    ]
    return InboxThread(item=_item(row), messages=messages)


@router.patch("/{inbound_id}", response_model=InboxItem)
async def update_item(
    inbound_id: UUID, body: InboxUpdate, principal: MemberDep, session: SessionDep
) -> InboxItem:
    """Mark read or unread, and re-label the category (the tenant's label then has
    confidence 1 and source `tenant`)."""
    repo = InboxRepository(session)
    if await repo.item(inbound_id) is None:
        raise not_found("inbox message")
    if body.read is not None:
        await repo.set_read(inbound_id, body.read)
    if body.category is not None:
        await repo.set_category(inbound_id, body.category)
    row = await repo.item(inbound_id)
    assert row is not None
    return _item(row)


@router.post("/{inbound_id}/reply", status_code=201, response_model=InboxAnswerResult)
async def reply(
    inbound_id: UUID, body: InboxAnswer, principal: PrincipalDep, services: ServicesDep
) -> InboxAnswerResult:
    """Send `text` to the reply's sender from the mailbox that received it, threaded under
    the reply (In-Reply-To, References). The answer is in the outbox and the thread,
    `sent`, or `failed` with the server's answer."""
    try:
        row = await uc.answer(
            services.db, services.temporal, principal.tenant_id, inbound_id, body.text
        )
    except uc.InboxMessageNotFound:
        raise not_found("inbox message") from None
    except uc.MailboxNotUsable as exc:
        raise ApiError(409, str(exc)) from None
    return InboxAnswerResult(
        id=row["id"],
        message_id=row["message_id"],
        status=row["status"],
        error=row["error_message"],
        sent_at=row["sent_at"],
        in_reply_to=row["parent_message_id"],
    )
