"""Capacity (DESIGN "Capacity"): how many sends a mailbox is allowed now, and the campaign
mailboxes a first touch rotates over. Read-only: the slots themselves are taken by the
reserve step (`repositories/outbox.py`), so what this says is advice that the counters
enforce.

A mailbox's sends allowed now = the least of
- its daily cap minus its counter for today (the day in the mailbox's own zone);
- what its campaigns still allow today (the campaign asked about, or the sum over the
  sending campaigns it serves; a campaign without a daily limit allows any number);
- the tenant's month left (the plan's `limits.emails_per_month`, none: no limit);
- the infrastructure's allowance: the mailbox's warmup, its IPs' warmups and states
  (`_INFRASTRUCTURE` below);
and 0 while its gap has not passed, while it is paused (any reason), not `active`, or
deleted.

Fairness between campaigns that share a mailbox: none is computed here. Every send takes
its slot at the mailbox's counter row when it reserves, first come first served, and the
lead workflows ask when their sends are due, so the send due earliest asks first; a
campaign that sends more leads simply asks more often.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.repositories.ip_addresses import ASSIGNED_IP, TENANT_IPS

# Per mailbox, the sends its warmup stage and its IP's state still allow today (NULL: no
# limit), from OLTP only (the send transaction never reads the analytics database):
# - a live warmup of the mailbox: its `today_cap` minus the mailbox's sends today;
# - the IPs its domain is assigned to (live assignments): when every one of them is
#   quarantined, burned or released, 0 until the domain is moved; otherwise, when each
#   usable IP is in a live warmup, the most room among them (an IP's cap minus what every
#   mailbox of its domains sent today), and no limit as soon as one usable IP is not;
# - a mailbox whose domain has no platform IP (its own provider's servers): no limit.
# A shared pool IP (migration 0019) counts like the tenant's own for its state (quarantined:
# 0 for every tenant on it); its warmup is the platform's, done before it joins the pool,
# so no tenant's capacity follows one.
_LIVE_WARMUP = "('active', 'paused', 'held')"
_LIVE_ASSIGNMENT = "('scheduled', 'warming', 'active')"
_BLOCKED_IP = "('quarantined', 'burned', 'released')"
_INFRASTRUCTURE = f"""
WITH box_ips AS (
  SELECT b.id AS box, ip.id AS ip_id, ip.status IN {_BLOCKED_IP} AS blocked
  FROM boxes b
  JOIN email_accounts ea ON ea.id = b.id
  JOIN domain_ip_assignments a
    ON a.domain_id = ea.domain_id AND a.status IN {_LIVE_ASSIGNMENT}
  JOIN {TENANT_IPS} ip ON ip.id = {ASSIGNED_IP}
),
ip_used AS (
  SELECT a.smtp_ip_address_id AS ip_id, sum(mdc.sent_count) AS n
  FROM domain_ip_assignments a
  JOIN email_accounts m ON m.domain_id = a.domain_id
  JOIN mailbox_daily_counters mdc
    ON mdc.email_account_id = m.id AND mdc.day = (now() AT TIME ZONE m.timezone)::date
  WHERE a.status IN {_LIVE_ASSIGNMENT}
    AND a.smtp_ip_address_id IN (SELECT ip_id FROM box_ips)
  GROUP BY a.smtp_ip_address_id
),
ip_room AS (
  SELECT bi.box, bool_and(bi.blocked) AS all_blocked,
         CASE WHEN bool_or(NOT bi.blocked AND w.id IS NULL) THEN NULL
              ELSE max(greatest(w.today_cap - coalesce(u.n, 0), 0))
                     FILTER (WHERE NOT bi.blocked) END AS left_today
  FROM box_ips bi
  LEFT JOIN warmups w ON w.smtp_ip_address_id = bi.ip_id AND w.status IN {_LIVE_WARMUP}
  LEFT JOIN ip_used u ON u.ip_id = bi.ip_id
  GROUP BY bi.box
),
box_room AS (
  SELECT b.id AS box, greatest(w.today_cap - coalesce(mdc.sent_count, 0), 0) AS left_today
  FROM boxes b
  JOIN warmups w ON w.email_account_id = b.id AND w.status IN {_LIVE_WARMUP}
  LEFT JOIN mailbox_daily_counters mdc ON mdc.email_account_id = b.id AND mdc.day = b.today
)
SELECT b.id,
       CASE WHEN r.all_blocked THEN 0 ELSE least(br.left_today, r.left_today) END AS left_today
FROM boxes b
LEFT JOIN ip_room r ON r.box = b.id
LEFT JOIN box_room br ON br.box = b.id
"""  # noqa: S608 — the interpolated parts are module constants

_CAPACITY = f"""
WITH boxes AS (
  SELECT ea.id, ea.status, ea.pause_reasons, ea.deleted, ea.daily_cap, ea.next_send_at,
         (now() AT TIME ZONE ea.timezone)::date AS today,
         (date_trunc('day', now() AT TIME ZONE ea.timezone) + interval '1 day')
           AT TIME ZONE ea.timezone AS midnight
  FROM email_accounts ea WHERE ea.id = ANY(:ids)
),
infrastructure AS ({_INFRASTRUCTURE}),
own_campaign AS (
  SELECT CASE WHEN c.daily_limit IS NULL THEN NULL
              ELSE greatest(c.daily_limit - coalesce(cc.sent_count, 0), 0) END AS left_today,
         (date_trunc('day', now() AT TIME ZONE c.timezone) + interval '1 day')
           AT TIME ZONE c.timezone AS midnight
  FROM campaigns c
  LEFT JOIN campaign_daily_counters cc
    ON cc.campaign_id = c.id AND cc.day = (now() AT TIME ZONE c.timezone)::date
  WHERE c.id = CAST(:campaign AS uuid)
),
served AS (
  SELECT cm.email_account_id AS id,
         CASE WHEN bool_or(c.daily_limit IS NULL) THEN NULL
              ELSE sum(greatest(c.daily_limit - coalesce(cc.sent_count, 0), 0)) END
           AS left_today
  FROM campaign_mailboxes cm
  JOIN campaigns c ON c.id = cm.campaign_id
  LEFT JOIN campaign_daily_counters cc
    ON cc.campaign_id = c.id AND cc.day = (now() AT TIME ZONE c.timezone)::date
  WHERE cm.email_account_id = ANY(:ids) AND c.status = 'sending' AND c.pause_reasons = '{{}}'
  GROUP BY cm.email_account_id
)
SELECT b.id,
       (b.status = 'active' AND b.pause_reasons = '{{}}' AND b.deleted IS NULL) AS active,
       b.next_send_at, clock_timestamp() AS now, b.midnight,
       greatest(b.daily_cap - coalesce(mdc.sent_count, 0), 0) AS daily_left,
       i.left_today AS infrastructure_left,
       CASE WHEN CAST(:campaign AS uuid) IS NULL THEN s.left_today
            ELSE (SELECT left_today FROM own_campaign) END AS campaign_left,
       (SELECT midnight FROM own_campaign) AS campaign_midnight,
       (SELECT sent_count FROM tenant_monthly_counters
         WHERE month = date_trunc('month', now() AT TIME ZONE 'UTC')::date) AS month_used,
       (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')
         AT TIME ZONE 'UTC' AS month_end
FROM boxes b
LEFT JOIN mailbox_daily_counters mdc ON mdc.email_account_id = b.id AND mdc.day = b.today
LEFT JOIN infrastructure i ON i.id = b.id
LEFT JOIN served s ON s.id = b.id
"""  # noqa: S608 — the interpolated part is a module constant


@dataclass(frozen=True)
class MailboxCapacity:
    mailbox_id: UUID
    active: bool  # status `active`, no pause reason, not deleted
    daily_left: int
    campaign_left: int | None  # None: no campaign limit
    month_left: int | None  # None: the plan sets no monthly limit
    infrastructure_left: int | None  # None: warmup and IP state limit nothing
    next_send_at: dt.datetime | None  # the gap: nothing before it
    now: dt.datetime
    mailbox_midnight: dt.datetime  # the mailbox's next local midnight
    campaign_midnight: dt.datetime | None  # the campaign's, when one was asked about
    month_end: dt.datetime  # the first of next month (UTC)
    weight: int = 1

    @property
    def in_gap(self) -> bool:
        return self.next_send_at is not None and self.next_send_at > self.now

    @property
    def own_left(self) -> int:
        """What the mailbox itself still has today (its cap, its infrastructure)."""
        limits = [self.daily_left]
        if self.infrastructure_left is not None:
            limits.append(max(self.infrastructure_left, 0))
        return min(limits)

    @property
    def allowed(self) -> int:
        """Sends allowed now."""
        if not self.active or self.in_gap:
            return 0
        limits = [self.own_left]
        limits += [v for v in (self.campaign_left, self.month_left) if v is not None]
        return max(min(limits), 0)

    @property
    def limited_by(self) -> str | None:
        """Why nothing is allowed now (an outcome reason of the delivery contract)."""
        if not self.active:
            return "mailbox_not_active"
        if self.month_left is not None and self.month_left <= 0:
            return "monthly_limit"
        if self.campaign_left is not None and self.campaign_left <= 0:
            return "campaign_daily_limit"
        if self.own_left <= 0:
            return "mailbox_daily_cap"
        if self.in_gap:
            return "gap"
        return None

    def retry_at(self, reason: str | None = None) -> dt.datetime | None:
        """When the limit named (or the one that binds now) lets a send through again."""
        reason = reason or self.limited_by
        if reason == "monthly_limit":
            return self.month_end
        if reason == "campaign_daily_limit":
            return self.campaign_midnight
        if reason == "mailbox_daily_cap":
            return self.mailbox_midnight
        if reason == "gap":
            return self.next_send_at
        return None


class CapacityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def month_limit(self) -> int | None:
        """The tenant's sends per calendar month from its current plan
        (`plans.limits.emails_per_month`); None without a plan or a limit."""
        row = (
            await self.session.execute(
                text(
                    "SELECT CAST(p.limits->>'emails_per_month' AS integer) AS month_limit "
                    "FROM subscriptions s JOIN plans p ON p.id = s.plan_id "
                    "WHERE s.status IN ('trialing', 'active', 'past_due') "
                    "ORDER BY s.created DESC LIMIT 1"
                )
            )
        ).first()
        return None if row is None else row.month_limit

    async def mailboxes(
        self,
        mailbox_ids: Sequence[UUID],
        *,
        campaign_id: UUID | None = None,
        month_limit: int | None = None,
        weights: dict[UUID, int] | None = None,
    ) -> list[MailboxCapacity]:
        """The capacity of each mailbox, in the order asked (unknown ids left out). With
        `campaign_id`, the campaign term is that campaign's limit; without, the sum over the
        sending campaigns each mailbox serves."""
        if not mailbox_ids:
            return []
        rows = await self.session.execute(
            text(_CAPACITY), {"ids": list(mailbox_ids), "campaign": campaign_id}
        )
        found: dict[UUID, Any] = {row.id: row for row in rows}
        out = []
        for mailbox_id in mailbox_ids:
            row = found.get(mailbox_id)
            if row is None:
                continue
            out.append(
                MailboxCapacity(
                    mailbox_id=row.id,
                    active=bool(row.active),
                    daily_left=int(row.daily_left),
                    campaign_left=row.campaign_left,
                    month_left=(
                        None
                        if month_limit is None
                        else max(month_limit - int(row.month_used or 0), 0)
                    ),
                    infrastructure_left=row.infrastructure_left,
                    next_send_at=row.next_send_at,
                    now=row.now,
                    mailbox_midnight=row.midnight,
                    campaign_midnight=row.campaign_midnight,
                    month_end=row.month_end,
                    weight=(weights or {}).get(row.id, 1),
                )
            )
        return out

    async def campaign_rotation(
        self, campaign_id: UUID, month_limit: int | None = None
    ) -> list[MailboxCapacity]:
        """The campaign's mailboxes, those a first touch should try first in front: only
        the ones allowed a send now, by their own room left times their weight, ties to
        the one least recently used (so a campaign's sends spread over its mailboxes); then
        the others (their `retry_at` says when they open again)."""
        rows = await self.session.execute(
            text(
                "SELECT email_account_id, weight FROM campaign_mailboxes "
                "WHERE campaign_id = :campaign ORDER BY created, id"
            ),
            {"campaign": campaign_id},
        )
        weights = {r.email_account_id: int(r.weight) for r in rows}
        caps = await self.mailboxes(
            list(weights), campaign_id=campaign_id, month_limit=month_limit, weights=weights
        )
        return rank_for_rotation(caps)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def rank_for_rotation(caps: Sequence[MailboxCapacity]) -> list[MailboxCapacity]:
    def key(cap: MailboxCapacity) -> tuple[int, int, dt.datetime, str]:
        return (
            0 if cap.allowed > 0 else 1,
            -cap.own_left * cap.weight,
            cap.next_send_at or _EPOCH,
            str(cap.mailbox_id),
        )

    return sorted(caps, key=key)


__all__ = ["CapacityRepository", "MailboxCapacity", "rank_for_rotation"]
