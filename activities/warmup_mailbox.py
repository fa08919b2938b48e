"""The warmup exchange's IMAP side: find the warmup messages a mailbox received, in its
inbox and in its spam folder, then file them once they are recorded (opened, out of spam,
out of the inbox into a folder of their own). imaplib, in a thread, like the inbox poll.

Two sessions a round on purpose: the messages are recorded between them, so a round cut
after `find` finds the same messages again and records nothing twice (the interactions are
unique per message)."""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
from collections import defaultdict
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any

from activities.mail_clients import ServerSettings, _imap_connect, is_spam_folder, list_folders
from penguinmails.warmup_exchange import HEADER

WARMUP_FOLDER = "Warmup"  # where filed warmup messages go (out of the user's way)


@dataclass(frozen=True)
class FoundWarmup:
    folder: str
    uid: str
    message_id: str
    subject: str
    sender: str
    marker: str
    in_reply_to: str
    spam: bool


def _folders(client: imaplib.IMAP4) -> tuple[list[str], bool]:
    """The spam folders and whether the warmup folder exists."""
    listed = list_folders(client)
    spam = [n for n, flags in listed if n != WARMUP_FOLDER and is_spam_folder(n, flags)]
    return spam, any(n == WARMUP_FOLDER for n, _ in listed)


def _find_sync(
    settings: ServerSettings, username: str, password: str, limit: int
) -> list[FoundWarmup]:
    client = _imap_connect(settings)
    found: list[FoundWarmup] = []
    try:
        client.login(username, password)
        spam, _ = _folders(client)
        for folder in ["INBOX", *spam]:
            typ, _ = client.select(f'"{folder}"', readonly=True)
            if typ != "OK":
                continue
            # HEADER with an empty string matches every message that has the field.
            typ, data = client.uid("SEARCH", "HEADER", HEADER, '""')
            first = data[0] if typ == "OK" and data else None
            uids = first.decode().split() if isinstance(first, bytes) else []
            for uid in uids[: max(0, limit - len(found))]:
                typ, data = client.uid(
                    "FETCH",
                    uid,
                    "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID SUBJECT FROM IN-REPLY-TO "
                    f"{HEADER.upper()})])",
                )
                parts: list[Any] = list(data or [])
                raw = next((p[1] for p in parts if isinstance(p, tuple) and len(p) > 1), b"")
                headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
                message_id = str(headers.get("Message-ID") or "").strip()
                if not message_id:
                    continue
                found.append(
                    FoundWarmup(
                        folder=folder,
                        uid=uid,
                        message_id=message_id,
                        subject=str(headers.get("Subject") or ""),
                        sender=str(headers.get("From") or ""),
                        marker=str(headers.get(HEADER) or ""),
                        in_reply_to=str(headers.get("In-Reply-To") or "").strip(),
                        spam=folder != "INBOX",
                    )
                )
            if len(found) >= limit:
                break
        client.logout()
        return found
    finally:
        with contextlib.suppress(OSError):
            client.shutdown()


def _file_sync(
    settings: ServerSettings, username: str, password: str, messages: list[FoundWarmup]
) -> int:
    if not messages:
        return 0
    client = _imap_connect(settings)
    by_folder: dict[str, list[str]] = defaultdict(list)
    for m in messages:
        by_folder[m.folder].append(m.uid)
    moved = 0
    try:
        client.login(username, password)
        _, has_warmup = _folders(client)
        if not has_warmup:
            client.create(f'"{WARMUP_FOLDER}"')
        can_move = "MOVE" in client.capabilities
        for folder, uids in by_folder.items():
            typ, _ = client.select(f'"{folder}"')
            if typ != "OK":
                continue
            sequence = ",".join(uids)
            # Opened, and in spam also marked as not spam (the keywords providers read).
            client.uid("STORE", sequence, "+FLAGS.SILENT", r"(\Seen $NotJunk)")
            if can_move:
                typ, _ = client.uid("MOVE", sequence, f'"{WARMUP_FOLDER}"')
            else:
                typ, _ = client.uid("COPY", sequence, f'"{WARMUP_FOLDER}"')
                if typ == "OK":
                    client.uid("STORE", sequence, "+FLAGS.SILENT", r"(\Deleted)")
                    client.expunge()
            if typ == "OK":
                moved += len(uids)
        client.logout()
        return moved
    finally:
        with contextlib.suppress(OSError):
            client.shutdown()


async def find_warmup_messages(
    settings: ServerSettings, username: str, password: str, limit: int
) -> list[FoundWarmup]:
    """Up to `limit` warmup messages (by the marker header's presence; the caller checks
    the marker) in the inbox and the spam folders, inbox first."""
    return await asyncio.to_thread(_find_sync, settings, username, password, limit)


async def file_warmup_messages(
    settings: ServerSettings, username: str, password: str, messages: list[FoundWarmup]
) -> int:
    """Mark them seen (and not junk) and move them into the warmup folder; how many moved."""
    return await asyncio.to_thread(_file_sync, settings, username, password, messages)
