"""SMTP (aiosmtplib) and IMAP (imaplib, in a thread) clients of the mailbox activities.

Passwords are passed in, used, and never logged or put into an answer: a detail string is
the server's reply or the reason a connection failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import os
import re
import socket
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses
from typing import Any

import aiosmtplib

from activities.interfaces.mailboxes import LoginCheck
from activities.interfaces.sending import SmtpFailure
from penguinmails.repositories.ip_addresses import SendingIp

TIMEOUT = 15.0


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    security: str = "starttls"  # ssl (implicit TLS), starttls, none
    username: str | None = None
    verify_tls: bool = True
    # A mailbox whose domain sends from a platform IP: the connection leaves from that
    # address (the host must hold it) and greets with the IP's PTR name, so the receiving
    # server's forward-confirmed reverse DNS and HELO checks match. None: the OS's choice.
    source_address: str | None = None
    local_hostname: str | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any], ip: SendingIp | None = None) -> ServerSettings:
        """A mailbox's server settings; with `ip` (its domain's platform IP), reached from
        that address and greeting with the IP's PTR name."""
        return cls(
            host=str(data["host"]),
            port=int(data["port"]),
            security=str(data.get("security") or "starttls"),
            username=data.get("username") or None,
            verify_tls=bool(data.get("verify_tls", True)),
            source_address=ip.ip_address if ip is not None else None,
            local_hostname=ip.helo_name if ip is not None else None,
        )


def tls_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout | aiosmtplib.SMTPTimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    text = " ".join(str(exc).split())
    errno = re.search(r"\[Errno (-?\d+)\]", text)
    if errno:  # "Error connecting to h on port p: [Errno 111] Connect call failed ..."
        where = text.split(":", 1)[0] if text.startswith("Error connecting") else ""
        reason = os.strerror(abs(int(errno.group(1))))
        return f"{where}: {reason}" if where else reason
    return text[:300] or type(exc).__name__


def _reply(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}"[:500]


# --- SMTP ------------------------------------------------------------------------------------


def smtp_client(settings: ServerSettings) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        use_tls=settings.security == "ssl",
        start_tls=settings.security == "starttls",
        timeout=TIMEOUT,
        tls_context=tls_context(settings.verify_tls) if settings.security != "none" else None,
        source_address=(settings.source_address, 0) if settings.source_address else None,
        local_hostname=settings.local_hostname,
    )


async def smtp_login(settings: ServerSettings, username: str, password: str) -> LoginCheck:
    """Connect, STARTTLS when configured, AUTH when the server offers it, QUIT."""
    client = smtp_client(settings)
    try:
        try:
            response = await client.connect()
        except (aiosmtplib.SMTPConnectResponseError, aiosmtplib.SMTPResponseException) as exc:
            return LoginCheck("unreachable", _reply(exc.code, exc.message))
        except (OSError, aiosmtplib.SMTPException, ssl.SSLError) as exc:
            return LoginCheck("unreachable", _reason(exc))
        await client.ehlo()  # the extensions offered after STARTTLS
        if not client.supports_extension("auth"):
            tls_first = settings.security == "none" and client.supports_extension("starttls")
            await client.quit()
            if tls_first:
                return LoginCheck(
                    "authentication_failed",
                    "the server offers login only after STARTTLS: set security to starttls",
                )
            return LoginCheck(
                "ok", f"{_reply(response.code, response.message)} (the server asks no login)"
            )
        try:
            answer = await client.login(username, password)
        except aiosmtplib.SMTPAuthenticationError as exc:
            return LoginCheck("authentication_failed", _reply(exc.code, exc.message))
        except aiosmtplib.SMTPResponseException as exc:
            outcome = "authentication_failed" if exc.code >= 500 else "unreachable"
            return LoginCheck(outcome, _reply(exc.code, exc.message))
        except (OSError, aiosmtplib.SMTPException) as exc:
            return LoginCheck("unreachable", _reason(exc))
        await client.quit()
        return LoginCheck("ok", _reply(answer.code, answer.message))
    finally:
        if client.is_connected:
            client.close()


class SmtpSendError(Exception):
    def __init__(self, failure: SmtpFailure) -> None:
        super().__init__(f"{failure.stage}: {failure.code} {failure.message}")
        self.failure = failure


def envelope_recipients(raw: bytes) -> list[str]:
    headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    values = [str(v) for name in ("To", "Cc", "Bcc") for v in headers.get_all(name, [])]
    return [addr for _, addr in getaddresses(values) if addr]


def message_id_of(raw: bytes) -> str | None:
    value = BytesHeaderParser(policy=default_policy).parsebytes(raw).get("Message-ID")
    return str(value).strip() if value else None


class _Connection:
    def __init__(self, settings: ServerSettings, fingerprint: tuple[Any, ...]) -> None:
        self.settings = settings
        self.fingerprint = fingerprint
        self.client = smtp_client(settings)


class MailboxLink:
    """The mailbox's connection while its lock is held (`SmtpConnections.hold`)."""

    def __init__(
        self, owner: SmtpConnections, conn: _Connection, username: str, password: str
    ) -> None:
        self._owner = owner
        self._conn = conn
        self._username = username
        self._password = password

    async def connect(self) -> None:
        """Open the connection (TLS, EHLO, AUTH) unless it is open: the delivery does it
        before its send transaction, so no lock waits on a slow server's greeting."""
        if not self._conn.client.is_connected:
            await self._owner._open(self._conn, self._username, self._password)

    async def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> tuple[int, str]:
        """MAIL, RCPT, DATA; SmtpSendError with the stage that failed. A connection lost
        before MAIL FROM is opened again (nothing was sent yet); one lost later is reported
        unanswered (`answered=False`), and during DATA the server may have the message."""
        conn = self._conn
        client = conn.client
        for attempt in (1, 2):
            if not conn.client.is_connected:
                await self._owner._open(conn, self._username, self._password)
            client = conn.client
            try:
                await client.mail(sender)
                break
            except aiosmtplib.SMTPServerDisconnected:
                if attempt == 2:
                    raise SmtpSendError(
                        SmtpFailure(421, "server disconnected", "mail", answered=False)
                    ) from None
                client.close()
            except aiosmtplib.SMTPResponseException as exc:
                await _reset(client)
                raise SmtpSendError(SmtpFailure(exc.code, exc.message, "mail")) from None
            except (aiosmtplib.SMTPException, OSError) as exc:
                client.close()
                raise SmtpSendError(
                    SmtpFailure(421, _reason(exc), "mail", answered=False)
                ) from None
        stage = "rcpt"
        try:
            refused: list[SmtpFailure] = []
            for recipient in recipients:
                try:
                    await client.rcpt(recipient)
                except aiosmtplib.SMTPResponseException as exc:
                    refused.append(SmtpFailure(exc.code, exc.message, "rcpt"))
            if refused and len(refused) == len(recipients):
                await _reset(client)
                raise SmtpSendError(refused[0])
            stage = "data"
            response = await client.data(raw)
        except aiosmtplib.SMTPResponseException as exc:
            await _reset(client)
            raise SmtpSendError(SmtpFailure(exc.code, exc.message, stage)) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise SmtpSendError(SmtpFailure(421, _reason(exc), stage, answered=False)) from None
        return response.code, response.message


class SmtpConnections:
    """One SMTP connection per mailbox within a worker process, reused send after send, and
    one lock per mailbox: `hold` keeps it for as long as the caller needs (the delivery
    activity holds it across its send transaction)."""

    def __init__(self) -> None:
        self._connections: dict[str, _Connection] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.opened = 0  # connections opened (for tests and metrics)

    @contextlib.asynccontextmanager
    async def hold(
        self, mailbox_key: str, settings: ServerSettings, username: str, password: str
    ) -> AsyncIterator[MailboxLink]:
        lock = self._locks.setdefault(mailbox_key, asyncio.Lock())
        async with lock:
            fingerprint = (settings, username, hash(password))
            conn = self._connections.get(mailbox_key)
            if conn is None or conn.fingerprint != fingerprint:
                if conn is not None:
                    await _close(conn.client)
                conn = self._connections[mailbox_key] = _Connection(settings, fingerprint)
            yield MailboxLink(self, conn, username, password)

    async def send(
        self,
        mailbox_key: str,
        settings: ServerSettings,
        username: str,
        password: str,
        sender: str,
        recipients: Sequence[str],
        raw: bytes,
    ) -> tuple[int, str]:
        async with self.hold(mailbox_key, settings, username, password) as link:
            return await link.send(sender, recipients, raw)

    async def _open(self, conn: _Connection, username: str, password: str) -> None:
        conn.client = smtp_client(conn.settings)
        try:
            await conn.client.connect()
        except aiosmtplib.SMTPResponseException as exc:
            conn.client.close()
            raise SmtpSendError(SmtpFailure(exc.code, exc.message, "connect")) from None
        except (OSError, aiosmtplib.SMTPException, ssl.SSLError) as exc:
            conn.client.close()
            raise SmtpSendError(SmtpFailure(0, _reason(exc), "connect", answered=False)) from None
        self.opened += 1
        try:
            await conn.client.ehlo()
        except aiosmtplib.SMTPResponseException as exc:
            conn.client.close()
            raise SmtpSendError(SmtpFailure(exc.code, exc.message, "helo")) from None
        except (OSError, aiosmtplib.SMTPException) as exc:
            conn.client.close()
            raise SmtpSendError(SmtpFailure(421, _reason(exc), "helo", answered=False)) from None
        if conn.client.supports_extension("auth"):
            try:
                await conn.client.login(username, password)
            except aiosmtplib.SMTPResponseException as exc:
                conn.client.close()
                raise SmtpSendError(SmtpFailure(exc.code, exc.message, "auth")) from None
            except (OSError, aiosmtplib.SMTPException) as exc:
                conn.client.close()
                raise SmtpSendError(
                    SmtpFailure(421, _reason(exc), "auth", answered=False)
                ) from None

    async def close(self) -> None:
        for conn in self._connections.values():
            await _close(conn.client)
        self._connections.clear()


async def _reset(client: aiosmtplib.SMTP) -> None:
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


async def _close(client: aiosmtplib.SMTP) -> None:
    if client.is_connected:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()


# --- IMAP ------------------------------------------------------------------------------------


def _imap_connect(settings: ServerSettings) -> imaplib.IMAP4:
    if settings.security == "ssl":
        return imaplib.IMAP4_SSL(
            settings.host,
            settings.port,
            ssl_context=tls_context(settings.verify_tls),
            timeout=TIMEOUT,
        )
    client = imaplib.IMAP4(settings.host, settings.port, timeout=TIMEOUT)
    if settings.security == "starttls":
        client.starttls(ssl_context=tls_context(settings.verify_tls))
    return client


def _imap_text(data: Any) -> str:
    parts = data if isinstance(data, list) else [data]
    return " ".join(p.decode("utf-8", "replace") if isinstance(p, bytes) else str(p) for p in parts)


def _imap_login_sync(settings: ServerSettings, username: str, password: str) -> LoginCheck:
    try:
        client = _imap_connect(settings)
    except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
        return LoginCheck("unreachable", _reason(exc))
    try:
        typ, data = client.login(username, password)
        detail = f"{typ} {_imap_text(data)}"
        client.logout()
        return LoginCheck("ok", detail)
    except imaplib.IMAP4.error as exc:
        return LoginCheck("authentication_failed", _reason(exc).strip("b'\""))
    except OSError as exc:
        return LoginCheck("unreachable", _reason(exc))
    finally:
        with contextlib.suppress(OSError):
            client.shutdown()


async def imap_login(settings: ServerSettings, username: str, password: str) -> LoginCheck:
    return await asyncio.to_thread(_imap_login_sync, settings, username, password)


SPAM_NAMES = ("junk", "spam", "junk e-mail", "bulk mail", "[gmail]/spam")
_LIST_ROW = re.compile(rb'^\((?P<flags>[^)]*)\) (?:"[^"]*"|NIL) (?P<name>.+)$')


def list_folders(client: imaplib.IMAP4) -> list[tuple[str, str]]:
    """(name, lower-cased flags) of every folder the server lists."""
    _, rows = client.list()
    found = []
    for row in rows or []:
        if not isinstance(row, bytes):
            continue
        match = _LIST_ROW.match(row)
        if match is not None:
            name = match.group("name").decode("utf-8", "replace").strip().strip('"')
            found.append((name, match.group("flags").decode("ascii", "replace").lower()))
    return found


def is_spam_folder(name: str, flags: str) -> bool:
    """Flagged \\Junk (RFC 6154), or named as providers name it."""
    return "\\junk" in flags or name.lower() in SPAM_NAMES


def _spam_folders_sync(settings: ServerSettings, username: str, password: str) -> list[str]:
    client = _imap_connect(settings)
    try:
        client.login(username, password)
        names = [name for name, flags in list_folders(client) if is_spam_folder(name, flags)]
        client.logout()
        return names
    finally:
        with contextlib.suppress(OSError):
            client.shutdown()


async def spam_folders(settings: ServerSettings, username: str, password: str) -> list[str]:
    """The mailbox's spam folders (replies and bounces land there too)."""
    return await asyncio.to_thread(_spam_folders_sync, settings, username, password)


def _sent_folder(client: imaplib.IMAP4) -> str:
    """The folder flagged \\Sent (RFC 6154), else one named Sent."""
    _, rows = client.list()
    names = []
    for row in rows or []:
        line = row.decode("utf-8", "replace") if isinstance(row, bytes) else str(row)
        name = line.rsplit(" ", 1)[-1].strip('"')
        if "\\Sent" in line:
            return name
        names.append(name)
    for name in names:
        if name.lower().endswith("sent"):
            return name
    return "Sent"


def _find_sent_sync(
    settings: ServerSettings, username: str, password: str, message_id: str
) -> bool:
    client = _imap_connect(settings)
    try:
        client.login(username, password)
        folder = _sent_folder(client)
        typ, _ = client.select(f'"{folder}"', readonly=True)
        if typ != "OK":
            return False
        typ, data = client.search(None, "HEADER", "Message-ID", f'"{message_id}"')
        found = bool(typ == "OK" and data and data[0] and data[0].split())
        client.logout()
        return found
    finally:
        with contextlib.suppress(OSError):
            client.shutdown()


async def sent_folder_has(
    settings: ServerSettings, username: str, password: str, message_id: str
) -> bool:
    """Whether the mailbox's Sent folder holds a message with this Message-ID (the outbox
    contract's question for a send whose outcome is unknown)."""
    return await asyncio.to_thread(_find_sent_sync, settings, username, password, message_id)


@dataclass(frozen=True)
class FetchedBatch:
    uidvalidity: int
    messages: list[tuple[int, bytes]]  # (UID, raw bytes, cut at the size limit + 1)
    more: bool  # UIDs beyond the batch are waiting


def _fetch_new_sync(
    settings: ServerSettings,
    username: str,
    password: str,
    folder: str,
    uidvalidity: int | None,
    after_uid: int,
    limit: int,
    max_bytes: int,
) -> FetchedBatch:
    client = _imap_connect(settings)
    try:
        client.login(username, password)
        # Read-only: polling never changes the user's flags (\Seen stays as it was).
        typ, data = client.select(f'"{folder}"', readonly=True)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"cannot select {folder}: {_imap_text(data)}")
        _, values = client.response("UIDVALIDITY")
        current = int(values[0]) if values and values[0] else 0
        if current != uidvalidity:
            after_uid = 0  # a rebuilt folder: every UID is new (stored ones are recognised)
        typ, data = client.uid("SEARCH", f"UID {after_uid + 1}:*")
        first = data[0] if typ == "OK" and data else None
        found = first.split() if isinstance(first, bytes) else []
        # `n:*` always answers the last message, even below n.
        uids = sorted(u for u in (int(x) for x in found) if u > after_uid)
        batch = uids[:limit]
        messages: list[tuple[int, bytes]] = []
        for uid in batch:
            typ, data = client.uid("FETCH", str(uid), f"(BODY.PEEK[]<0.{max_bytes + 1}>)")
            parts: list[Any] = list(data or [])
            raw = next((p[1] for p in parts if isinstance(p, tuple) and len(p) > 1), None)
            if typ == "OK" and isinstance(raw, bytes):
                messages.append((uid, raw))
        client.logout()
        return FetchedBatch(current, messages, len(uids) > limit)
    finally:
        with contextlib.suppress(OSError):
            client.shutdown()


async def fetch_new_messages(
    settings: ServerSettings,
    username: str,
    password: str,
    folder: str,
    uidvalidity: int | None,
    after_uid: int,
    limit: int,
    max_bytes: int,
) -> FetchedBatch:
    """The messages of `folder` after `after_uid` (all of them when the folder's
    UIDVALIDITY is not `uidvalidity`), at most `limit`, oldest first. Raises
    imaplib.IMAP4.error, OSError or ssl.SSLError when the server cannot be used."""
    return await asyncio.to_thread(
        _fetch_new_sync,
        settings,
        username,
        password,
        folder,
        uidvalidity,
        after_uid,
        limit,
        max_bytes,
    )


def imap_failure(exc: BaseException) -> str:
    """A short reason for a failed IMAP session (never a password)."""
    return _reason(exc).strip("b'\"")


__all__ = [
    "FetchedBatch",
    "MailboxLink",
    "ServerSettings",
    "SmtpConnections",
    "SmtpSendError",
    "envelope_recipients",
    "fetch_new_messages",
    "imap_failure",
    "imap_login",
    "message_id_of",
    "sent_folder_has",
    "smtp_login",
]
