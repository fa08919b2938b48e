"""Sending the platform's own e-mail (penguinmails/transactional.py): due rows of
`transactional_emails`, claimed across tenants, rendered and handed to the platform's SMTP
server. A 5xx reply fails the message at once; a 4xx, a refused connection or a timeout
waits (doubling, up to `MAX_ATTEMPTS`). Delivery is at-least-once: a crash between the
server's 250 and the `sent` mark sends the message again after the lease, with the same
Message-ID."""

from __future__ import annotations

import ssl
from datetime import timedelta
from email.message import EmailMessage

import aiosmtplib
from temporalio import activity

from activities.interfaces.transactional import (
    SEND_TRANSACTIONAL_EMAILS,
    SendDueInput,
    SendDueOutput,
)
from activities.mail_clients import ServerSettings, smtp_client
from penguinmails.db import Database
from penguinmails.repositories.transactional_emails import DueEmail, TransactionalEmailRepository
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from penguinmails.transactional import (
    MAX_ATTEMPTS,
    build_message,
    message_id,
    render,
    retry_after,
)

# A claimed message is left alone this long (the SMTP exchange's time), then due again.
LEASE = timedelta(minutes=5)


class PermanentFailure(Exception):
    pass


class TransactionalActivities:
    def __init__(self, db: Database, secrets: SecretStore | None, settings: Settings) -> None:
        self.db = db
        self.secrets = secrets
        self.settings = settings

    def server(self) -> ServerSettings:
        s = self.settings
        return ServerSettings(
            host=s.platform_smtp_host or s.smtp_sink_host,
            port=s.platform_smtp_port or s.smtp_sink_port,
            security=s.platform_smtp_security,
            verify_tls=s.platform_smtp_verify_tls,
        )

    async def _login(self) -> tuple[str, str] | None:
        if self.secrets is None or not self.settings.platform_smtp_host:
            return None  # the development sink asks no login
        record = await self.secrets.read(self.settings.platform_smtp_secret_path)
        if not record or not record.get("username"):
            return None
        return str(record["username"]), str(record.get("password") or "")

    @activity.defn(name=SEND_TRANSACTIONAL_EMAILS)
    async def send_transactional_emails(self, data: SendDueInput) -> SendDueOutput:
        async with self.db.admin_session() as session:
            due = await TransactionalEmailRepository(session).claim_due(data.limit, LEASE)
        if not due:
            return SendDueOutput()
        login = await self._login()
        sent = retrying = failed = 0
        for email in due:
            activity.heartbeat(str(email.id))
            error = await self._send(email, login)
            async with self.db.admin_session() as session:
                repo = TransactionalEmailRepository(session)
                if error is None:
                    await repo.mark_sent(email.id)
                    sent += 1
                elif isinstance(error, PermanentFailure) or email.attempts >= MAX_ATTEMPTS:
                    await repo.mark_failed(email.id, str(error))
                    failed += 1
                else:
                    await repo.mark_retry(email.id, str(error), retry_after(email.attempts))
                    retrying += 1
        return SendDueOutput(sent, retrying, failed)

    def _message(self, email: DueEmail) -> EmailMessage:
        domain = self.settings.platform_mail_from.rpartition("@")[2].rstrip(">") or "localhost"
        rendered = render(email.type, email.payload)
        return build_message(
            rendered,
            self.settings.platform_mail_from,
            email.to_email,
            message_id(str(email.id), domain),
            email.type,
        )

    async def _send(self, email: DueEmail, login: tuple[str, str] | None) -> Exception | None:
        """None when the server took it; the failure otherwise (PermanentFailure: never
        try again)."""
        try:
            message = self._message(email)
        except Exception as exc:  # a template that cannot render this payload
            return PermanentFailure(f"render: {type(exc).__name__}: {exc}")
        client = smtp_client(self.server())
        try:
            await client.connect()
            if login is not None:
                await client.login(*login)
            await client.send_message(message)
            await client.quit()
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if codes and all(c >= 500 for c in codes):
                return PermanentFailure(f"recipient refused: {codes[0]}")
            return exc
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                return PermanentFailure(f"{exc.code} {exc.message}")
            return exc
        except (OSError, aiosmtplib.SMTPException, ssl.SSLError) as exc:
            return exc
        finally:
            if client.is_connected:
                client.close()
        return None
