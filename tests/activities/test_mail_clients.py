"""SMTP and IMAP logins and the Sent-folder question against real servers: an aiosmtpd
server that requires STARTTLS and AUTH, the dev SMTP sink, and Dovecot."""

from __future__ import annotations

import uuid

from activities.mail_clients import ServerSettings, imap_login, sent_folder_has, smtp_login
from devstack.dovecot import Dovecot
from devstack.ports import free_port
from devstack.smtp_sink import SmtpSink
from tests.fixtures.mail import AuthSmtpServer


def tls(server: AuthSmtpServer, security: str = "starttls") -> ServerSettings:
    return ServerSettings(server.host, server.port, security, verify_tls=False)


async def test_smtp_login_over_starttls(smtp_auth_server: AuthSmtpServer) -> None:
    user = f"u{uuid.uuid4().hex[:6]}@acme.test"
    smtp_auth_server.users[user] = "right-password"
    ok = await smtp_login(tls(smtp_auth_server), user, "right-password")
    assert ok.outcome == "ok" and ok.detail.startswith("235")
    bad = await smtp_login(tls(smtp_auth_server), user, "wrong")
    assert bad.outcome == "authentication_failed" and bad.detail.startswith("535")
    # Without STARTTLS the server offers no login at all: a configuration error, said so.
    plain = await smtp_login(tls(smtp_auth_server, "none"), user, "right-password")
    assert plain.outcome == "authentication_failed" and "STARTTLS" in plain.detail
    # A certificate that does not verify is refused unless told otherwise.
    strict = ServerSettings(smtp_auth_server.host, smtp_auth_server.port, "starttls")
    refused = await smtp_login(strict, user, "right-password")
    assert refused.outcome == "unreachable" and "certificate" in refused.detail.lower()


async def test_smtp_unreachable(smtp_sink: SmtpSink) -> None:
    closed = await smtp_login(ServerSettings("127.0.0.1", free_port(), "none"), "u", "p")
    assert closed.outcome == "unreachable" and "refused" in closed.detail.lower()
    # The dev sink asks no login: connecting is the whole test.
    sink = await smtp_login(ServerSettings(smtp_sink.host, smtp_sink.port, "none"), "u", "p")
    assert sink.outcome == "ok" and "no login" in sink.detail


async def test_imap_login_and_sent_folder_search(dovecot: Dovecot) -> None:
    user = f"i{uuid.uuid4().hex[:6]}@acme.test"
    dovecot.add_user(user, "imap-pass")
    server = ServerSettings(dovecot.host, dovecot.port, "none")
    ok = await imap_login(server, user, "imap-pass")
    assert ok.outcome == "ok" and ok.detail.startswith("OK")
    bad = await imap_login(server, user, "nope")
    assert bad.outcome == "authentication_failed" and "AUTHENTICATIONFAILED" in bad.detail
    down = await imap_login(ServerSettings("127.0.0.1", free_port(), "none"), user, "x")
    assert down.outcome == "unreachable"

    message_id = f"<{uuid.uuid4().hex}@acme.test>"
    dovecot.deliver(user, f"Message-ID: {message_id}\r\nSubject: s\r\n\r\nhi\r\n".encode(), "Sent")
    assert await sent_folder_has(server, user, "imap-pass", message_id)
    assert not await sent_folder_has(server, user, "imap-pass", f"<{uuid.uuid4().hex}@acme.test>")
