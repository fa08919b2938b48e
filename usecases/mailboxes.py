"""The mailbox login test: `MailboxTestWorkflow` logs in over SMTP and IMAP in a worker
(the API never talks SMTP itself) and stores the status; a mailbox found active gets its
inbox workflow."""

from __future__ import annotations

from uuid import UUID

from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy

from activities.interfaces.mailboxes import TestMailboxOutput
from penguinmails.db import Database
from penguinmails.repositories.email_accounts import EmailAccountRepository
from usecases.inbound import start_inbox
from workflows.mailbox_test import MailboxTestInput, MailboxTestWorkflow
from workflows.names import MAILBOX_TEST, TaskQueue, tenant_attributes, workflow_id


class MailboxTestFailed(Exception):
    """The test could not run (e.g. the secret store was down for every attempt)."""


async def run_mailbox_test(
    db: Database, client: Client, tenant_id: UUID, account_id: UUID
) -> TestMailboxOutput | None:
    """The test's result; None when the tenant has no such mailbox. No transaction is held
    while the workflow runs."""
    async with db.tenant_session(tenant_id) as session:
        if await EmailAccountRepository(session).get(account_id) is None:
            return None
    try:
        result: TestMailboxOutput = await client.execute_workflow(
            MailboxTestWorkflow.run,
            MailboxTestInput(str(tenant_id), str(account_id)),
            id=workflow_id(MAILBOX_TEST, tenant_id, account_id),
            task_queue=TaskQueue.INFRA,
            search_attributes=tenant_attributes(tenant_id, mailbox_id=str(account_id)),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except WorkflowFailureError as exc:
        cause: BaseException | None = exc.cause
        while cause is not None and getattr(cause, "cause", None) is not None:
            cause = cause.cause  # type: ignore[attr-defined]
        raise MailboxTestFailed(str(cause or exc)) from None
    if result.status == "active":
        # Active from now on: its inbox is polled (started, or woken if it waits).
        await start_inbox(client, tenant_id, account_id)
    return result
