"""Answering a reply from the inbox: the message built and stored, the outbox row written
(threaded under the reply) and committed, then `InboxReplyWorkflow` sends it through the
mailbox's SMTP server and the row ends `sent` or `failed`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from temporalio.client import Client, WorkflowFailureError

from activities.interfaces.sending import SendMessageOutput
from penguinmails.db import Database
from penguinmails.mail.inbox_reply import answer_message_id, build_answer
from penguinmails.repositories.content import ContentRepository
from penguinmails.repositories.inbox import InboxRepository
from workflows.inbox_reply import InboxReplyInput, InboxReplyWorkflow
from workflows.names import INBOX_REPLY, TaskQueue, tenant_attributes, workflow_id


class InboxMessageNotFound(LookupError):
    pass


class MailboxNotUsable(Exception):
    """The mailbox that received the reply is deleted or not active."""


async def answer(
    db: Database, client: Client, tenant_id: UUID, inbound_id: UUID, text: str
) -> dict[str, Any]:
    """The answer's outbox row after its send (status `sent` or `failed`)."""
    async with db.tenant_session(tenant_id) as session:
        repo = InboxRepository(session)
        target = await repo.answer_target(inbound_id)
        if target is None or not target["from_email"]:
            raise InboxMessageNotFound
        if target["mailbox_deleted"] is not None or target["mailbox_status"] != "active":
            raise MailboxNotUsable(f"the mailbox is {target['mailbox_status']}")
        message_id = answer_message_id(target["mailbox_email"])
        raw = build_answer(
            mailbox=target["mailbox_email"],
            from_name=target["from_name"],
            to=target["from_email"],
            subject=target["subject"],
            message_id=message_id,
            in_reply_to=target["message_id"],
            references=[target["parent_message_id"] or ""],
            text=text,
        )
        key = await ContentRepository(session).put(tenant_id, raw, "message/rfc822")
        answer_id = await repo.insert_answer(
            tenant_id,
            email_account_id=target["email_account_id"],
            campaign_id=target["campaign_id"],
            lead_id=target["lead_id"],
            parent_message_id=inbound_id,
            message_id=message_id,
            in_reply_to=target["message_id"],
            from_email=target["mailbox_email"],
            to_email=target["from_email"],
            subject=_subject(target["subject"]),
            content_storage_key=key,
        )
    error: str | None = None
    try:
        out: SendMessageOutput = await client.execute_workflow(
            InboxReplyWorkflow.run,
            InboxReplyInput(str(tenant_id), str(target["email_account_id"]), key),
            id=workflow_id(INBOX_REPLY, tenant_id, answer_id),
            task_queue=TaskQueue.CAMPAIGNS,
            search_attributes=tenant_attributes(
                tenant_id, mailbox_id=str(target["email_account_id"])
            ),
        )
    except WorkflowFailureError as exc:
        cause: BaseException | None = exc.cause
        while getattr(cause, "cause", None) is not None:
            cause = cause.cause  # type: ignore[union-attr]
        error = str(cause or exc)[:1000]
    else:
        if out.other_host:  # its host never took it (the workflow gave up hopping)
            error = "the mailbox's sending server could not be reached"
        elif out.code >= 400:
            error = f"{out.code} {out.message}"[:1000]
    async with db.tenant_session(tenant_id) as session:
        repo = InboxRepository(session)
        await repo.finish_answer(answer_id, error is None, error)
        row = await repo.answer(answer_id)
    assert row is not None
    return row


def _subject(subject: str | None) -> str:
    base = (subject or "").strip()
    return base if base.lower().startswith("re:") else f"Re: {base}".rstrip()
