"""Mailbox activities: the login test over SMTP and IMAP that sets a mailbox's status."""

from __future__ import annotations

from dataclasses import asdict
from uuid import UUID

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.interfaces.mailboxes import (
    TEST_MAILBOX_LOGIN,
    LoginCheck,
    TestMailboxInput,
    TestMailboxOutput,
)
from activities.mail_clients import ServerSettings, imap_login, smtp_login
from penguinmails.db import Database
from penguinmails.mailboxes import read_credentials
from penguinmails.models.base import utcnow
from penguinmails.repositories.email_accounts import EmailAccountRepository
from penguinmails.secrets import SecretStore, SecretStoreError


def status_of(smtp: LoginCheck, imap: LoginCheck) -> str:
    outcomes = {smtp.outcome, imap.outcome}
    if "unreachable" in outcomes:
        return "unreachable"
    if "authentication_failed" in outcomes:
        return "authentication_failed"
    return "active"


class MailboxActivities:
    def __init__(self, db: Database, secrets: SecretStore | None) -> None:
        self.db = db
        self.secrets = secrets

    @activity.defn(name=TEST_MAILBOX_LOGIN)
    async def test_mailbox_login(self, data: TestMailboxInput) -> TestMailboxOutput:
        """Idempotent: logs in and overwrites the last result."""
        if self.secrets is None:
            raise ApplicationError("this worker has no secret store", type="NoSecretStore")
        account_id = UUID(data.email_account_id)
        async with self.db.tenant_session(data.tenant_id) as session:
            account = await EmailAccountRepository(session).get(account_id)
        if account is None:
            return TestMailboxOutput(data.email_account_id, "gone")
        try:
            creds = await read_credentials(self.secrets, account)
        except SecretStoreError as exc:  # retried: Vault may be back in a moment
            raise ApplicationError(str(exc), type="SecretStoreUnavailable") from None
        smtp_settings = ServerSettings.of(account.smtp_settings)
        imap_settings = ServerSettings.of(account.imap_settings)
        smtp = await smtp_login(
            smtp_settings, smtp_settings.username or account.email, creds.smtp_password
        )
        imap = await imap_login(
            imap_settings, imap_settings.username or account.email, creds.imap_password
        )
        status = status_of(smtp, imap)
        async with self.db.tenant_session(data.tenant_id) as session:
            repo = EmailAccountRepository(session)
            account = await repo.get(account_id, for_update=True)
            if account is None:
                return TestMailboxOutput(data.email_account_id, "gone")
            await repo.record_test(
                account, status, {"smtp": asdict(smtp), "imap": asdict(imap)}, utcnow()
            )
        activity.logger.info(
            "mailbox %s tested: %s (smtp %s, imap %s)",
            data.email_account_id,
            status,
            smtp.outcome,
            imap.outcome,
        )
        return TestMailboxOutput(data.email_account_id, status, smtp, imap)
