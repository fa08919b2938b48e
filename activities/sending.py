"""The sending primitive: one built message through its mailbox's SMTP server.

Runs on the `sending` queue. Credentials come from Vault; the connection to each mailbox's
server is kept and reused by the next send within this worker process. The SMTP reply is
returned; 4xx and 5xx answers are raised with their codes (see `activities.interfaces.sending`).
"""

from __future__ import annotations

from dataclasses import asdict
from uuid import UUID

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.interfaces.sending import (
    SEND_MESSAGE,
    SMTP_AUTHENTICATION_FAILED,
    SMTP_PERMANENT,
    SMTP_TRANSIENT,
    SMTP_UNREACHABLE,
    TEMPLATE_INVALID,
    TEMPLATE_TOO_EXPENSIVE,
    SendMessageInput,
    SendMessageOutput,
)
from activities.mail_clients import (
    ServerSettings,
    SmtpConnections,
    SmtpSendError,
    envelope_recipients,
    message_id_of,
)
from penguinmails.db import Database
from penguinmails.mail.personalize import TemplateRenderError, TemplateTooExpensive
from penguinmails.mailboxes import read_credentials
from penguinmails.repositories.content import ContentRepository
from penguinmails.repositories.email_accounts import EmailAccountRepository
from penguinmails.repositories.ip_addresses import IpAddressRepository
from penguinmails.secrets import SecretStore, SecretStoreError


def render_failure(exc: TemplateRenderError) -> ApplicationError:
    """The activity error of a message whose template cannot be rendered within its budget:
    not retryable, since the same template fails the same way on every attempt."""
    kind = TEMPLATE_TOO_EXPENSIVE if isinstance(exc, TemplateTooExpensive) else TEMPLATE_INVALID
    return ApplicationError(str(exc), type=kind, non_retryable=True)


class SendingActivities:
    def __init__(
        self, db: Database, secrets: SecretStore | None, vps_id: str | None = None
    ) -> None:
        self.db = db
        self.vps_id = vps_id  # the server this worker runs on (None: a shared worker)
        self.secrets = secrets
        self.connections = SmtpConnections()

    @activity.defn(name=SEND_MESSAGE)
    async def send_message(self, data: SendMessageInput) -> SendMessageOutput:
        if self.secrets is None:
            raise ApplicationError("this worker has no secret store", type="NoSecretStore")
        async with self.db.tenant_session(data.tenant_id) as session:
            account = await EmailAccountRepository(session).get(UUID(data.email_account_id))
            raw = await ContentRepository(session).get(data.content_storage_key)
            ip = None
            if account is not None:
                ip = await IpAddressRepository(session).sending_ip(account.domain_id)
        if account is None:
            raise ApplicationError("mailbox not found", type="MailboxNotFound", non_retryable=True)
        if raw is None:
            raise ApplicationError("message not found", type="MessageNotFound", non_retryable=True)
        host = str(ip.vps_id) if ip is not None else None
        if host != self.vps_id:  # only the host holding the IP can send from it
            return SendMessageOutput(0, "sent from another host", other_host=True, host_vps_id=host)
        recipients = envelope_recipients(raw)
        if not recipients:
            raise ApplicationError("no recipients", type="NoRecipients", non_retryable=True)
        try:
            creds = await read_credentials(self.secrets, account)
        except SecretStoreError as exc:
            raise ApplicationError(str(exc), type="SecretStoreUnavailable") from None
        settings = ServerSettings.of(account.smtp_settings, ip)
        try:
            code, message = await self.connections.send(
                str(account.id),
                settings,
                settings.username or account.email,
                creds.smtp_password,
                account.email,
                recipients,
                raw,
            )
        except SmtpSendError as exc:
            failure = exc.failure
            if failure.stage == "connect" and failure.code == 0:
                kind, final = SMTP_UNREACHABLE, False
            elif failure.stage == "auth" and failure.code >= 500:
                kind, final = SMTP_AUTHENTICATION_FAILED, True
            elif 400 <= failure.code < 500:
                kind, final = SMTP_TRANSIENT, False
            else:
                kind, final = SMTP_PERMANENT, True
            raise ApplicationError(
                f"SMTP {failure.stage}: {failure.code} {failure.message}",
                asdict(failure),
                type=kind,
                non_retryable=final,
            ) from None
        return SendMessageOutput(code=code, message=message, message_id=message_id_of(raw))

    async def close(self) -> None:
        await self.connections.close()
