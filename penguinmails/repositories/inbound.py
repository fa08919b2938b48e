"""Inbound mail in the OLTP database: the inbound rows of `inbox_message_refs` threaded
under the outbound message they answer, the lookups that find that message, the lead's
status after a reply, a bounce or a complaint, and each mailbox's IMAP checkpoint.

Everything runs in the tenant's session (row-level security), except `route_address`, which
runs in the system session: a message posted to `/webhooks/inbound` names a mailbox before
anyone knows its tenant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

# A later status never goes back to an earlier one; erased and complained stay.
_LEAD_STATUS_FROM: dict[str, tuple[str, ...]] = {
    "replied": ("active",),
    "bounced": ("active", "replied"),
    "complained": ("active", "replied", "bounced", "unsubscribed"),
}


@dataclass(frozen=True)
class ThreadParent:
    """The message of ours an inbound message answers (or reports on)."""

    id: UUID
    email_account_id: UUID
    campaign_id: UUID | None
    lead_id: UUID | None
    step_id: UUID | None
    variant_id: UUID | None
    message_id: str
    direction: str
    sent_at: datetime | None = None  # the day its engagement is counted on


@dataclass(frozen=True)
class StoredInbound:
    id: UUID
    created: bool  # False: this Message-ID was already stored for the mailbox


_PREFIX = re.compile(
    r"^(?:\[[^\]]{0,40}\]\s*)?(?:re|fw|fwd|aw|wg|tr|rv|sv|antw|vs)\s*(?:\[\d+\])?\s*:\s*",
    re.IGNORECASE,
)
# What an inbound row may be given (the only names interpolated into its INSERT).
_INBOUND_COLUMNS = frozenset(
    [
        "email_account_id",
        "campaign_id",
        "lead_id",
        "parent_message_id",
        "message_type",
        "message_id",
        "in_reply_to",
        "from_email",
        "to_email",
        "subject",
        "content_storage_key",
        "bounce_type",
        "bounce_reason",
        "classification",
        "classification_reason",
        "category",
        "category_confidence",
        "category_source",
    ]
)
_PARENT_COLUMNS = (
    "id, email_account_id, campaign_id, lead_id, step_id, variant_id, message_id, direction, "
    "sent_at"
)


def normalize_subject(subject: str | None) -> str:
    """The subject without reply and forward prefixes (Re:, Fwd:, AW:, WG:, TR:, RV:,
    SV:, Antw:), repeated or bracketed, for matching a reply to what it answers."""
    value = (subject or "").strip()
    while True:
        stripped = _PREFIX.sub("", value, count=1)
        if stripped == value:
            break
        value = stripped
    return " ".join(value.lower().split())


class InboundRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _first(self, sql: str, **params: Any) -> Any:
        return (await self.session.execute(text(sql), params)).first()

    # -- threading -----------------------------------------------------------------------------

    async def parent_by_message_ids(self, message_ids: list[str]) -> ThreadParent | None:
        """The first of `message_ids` (most specific first) that is one of our messages: an
        outbound one, or a reply we sent from the inbox."""
        if not message_ids:
            return None
        rows = (
            await self.session.execute(
                text(
                    f"SELECT {_PARENT_COLUMNS} FROM inbox_message_refs "  # noqa: S608 — a constant
                    "WHERE direction = 'outbound' AND message_id = ANY(:ids) AND NOT is_test"
                ),
                {"ids": message_ids},
            )
        ).all()
        found = {row[6]: ThreadParent(*row) for row in rows}
        for message_id in message_ids:
            if message_id in found:
                return found[message_id]
        return None

    async def parent_by_sender_subject(
        self, email_account_id: UUID, sender: str, subject: str | None
    ) -> ThreadParent | None:
        """The newest message this mailbox sent to `sender` under the same subject (prefixes
        such as `Re:` ignored): a reply whose client dropped its threading headers."""
        wanted = normalize_subject(subject)
        if not wanted:
            return None
        rows = (
            await self.session.execute(
                text(
                    f"SELECT {_PARENT_COLUMNS}, subject FROM inbox_message_refs "  # noqa: S608 — a constant
                    "WHERE direction = 'outbound' AND lower(to_email) = :sender "
                    "AND email_account_id = :account AND NOT is_test "
                    "AND status IN ('sent', 'delivered', 'unknown', 'opened', 'replied') "
                    "ORDER BY created DESC LIMIT 50"
                ),
                {"sender": sender.lower(), "account": email_account_id},
            )
        ).all()
        for row in rows:
            if normalize_subject(row[9]) == wanted:
                return ThreadParent(*row[:9])
        return None

    async def parent_by_recipient(
        self, email_account_id: UUID, recipient: str
    ) -> ThreadParent | None:
        """The newest message this mailbox sent to `recipient` (a DSN or a feedback report
        that does not quote our Message-ID)."""
        row = await self._first(
            f"SELECT {_PARENT_COLUMNS} FROM inbox_message_refs "  # noqa: S608 — a constant
            "WHERE direction = 'outbound' AND lower(to_email) = :recipient "
            "AND email_account_id = :account AND NOT is_test "
            "AND status NOT IN ('reserved', 'deferred', 'queued') "
            "ORDER BY created DESC LIMIT 1",
            recipient=recipient.lower(),
            account=email_account_id,
        )
        return ThreadParent(*row) if row else None

    async def lead_by_address(self, address: str) -> UUID | None:
        row = await self._first(
            "SELECT id FROM leads WHERE email_key = lower(:address) AND deleted IS NULL",
            address=address,
        )
        return row[0] if row else None

    async def lead_address(self, lead_id: UUID) -> str | None:
        row = await self._first(
            "SELECT email FROM leads WHERE id = :id AND status <> 'erased'", id=lead_id
        )
        return row[0] if row else None

    # -- writes --------------------------------------------------------------------------------

    async def insert_inbound(self, tenant_id: UUID, **fields: Any) -> StoredInbound:
        """The inbound row, once per (mailbox, Message-ID): a second delivery of the same
        message (a retried poll, a webhook that posts twice) finds the first."""
        unknown = set(fields) - _INBOUND_COLUMNS
        if unknown:
            raise ValueError(f"not inbound columns: {sorted(unknown)}")
        columns = ["tenant_id", "direction", "status", *fields]
        values = {"tenant_id": tenant_id, "direction": "inbound", "status": "received", **fields}
        row = await self._first(
            f"INSERT INTO inbox_message_refs ({', '.join(columns)}, processed_at) "  # noqa: S608 — names checked against _INBOUND_COLUMNS
            f"VALUES ({', '.join(':' + c for c in columns)}, now()) "
            "ON CONFLICT (tenant_id, email_account_id, message_id) "
            "WHERE direction = 'inbound' DO NOTHING RETURNING id",
            **values,
        )
        if row is not None:
            return StoredInbound(row[0], True)
        existing = await self._first(
            "SELECT id FROM inbox_message_refs WHERE direction = 'inbound' "
            "AND email_account_id = :account AND message_id = :message_id",
            account=fields["email_account_id"],
            message_id=fields["message_id"],
        )
        return StoredInbound(existing[0], False)

    async def mark_parent_replied(self, parent_id: UUID) -> None:
        """`replied_at` once (never the outbox status: that belongs to the send)."""
        await self.session.execute(
            text(
                "UPDATE inbox_message_refs SET replied_at = now(), updated = now() "
                "WHERE id = :id AND replied_at IS NULL"
            ),
            {"id": parent_id},
        )

    async def mark_parent_bounced(self, parent_id: UUID, bounce_type: str, reason: str) -> None:
        """A hard bounce wins over a soft one; the first of each kind stays."""
        await self.session.execute(
            text(
                "UPDATE inbox_message_refs SET bounced_at = COALESCE(bounced_at, now()), "
                "bounce_type = :type, bounce_reason = :reason, updated = now() "
                "WHERE id = :id AND (bounce_type IS NULL OR (bounce_type = 'soft' AND :type = 'hard'))"
            ),
            {"id": parent_id, "type": bounce_type, "reason": reason[:1000]},
        )

    async def set_lead_status(self, lead_id: UUID, status: str) -> bool:
        """True when it changed; only forward moves (`_LEAD_STATUS_FROM`)."""
        result = await self.session.execute(
            text(
                "UPDATE leads SET status = :status, updated = now() "
                "WHERE id = :id AND status = ANY(:from_statuses)"
            ),
            {"id": lead_id, "status": status, "from_statuses": list(_LEAD_STATUS_FROM[status])},
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # -- the mailbox's circuit breaker ---------------------------------------------------------

    async def mailbox_rates(self, email_account_id: UUID, days: int) -> tuple[int, int, int]:
        """(sends, hard bounces, complaints) of the mailbox over the last `days` days:
        sends that reached the server, hard bounces from SMTP (`bounced`) or DSNs, ARF
        complaints received."""
        row = await self._first(
            "SELECT "
            "(SELECT count(*) FROM inbox_message_refs WHERE email_account_id = :account "
            " AND direction = 'outbound' AND NOT is_test AND step_id IS NOT NULL "
            " AND status IN ('sent', 'delivered', 'bounced', 'unknown', 'opened', 'replied') "
            " AND created >= now() - make_interval(days => :days)), "
            "(SELECT count(*) FROM inbox_message_refs WHERE email_account_id = :account "
            " AND direction = 'outbound' AND NOT is_test "
            " AND (status = 'bounced' OR bounce_type = 'hard') "
            " AND created >= now() - make_interval(days => :days)), "
            "(SELECT count(*) FROM inbox_message_refs WHERE email_account_id = :account "
            " AND direction = 'inbound' AND classification = 'complaint' "
            " AND created >= now() - make_interval(days => :days))",
            account=email_account_id,
            days=days,
        )
        return int(row[0]), int(row[1]), int(row[2])

    async def campaign_rates(self, campaign_id: UUID, days: int) -> tuple[int, int, int]:
        """(sends, hard bounces, complaints) of the campaign over the last `days` days,
        counted as `mailbox_rates` counts them, over every mailbox of the campaign."""
        row = await self._first(
            "SELECT "
            "(SELECT count(*) FROM inbox_message_refs WHERE campaign_id = :campaign "
            " AND direction = 'outbound' AND NOT is_test AND step_id IS NOT NULL "
            " AND status IN ('sent', 'delivered', 'bounced', 'unknown', 'opened', 'replied') "
            " AND created >= now() - make_interval(days => :days)), "
            "(SELECT count(*) FROM inbox_message_refs WHERE campaign_id = :campaign "
            " AND direction = 'outbound' AND NOT is_test "
            " AND (status = 'bounced' OR bounce_type = 'hard') "
            " AND created >= now() - make_interval(days => :days)), "
            "(SELECT count(*) FROM inbox_message_refs WHERE campaign_id = :campaign "
            " AND direction = 'inbound' AND classification = 'complaint' "
            " AND created >= now() - make_interval(days => :days))",
            campaign=campaign_id,
            days=days,
        )
        return int(row[0]), int(row[1]), int(row[2])

    async def campaign_pause_state(self, campaign_id: UUID) -> tuple[str, str, list[str]] | None:
        """(name, status, pause reasons) of the campaign; None when there is none."""
        row = await self._first(
            "SELECT name, status, pause_reasons FROM campaigns WHERE id = :id", id=campaign_id
        )
        return (str(row[0]), str(row[1]), list(row[2])) if row else None

    async def pause_mailbox(self, email_account_id: UUID, reason: str) -> bool:
        """The reason added to the mailbox's pause reasons; True when it was not there (its
        sends stop at their next re-check; lifting it is explicit)."""
        result = await self.session.execute(
            text(
                "UPDATE email_accounts SET pause_reasons = array_append(pause_reasons, :reason), "
                "updated = now() WHERE id = :id AND NOT (:reason = ANY(pause_reasons))"
            ),
            {"id": email_account_id, "reason": reason},
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def mailbox_address(self, email_account_id: UUID) -> str | None:
        row = await self._first(
            "SELECT email FROM email_accounts WHERE id = :id", id=email_account_id
        )
        return row[0] if row else None

    # -- the IMAP checkpoint -------------------------------------------------------------------

    async def checkpoint(self, email_account_id: UUID, folder: str) -> tuple[int | None, int]:
        """(UIDVALIDITY, last UID processed); (None, 0) before the first poll."""
        row = await self._first(
            "SELECT uidvalidity, last_uid FROM mailbox_inbox_checkpoints "
            "WHERE email_account_id = :account AND folder = :folder",
            account=email_account_id,
            folder=folder,
        )
        return (row[0], row[1]) if row else (None, 0)

    async def save_checkpoint(
        self, tenant_id: UUID, email_account_id: UUID, folder: str, uidvalidity: int, last_uid: int
    ) -> None:
        """Moves forward only within one UIDVALIDITY; a new UIDVALIDITY replaces it."""
        await self.session.execute(
            text(
                "INSERT INTO mailbox_inbox_checkpoints "
                "(tenant_id, email_account_id, folder, uidvalidity, last_uid) "
                "VALUES (:tenant_id, :account, :folder, :uidvalidity, :last_uid) "
                "ON CONFLICT ON CONSTRAINT uq_mailbox_inbox_checkpoints_account_folder DO UPDATE "
                "SET uidvalidity = EXCLUDED.uidvalidity, updated = now(), last_uid = CASE "
                "WHEN mailbox_inbox_checkpoints.uidvalidity IS DISTINCT FROM EXCLUDED.uidvalidity "
                "THEN EXCLUDED.last_uid "
                "ELSE greatest(mailbox_inbox_checkpoints.last_uid, EXCLUDED.last_uid) END"
            ),
            {
                "tenant_id": tenant_id,
                "account": email_account_id,
                "folder": folder,
                "uidvalidity": uidvalidity,
                "last_uid": last_uid,
            },
        )


async def route_address(session: AsyncSession, address: str) -> tuple[UUID, UUID] | None:
    """(tenant, mailbox) of the live mailbox with this address, in the system session."""
    row = (
        await session.execute(
            text(
                "SELECT a.tenant_id, a.id FROM email_accounts a "
                "JOIN tenants t ON t.id = a.tenant_id AND t.deleted IS NULL "
                "WHERE lower(a.email) = lower(:address) AND a.deleted IS NULL "
                "ORDER BY a.created LIMIT 1"
            ),
            {"address": address},
        )
    ).first()
    return (row[0], row[1]) if row else None


async def active_mailboxes(session: AsyncSession) -> list[tuple[UUID, UUID]]:
    """(tenant, mailbox) of every live active mailbox, in the system session (the operator's
    start of the inbox workflows)."""
    rows = await session.execute(
        text(
            "SELECT a.tenant_id, a.id FROM email_accounts a "
            "JOIN tenants t ON t.id = a.tenant_id AND t.deleted IS NULL "
            "WHERE a.status = 'active' AND a.deleted IS NULL ORDER BY a.tenant_id, a.id"
        )
    )
    return [(r[0], r[1]) for r in rows]


__all__ = [
    "InboundRepository",
    "StoredInbound",
    "ThreadParent",
    "active_mailboxes",
    "normalize_subject",
    "route_address",
]
