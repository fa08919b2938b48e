"""The outbox (`inbox_message_refs`, outbound rows) and the slots a send takes: the SQL of
DESIGN's revised outbox contract. The transactions around it belong to the caller (the send
activity); nothing here commits.

A send is two steps:

1. *Reserve*, one transaction the caller commits: the campaign sends, the mailbox is active
   and its gap has passed, the lead is neither unsubscribed, bounced, complained, erased nor
   deleted, the address is not suppressed, a slot of every counter is taken (the mailbox's
   day in its zone, the campaign's day in its zone, the tenant's month), and the row is
   inserted `reserved` with its deterministic Message-ID and the slot keys.
2. *Send*: after the mailbox connection's lock, `mark_attempt` is committed (so a crash in
   DATA leaves a trace), then one READ COMMITTED transaction takes the campaign's shared
   advisory lock (`lock_campaign_shared`), re-checks everything **in a separate statement
   after the lock** and holds the row `FOR UPDATE` (`recheck`), talks SMTP, and records the
   outcome (`mark_sent`, `defer`, `mark_bounced`).

Pausing takes the exclusive advisory lock on the same key (`lock_campaign_exclusive`), so it
returns once the in-flight sends have ended and no new one passes its re-check.

Lock order, everywhere: the mailbox's counter row (and its `email_accounts` row), then the
campaign's advisory lock, then the outbox row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.repositories.ip_addresses import ASSIGNED_IP, TENANT_IPS

# The mailbox's slot of its day: its cap, its warmup's cap today, 0 while every IP of its
# domain (its own or shared) is quarantined, burned or released.
_TAKE_MAILBOX_SLOT = f"""
    WITH cap AS (
      SELECT CASE
               WHEN EXISTS (SELECT 1 FROM domain_ip_assignments a
                            WHERE a.domain_id = ea.domain_id
                              AND a.status IN ('scheduled', 'warming', 'active'))
                AND NOT EXISTS (
                  SELECT 1 FROM domain_ip_assignments a
                  JOIN {TENANT_IPS} ip ON ip.id = {ASSIGNED_IP}
                  WHERE a.domain_id = ea.domain_id
                    AND a.status IN ('scheduled', 'warming', 'active')
                    AND ip.status NOT IN ('quarantined', 'burned', 'released'))
               THEN 0
               ELSE least(ea.daily_cap, w.today_cap) END AS n
      FROM email_accounts ea
      LEFT JOIN warmups w
        ON w.email_account_id = ea.id AND w.status IN ('active', 'paused', 'held')
      WHERE ea.id = :account
    )
    INSERT INTO mailbox_daily_counters (tenant_id, email_account_id, day, sent_count)
    SELECT ea.tenant_id, ea.id, (now() AT TIME ZONE ea.timezone)::date, 1
    FROM email_accounts ea WHERE ea.id = :account AND (SELECT n FROM cap) > 0
    ON CONFLICT (tenant_id, email_account_id, day) DO UPDATE
      SET sent_count = mailbox_daily_counters.sent_count + 1, updated = now()
      WHERE mailbox_daily_counters.sent_count < (SELECT n FROM cap)
    RETURNING day
    """  # noqa: S608 — module constants only

# Lead statuses that end every send to the lead (erasure rewrites the address, so the
# address check alone is not enough).
STOPPED_LEAD_STATUSES = ("unsubscribed", "bounced", "complained", "erased")
OPEN_ROW_STATUSES = ("reserved", "sent", "unknown", "bounced", "failed")


class Refused(Exception):
    """A reservation that cannot be made now; `reason` says why (and `retry_at` when known)."""

    def __init__(self, reason: str, retry_at: dt.datetime | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_at = retry_at


@dataclass(frozen=True)
class Reservation:
    id: UUID
    message_id: str
    status: str
    email_account_id: UUID
    attempts: int
    created_now: bool  # False: a retry found its own row


@dataclass(frozen=True)
class SendRequest:
    tenant_id: UUID
    campaign_id: UUID
    lead_id: UUID | None  # None: a test send with sample data
    step_id: UUID
    email_account_id: UUID
    message_id: str
    to_email: str
    address_hash: str  # sha256 of the trimmed, lower-cased address
    to_domain: str
    variant_id: UUID | None = None
    subject: str | None = None
    from_email: str | None = None
    in_reply_to: str | None = None
    parent_message_id: UUID | None = None
    month_limit: int | None = None  # the plan's sends per calendar month, None: unlimited
    gap_seconds: float = 0.0  # the mailbox's minimum gap plus this send's jitter
    is_test: bool = False


@dataclass(frozen=True)
class Recheck:
    """What the send transaction finds after the campaign lock."""

    row_status: str
    attempts: int
    campaign_ok: bool
    mailbox_ok: bool
    lead_ok: bool
    suppressed: bool
    # The lead's enrollment in the campaign (None: none, or a test send).
    enrollment_status: str | None = None

    @property
    def blocked_by(self) -> str | None:
        if not self.campaign_ok:
            return "campaign_not_sending"
        if not self.mailbox_ok:
            return "mailbox_not_active"
        if not self.lead_ok:
            return "lead_stopped"
        enrolled = enrollment_blocks(self.enrollment_status)
        if enrolled is not None:
            return enrolled
        if self.suppressed:
            return "suppressed"
        return None


def enrollment_blocks(status: str | None) -> str | None:
    """What the lead's enrollment says about a send: `lead_paused` while the tenant holds
    the lead (the sequence waits for its resume), `lead_stopped` once it has ended
    (removed, stopped, ...: whatever the sequence is doing, nothing more goes out)."""
    if status is None or status in ("pending", "active"):
        return None
    return "lead_paused" if status == "paused" else "lead_stopped"


def campaign_lock_key(campaign_id: UUID) -> str:
    return f"campaign:{campaign_id}"


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _one(self, sql: str, params: dict[str, Any]) -> Any:
        return (await self.session.execute(text(sql), params)).first()

    # -- reserve --------------------------------------------------------------------------------

    async def find(self, req: SendRequest) -> Reservation | None:
        """The row of this (campaign, lead, step), or of this Message-ID for a test send."""
        if req.is_test:
            return await self.find_by_message_id(req.message_id)
        return await self.find_by_key(req.campaign_id, req.lead_id, req.step_id)

    async def find_by_key(
        self, campaign_id: UUID, lead_id: UUID | None, step_id: UUID
    ) -> Reservation | None:
        return await self._find(
            "campaign_id = :campaign_id AND lead_id = :lead_id AND step_id = :step_id "
            "AND NOT is_test",
            {"campaign_id": campaign_id, "lead_id": lead_id, "step_id": step_id},
        )

    async def find_by_message_id(self, message_id: str) -> Reservation | None:
        return await self._find("message_id = :message_id", {"message_id": message_id})

    async def _find(self, key: str, params: dict[str, Any]) -> Reservation | None:
        row = await self._one(
            "SELECT id, message_id, status, email_account_id, attempts FROM inbox_message_refs "  # noqa: S608 — the key is one of two module constants
            f"WHERE direction = 'outbound' AND {key}",
            params,
        )
        if row is None:
            return None
        return Reservation(
            row.id, row.message_id, row.status, row.email_account_id, row.attempts, False
        )

    async def check_sendable(self, req: SendRequest) -> None:
        """The reserve step's checks that take no lock; Refused when one fails."""
        row = await self._one(
            """
            SELECT
              (SELECT status = 'sending' AND pause_reasons = '{}' FROM campaigns
                WHERE id = :campaign_id) AS campaign_ok,
              (SELECT status = 'active' AND pause_reasons = '{}' AND deleted IS NULL
                FROM email_accounts WHERE id = :account) AS mailbox_ok,
              (SELECT next_send_at FROM email_accounts WHERE id = :account) AS next_send_at,
              (SELECT status NOT IN ('unsubscribed', 'bounced', 'complained', 'erased')
                      AND deleted IS NULL FROM leads WHERE id = :lead_id) AS lead_ok,
              EXISTS (SELECT 1 FROM suppressions
                      WHERE (kind = 'address' AND value = :hash)
                         OR (kind = 'domain' AND value = :domain)) AS suppressed,
              (SELECT status FROM campaign_leads WHERE campaign_id = :campaign_id
                AND lead_id = :lead_id) AS enrollment_status,
              clock_timestamp() AS now
            """,
            {
                "campaign_id": req.campaign_id,
                "account": req.email_account_id,
                "lead_id": req.lead_id,
                "hash": req.address_hash,
                "domain": req.to_domain,
            },
        )
        if not req.is_test and not row.campaign_ok:
            raise Refused("campaign_not_sending")
        if not row.mailbox_ok:
            raise Refused("mailbox_not_active")
        if not req.is_test and not row.lead_ok:
            raise Refused("lead_stopped")
        enrolled = None if req.is_test else enrollment_blocks(row.enrollment_status)
        if enrolled is not None:
            raise Refused(enrolled)
        if not req.is_test and row.suppressed:
            raise Refused("suppressed")
        if row.next_send_at is not None and row.next_send_at > row.now:
            raise Refused("gap", retry_at=row.next_send_at)

    async def take_mailbox_slot(self, req: SendRequest) -> dt.date:
        """A slot of the mailbox's day (in its own zone) and its next send time; Refused
        ("mailbox_daily_cap") when the day is full (its cap, or less while it is in warmup:
        the warmup's cap for today; nothing while every IP of its domain is quarantined,
        burned or released), ("gap") when another reservation moved
        the next send time meanwhile (the caller rolls back: the slot goes with it). Locks
        the counter row, then the mailbox."""
        row = await self._one(
            _TAKE_MAILBOX_SLOT,
            {"account": req.email_account_id},
        )
        if row is None:
            raise Refused("mailbox_daily_cap")
        # The gap, atomically: the mailbox's row lock orders concurrent reservations, and
        # one that waited re-reads `next_send_at` (READ COMMITTED) before it passes. The
        # clock, not the transaction's start: a reservation that began earlier but gets here
        # later must see the time the previous one set as past.
        gap = await self._one(
            """
            UPDATE email_accounts
            SET next_send_at = clock_timestamp() + make_interval(secs => :gap)
            WHERE id = :account
              AND (next_send_at IS NULL OR next_send_at <= clock_timestamp())
            RETURNING next_send_at
            """,
            {"account": req.email_account_id, "gap": req.gap_seconds},
        )
        if gap is None:
            row = await self._one(
                "SELECT next_send_at FROM email_accounts WHERE id = :account",
                {"account": req.email_account_id},
            )
            raise Refused("gap", retry_at=row.next_send_at if row is not None else None)
        taken: dt.date = row.day
        return taken

    async def take_campaign_slot(self, req: SendRequest) -> dt.date | None:
        """A slot of the campaign's daily limit (its day in its zone); None without a limit."""
        row = await self._one(
            """
            INSERT INTO campaign_daily_counters (tenant_id, campaign_id, day, sent_count)
            SELECT c.tenant_id, c.id, (now() AT TIME ZONE c.timezone)::date, 1
            FROM campaigns c WHERE c.id = :campaign_id AND c.daily_limit IS NOT NULL
            ON CONFLICT (tenant_id, campaign_id, day) DO UPDATE
              SET sent_count = campaign_daily_counters.sent_count + 1, updated = now()
              WHERE campaign_daily_counters.sent_count <
                    (SELECT daily_limit FROM campaigns WHERE id = :campaign_id)
            RETURNING day
            """,
            {"campaign_id": req.campaign_id},
        )
        if row is not None:
            taken: dt.date = row.day
            return taken
        limited = await self._one(
            "SELECT daily_limit IS NOT NULL AS limited FROM campaigns WHERE id = :campaign_id",
            {"campaign_id": req.campaign_id},
        )
        if limited is not None and limited.limited:
            raise Refused("campaign_daily_limit")
        return None

    async def take_month_slot(self, req: SendRequest) -> dt.date:
        """A slot of the tenant's calendar month (UTC); Refused ("monthly_limit") past the plan."""
        row = await self._one(
            """
            INSERT INTO tenant_monthly_counters (tenant_id, month, sent_count)
            VALUES (:tenant_id, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 1)
            ON CONFLICT (tenant_id, month) DO UPDATE
              SET sent_count = tenant_monthly_counters.sent_count + 1, updated = now()
              WHERE CAST(:limit AS integer) IS NULL
                 OR tenant_monthly_counters.sent_count < CAST(:limit AS integer)
            RETURNING month
            """,
            {"tenant_id": req.tenant_id, "limit": req.month_limit},
        )
        if row is None:
            raise Refused("monthly_limit")
        taken: dt.date = row.month
        return taken

    async def insert_reserved(
        self, req: SendRequest, slot_day: dt.date, campaign_day: dt.date | None, month: dt.date
    ) -> Reservation:
        row = await self._one(
            """
            INSERT INTO inbox_message_refs (
              tenant_id, email_account_id, campaign_id, lead_id, step_id, variant_id,
              parent_message_id, direction, message_type, message_id, in_reply_to, from_email,
              to_email, subject, status, is_test, slot_day, campaign_day, slot_month)
            VALUES (
              :tenant_id, :account, :campaign_id, :lead_id, :step_id, :variant_id, :parent,
              'outbound', 'email', :message_id, :in_reply_to, :from_email, :to_email, :subject,
              'reserved', :is_test, :slot_day, :campaign_day, :month)
            RETURNING id, attempts
            """,
            {
                "tenant_id": req.tenant_id,
                "account": req.email_account_id,
                "campaign_id": req.campaign_id,
                "lead_id": req.lead_id,
                "step_id": req.step_id,
                "variant_id": req.variant_id,
                "parent": req.parent_message_id,
                "message_id": req.message_id,
                "in_reply_to": req.in_reply_to,
                "from_email": req.from_email,
                "to_email": req.to_email,
                "subject": req.subject,
                "is_test": req.is_test,
                "slot_day": slot_day,
                "campaign_day": campaign_day,
                "month": month,
            },
        )
        return Reservation(
            row.id, req.message_id, "reserved", req.email_account_id, row.attempts, True
        )

    async def re_reserve(
        self,
        row_id: UUID,
        req: SendRequest,
        slot_day: dt.date,
        campaign_day: dt.date | None,
        month: dt.date,
    ) -> Reservation:
        """A deferred row reserved again, on this request's mailbox, with its new slots. Its
        attempts start again from 0: a deferred send never reached DATA."""
        row = await self._one(
            """
            UPDATE inbox_message_refs
            SET status = 'reserved', email_account_id = :account, slot_day = :slot_day,
                campaign_day = :campaign_day, slot_month = :month, error_message = NULL,
                attempts = 0, updated = now()
            WHERE id = :id AND status = 'deferred'
            RETURNING id, attempts
            """,
            {
                "id": row_id,
                "account": req.email_account_id,
                "slot_day": slot_day,
                "campaign_day": campaign_day,
                "month": month,
            },
        )
        if row is None:
            raise Refused("concurrent_change")
        return Reservation(
            row.id, req.message_id, "reserved", req.email_account_id, row.attempts, True
        )

    async def reserve(self, req: SendRequest) -> Reservation:
        """The whole reserve step inside the caller's transaction (the caller commits, and
        rolls back on Refused so that no slot stays taken). A retry finds its own row."""
        existing = await self.find(req)
        if existing is not None and existing.status != "deferred":
            return existing
        await self.check_sendable(req)
        slot_day = await self.take_mailbox_slot(req)
        campaign_day = None if req.is_test else await self.take_campaign_slot(req)
        month = await self.take_month_slot(req)
        if existing is not None:
            return await self.re_reserve(existing.id, req, slot_day, campaign_day, month)
        return await self.insert_reserved(req, slot_day, campaign_day, month)

    # -- send -----------------------------------------------------------------------------------

    async def mark_attempt(self, row_id: UUID) -> int:
        """Committed before the SMTP exchange: a row whose attempt count is above zero may
        have reached DATA, and a retry must ask the mailbox before sending again."""
        row = await self._one(
            "UPDATE inbox_message_refs SET attempts = attempts + 1, updated = now() "
            "WHERE id = :id AND status = 'reserved' RETURNING attempts",
            {"id": row_id},
        )
        if row is None:
            raise Refused("not_reserved")
        return int(row.attempts)

    async def lock_campaign_shared(self, campaign_id: UUID) -> None:
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock_shared(hashtextextended(:key, 0))"),
            {"key": campaign_lock_key(campaign_id)},
        )

    async def lock_campaign_exclusive(self, campaign_id: UUID) -> None:
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": campaign_lock_key(campaign_id)},
        )

    async def recheck(self, row_id: UUID, address_hash: str, to_domain: str) -> Recheck:
        """After the campaign lock, in a statement of its own (one statement with the lock,
        or REPEATABLE READ, would read the status from before a committed pause): the row
        `FOR UPDATE` and every status that can stop the send, the lead's enrollment in the
        campaign included (a lead the tenant paused or removed is never sent to)."""
        row = await self._one(
            """
            SELECT m.status AS row_status, m.attempts, m.is_test,
              (SELECT e.status FROM campaign_leads e WHERE e.campaign_id = m.campaign_id
                AND e.lead_id = m.lead_id) AS enrollment_status,
              (c.status = 'sending' AND c.pause_reasons = '{}') AS campaign_ok,
              (ea.status = 'active' AND ea.pause_reasons = '{}' AND ea.deleted IS NULL)
                AS mailbox_ok,
              (l.status NOT IN ('unsubscribed', 'bounced', 'complained', 'erased')
                AND l.deleted IS NULL) AS lead_ok,
              EXISTS (SELECT 1 FROM suppressions s
                      WHERE (s.kind = 'address' AND s.value = :hash)
                         OR (s.kind = 'domain' AND s.value = :domain)) AS suppressed
            FROM inbox_message_refs m
            JOIN email_accounts ea ON ea.id = m.email_account_id
            LEFT JOIN campaigns c ON c.id = m.campaign_id
            LEFT JOIN leads l ON l.id = m.lead_id
            WHERE m.id = :id
            FOR UPDATE OF m
            """,
            {"id": row_id, "hash": address_hash, "domain": to_domain},
        )
        if row is None:
            raise Refused("no_such_row")
        test = bool(row.is_test)
        return Recheck(
            row_status=row.row_status,
            attempts=row.attempts,
            campaign_ok=test or bool(row.campaign_ok),
            mailbox_ok=bool(row.mailbox_ok),
            lead_ok=test or bool(row.lead_ok),
            suppressed=not test and bool(row.suppressed),
            enrollment_status=None if test else row.enrollment_status,
        )

    async def mark_sent(self, row_id: UUID) -> None:
        await self.session.execute(
            text(
                "UPDATE inbox_message_refs SET status = 'sent', sent_at = now(), "
                "error_message = NULL, updated = now() WHERE id = :id"
            ),
            {"id": row_id},
        )

    async def mark_unknown(self, row_id: UUID, reason: str) -> None:
        await self.session.execute(
            text(
                "UPDATE inbox_message_refs SET status = 'unknown', error_message = :reason, "
                "updated = now() WHERE id = :id AND status = 'reserved'"
            ),
            {"id": row_id, "reason": reason},
        )

    async def mark_bounced(self, row_id: UUID, reason: str) -> None:
        """The recipient's hard bounce (5.1.x at RCPT): the row, before the error is raised."""
        await self.session.execute(
            text(
                "UPDATE inbox_message_refs SET status = 'bounced', bounce_type = 'hard', "
                "bounce_reason = :reason, bounced_at = now(), updated = now() WHERE id = :id"
            ),
            {"id": row_id, "reason": reason},
        )

    async def defer(self, row_id: UUID, reason: str) -> bool:
        """A send that never reached DATA: its slots go back (to the days stored on the row,
        whatever the clock says now) and the row waits to be reserved again. False when the
        row was not reserved (nothing changed)."""
        row = await self._one(
            """
            UPDATE inbox_message_refs
            SET status = 'deferred', error_message = :reason, updated = now()
            WHERE id = :id AND status = 'reserved'
            RETURNING tenant_id, email_account_id, campaign_id, slot_day, campaign_day, slot_month
            """,
            {"id": row_id, "reason": reason},
        )
        if row is None:
            return False
        params = {
            "tenant_id": row.tenant_id,
            "account": row.email_account_id,
            "campaign_id": row.campaign_id,
            "day": row.slot_day,
            "campaign_day": row.campaign_day,
            "month": row.slot_month,
        }
        await self.session.execute(
            text(
                "UPDATE mailbox_daily_counters SET sent_count = sent_count - 1, updated = now() "
                "WHERE email_account_id = :account AND day = :day AND sent_count > 0"
            ),
            params,
        )
        if row.campaign_day is not None:
            await self.session.execute(
                text(
                    "UPDATE campaign_daily_counters SET sent_count = sent_count - 1, "
                    "updated = now() WHERE campaign_id = :campaign_id AND day = :campaign_day "
                    "AND sent_count > 0"
                ),
                params,
            )
        if row.slot_month is not None:
            await self.session.execute(
                text(
                    "UPDATE tenant_monthly_counters SET sent_count = sent_count - 1, "
                    "updated = now() WHERE month = :month AND sent_count > 0"
                ),
                params,
            )
        return True

    # -- pause ----------------------------------------------------------------------------------

    async def pause_campaign(self, campaign_id: UUID, reason: str, lock_timeout_ms: int) -> str:
        """The campaign's exclusive lock (waiting at most `lock_timeout_ms` for the sends in
        flight), then the reason added; returns the campaign's status after. The caller
        commits: once it has, no send of this campaign is in flight and none starts."""
        await self.session.execute(
            text("SELECT set_config('lock_timeout', :ms, true)"), {"ms": f"{lock_timeout_ms}ms"}
        )
        await self.lock_campaign_exclusive(campaign_id)
        await self.session.execute(text("SELECT set_config('lock_timeout', '0', true)"))
        row = await self._one(
            """
            UPDATE campaigns
            SET pause_reasons = CASE WHEN :reason = ANY(pause_reasons) THEN pause_reasons
                                     ELSE array_append(pause_reasons, :reason) END,
                status = CASE WHEN status IN ('sending', 'scheduled', 'paused') THEN 'paused'
                              ELSE status END,
                updated = now()
            WHERE id = :id
            RETURNING status
            """,
            {"id": campaign_id, "reason": reason},
        )
        if row is None:
            raise Refused("no_such_campaign")
        return str(row.status)

    async def lift_pause(self, campaign_id: UUID, reason: str) -> tuple[str, list[str]]:
        """Remove one actor's reason; the campaign sends again only when none is left."""
        row = await self._one(
            """
            UPDATE campaigns
            SET pause_reasons = array_remove(pause_reasons, :reason),
                status = CASE WHEN status = 'paused'
                                   AND array_remove(pause_reasons, :reason) = '{}'
                              THEN 'sending' ELSE status END,
                updated = now()
            WHERE id = :id
            RETURNING status, pause_reasons
            """,
            {"id": campaign_id, "reason": reason},
        )
        if row is None:
            raise Refused("no_such_campaign")
        return str(row.status), list(row.pause_reasons)
