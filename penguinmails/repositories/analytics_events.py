"""Writing stream events into the analytics database (the events consumer's SQL).

Everything here runs in one analytics transaction of one tenant and is idempotent by
event id: raw rows are `INSERT ... ON CONFLICT (id) DO NOTHING RETURNING`, and only the
rows actually inserted move counters, so a replayed entry (a consumer that died before its
XACK, a producer that appended twice) changes nothing. Unique numerators come from
`email_engagement`: a message's first human open (click, reply, ...) is the `UPDATE` that
finds the column still NULL.

Roll-ups key on the day the message was sent, in the tenant's zone (`day` of the input):
a rate is "of the messages sent that day, how many were opened", so it never passes 100%.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails import events

# The raw table of each event type, its time column and its extra columns
# (stream field -> column, SQL type).
_RAW: dict[str, tuple[str, str, tuple[tuple[str, str, str], ...]]] = {
    events.SENT: ("email_sends", "sent", ()),
    events.OPEN: (
        "email_opens",
        "opened",
        (("ip", "ip_address", "inet"), ("ua", "user_agent", "text"), ("bot", "bot", "boolean")),
    ),
    events.CLICK: (
        "email_clicks",
        "clicked",
        (
            ("url", "clicked_url", "text"),
            ("ip", "ip_address", "inet"),
            ("ua", "user_agent", "text"),
            ("bot", "bot", "boolean"),
        ),
    ),
    events.BOUNCED: (
        "email_bounces",
        "bounced",
        (("bounce_type", "bounce_type", "text"), ("reason", "bounce_reason", "text")),
    ),
    events.REPLY: ("email_replies", "replied", (("message_id", "message_id", "text"),)),
    events.COMPLAINT: (
        "email_complaints",
        "complained",
        (("feedback_type", "feedback_type", "text"),),
    ),
    events.UNSUBSCRIBE: ("email_unsubscribes", "unsubscribed", (("via", "via", "text"),)),
}
# The engagement column a type's first (human) event sets, and the unique counter it moves.
_FIRST: dict[str, tuple[str, str]] = {
    events.OPEN: ("first_opened", "emails_opened"),
    events.CLICK: ("first_clicked", "emails_clicked"),
    events.REPLY: ("first_replied", "emails_replied"),
    events.COMPLAINT: ("first_complained", "emails_complained"),
    events.UNSUBSCRIBE: ("unsubscribed", "emails_unsubscribed"),
}
COUNTERS = (
    "emails_sent",
    "emails_opened",
    "emails_clicked",
    "emails_bounced",
    "emails_replied",
    "emails_complained",
    "emails_unsubscribed",
    "opens_total",
    "clicks_total",
    "replies_total",
    "bot_opens",
    "bot_clicks",
)
_DIMS = ("campaign_id", "step_id", "mailbox_id", "variant_id")
# Clicks of one message on different links this close together are a scanner's.
SCANNER_WINDOW = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class Event:
    """One parsed stream entry (see penguinmails.events for the fields)."""

    id: UUID
    type: str
    tenant_id: UUID
    email_id: UUID
    at: dt.datetime
    day: dt.date  # the message's send day in the tenant's zone
    campaign_id: UUID | None = None
    step_id: UUID | None = None
    mailbox_id: UUID | None = None
    variant_id: UUID | None = None
    lead_id: UUID | None = None
    bot: bool = False
    extra: tuple[tuple[str, str], ...] = ()  # the type's own fields (url, ip, ua, ...)

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": str(self.id),
            "email_id": str(self.email_id),
            "at": self.at.isoformat(),
            "day": self.day.isoformat(),
            "lead_id": _s(self.lead_id),
            "bot": self.bot,
        }
        for dim in _DIMS:
            out[dim] = _s(getattr(self, dim))
        for name, value in self.extra:
            out[name] = value or None
        return out


def _s(value: UUID | None) -> str | None:
    return str(value) if value is not None else None


Key = tuple[str | None, str | None, str | None, str | None, str]


class AnalyticsEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ingest(self, tenant_id: UUID, batch: list[Event]) -> list[Event]:
        """Raw rows, engagement and roll-ups for one tenant's events; the events that were
        new (a replayed one is left out)."""
        await self.lock(tenant_id)
        by_type: dict[str, list[Event]] = defaultdict(list)
        for event in batch:
            by_type[event.type].append(event)
        if by_type.get(events.CLICK):
            by_type[events.CLICK] = await self._scanner_clicks(tenant_id, by_type[events.CLICK])
        inserted: list[Event] = []
        for kind, items in by_type.items():
            ids = await self._insert_raw(tenant_id, kind, items)
            inserted += [e for e in items if e.id in ids]
        if not inserted:
            return []
        await self._engagement_rows(tenant_id, inserted)
        # Every counter of a message moves on its engagement row's key (dimensions and send
        # day, fixed by its first event), whatever a later event says.
        keys = await self._keys(tenant_id, {e.email_id for e in inserted})
        counts: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for event in inserted:
            key = keys[event.email_id]
            if event.type == events.SENT:
                counts[key]["emails_sent"] += 1
            elif event.type == events.OPEN:
                counts[key]["bot_opens" if event.bot else "opens_total"] += 1
            elif event.type == events.CLICK:
                counts[key]["bot_clicks" if event.bot else "clicks_total"] += 1
            elif event.type == events.REPLY:
                counts[key]["replies_total"] += 1
        for kind, (column, counter) in {
            **_FIRST,
            events.BOUNCED: ("first_bounced", "emails_bounced"),
        }.items():
            humans = [e for e in inserted if e.type == kind and not e.bot]
            if kind == events.BOUNCED:
                humans = [e for e in humans if dict(e.extra).get("bounce_type") != "soft"]
            for email_id in await self._first(tenant_id, column, humans):
                counts[keys[email_id]][counter] += 1
        await self._roll_up(tenant_id, counts)
        return inserted

    async def delete_old(
        self, raw_before: dt.datetime, warmup_before: dt.datetime, batch: int = 5000
    ) -> int:
        """One batch of the retention: opens and clicks before `raw_before`, warmup
        interactions before `warmup_before`; how many rows went."""
        deleted = 0
        for table, column, before in (
            ("email_opens", "opened", raw_before),
            ("email_clicks", "clicked", raw_before),
            ("warmup_interactions", "interaction", warmup_before),
        ):
            sql = f"""DELETE FROM {table} WHERE id IN (
                SELECT id FROM {table} WHERE {column} < :before LIMIT :batch)"""  # noqa: S608 — only module constants are interpolated
            result = await self.session.execute(text(sql), {"before": before, "batch": batch})
            deleted += int(getattr(result, "rowcount", 0) or 0)
        return deleted

    async def _scanner_clicks(self, tenant_id: UUID, clicks: list[Event]) -> list[Event]:
        """A click within `SCANNER_WINDOW` of another click of the same message on another
        link is a scanner's (security gateways follow every link at once): flagged as a
        bot's. The earlier click of such a burst is flagged by the reconcile pass."""
        times = [c.at for c in clicks]
        result = await self.session.execute(
            text(
                "SELECT email_id, clicked, clicked_url FROM email_clicks "
                "WHERE tenant_id = :tenant AND email_id = ANY(:ids) "
                "AND clicked BETWEEN :low AND :high"
            ),
            {
                "tenant": str(tenant_id),
                "ids": list({c.email_id for c in clicks}),
                "low": min(times) - SCANNER_WINDOW,
                "high": max(times) + SCANNER_WINDOW,
            },
        )
        seen: dict[UUID, list[tuple[dt.datetime, str]]] = defaultdict(list)
        for email_id, at, url in result:
            seen[email_id].append((at, url))
        out = []
        for click in sorted(clicks, key=lambda c: c.at):
            url = dict(click.extra).get("url", "")
            burst = any(
                other_url != url and abs(other_at - click.at) <= SCANNER_WINDOW
                for other_at, other_url in seen[click.email_id]
            )
            seen[click.email_id].append((click.at, url))
            out.append(replace(click, bot=True) if burst and not click.bot else click)
        return out

    async def lock(self, tenant_id: UUID) -> None:
        """The tenant's roll-up lock, to the end of the transaction: consumer batches of one
        tenant and its reconcile pass take turns (their roll-up rows never deadlock, and a
        reconcile never overwrites a batch it did not see)."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended('analytics:' || :tenant, 0))"),
            {"tenant": str(tenant_id)},
        )

    async def reconcile(self, tenant_id: UUID, since: dt.date) -> int:
        """Recompute the engagement firsts and the roll-ups of messages sent from `since`
        from the raw rows (absolute values: running it twice changes nothing). Rows
        written."""
        await self.lock(tenant_id)
        params = {"tenant": str(tenant_id), "since": since}
        # Both sides of a scanner's burst (the consumer only sees the later clicks).
        await self.session.execute(
            text(
                "UPDATE email_clicks c SET bot = true WHERE c.tenant_id = :tenant "
                "AND c.clicked >= CAST(:since AS date) AND NOT c.bot AND EXISTS (SELECT 1 FROM email_clicks o "
                "WHERE o.tenant_id = c.tenant_id AND o.email_id = c.email_id "
                "AND o.clicked_url <> c.clicked_url "
                "AND o.clicked BETWEEN c.clicked - CAST(:window AS interval) "
                "AND c.clicked + CAST(:window AS interval))"
            ),
            params | {"window": SCANNER_WINDOW},
        )
        firsts = ", ".join(
            _first_of(column, table, at, human)
            for column, table, at, human in (
                ("first_opened", "email_opens", "opened", " AND NOT x.bot"),
                ("first_clicked", "email_clicks", "clicked", " AND NOT x.bot"),
                ("first_replied", "email_replies", "replied", ""),
                ("first_complained", "email_complaints", "complained", ""),
                ("unsubscribed", "email_unsubscribes", "unsubscribed", ""),
                ("sent", "email_sends", "sent", ""),
            )
        )
        sql = f"""UPDATE email_engagement g SET {firsts}, first_bounced = (
                SELECT min(bounced) FROM email_bounces x WHERE x.tenant_id = g.tenant_id
                AND x.email_id = g.email_id AND x.bounce_type = 'hard')
            WHERE g.tenant_id = :tenant AND g.day >= :since"""  # noqa: S608 — only module constants are interpolated
        await self.session.execute(text(sql), params)
        raw = _raw_count

        totals = {
            "emails_sent": "count(g.sent)",
            "emails_opened": "count(g.first_opened)",
            "emails_clicked": "count(g.first_clicked)",
            "emails_bounced": "count(g.first_bounced)",
            "emails_replied": "count(g.first_replied)",
            "emails_complained": "count(g.first_complained)",
            "emails_unsubscribed": "count(g.unsubscribed)",
            "opens_total": f"sum({raw('email_opens', 'NOT x.bot')})",
            "clicks_total": f"sum({raw('email_clicks', 'NOT x.bot')})",
            "replies_total": f"sum({raw('email_replies', 'true')})",
            "bot_opens": f"sum({raw('email_opens', 'x.bot')})",
            "bot_clicks": f"sum({raw('email_clicks', 'x.bot')})",
        }
        # Rows of days in range that no message keys any more are zeroed, not left stale.
        zeroes = ", ".join(f"{c} = 0" for c in COUNTERS)
        sql = f"""UPDATE daily_analytics SET {zeroes}, updated = now()
            WHERE tenant_id = :tenant AND date >= :since"""  # noqa: S608 — only module constants are interpolated
        await self.session.execute(text(sql), params)
        sets = ", ".join(f"{c} = excluded.{c}" for c in COUNTERS)
        values = ", ".join(totals[c] for c in COUNTERS)
        sql = f"""INSERT INTO daily_analytics (tenant_id, campaign_id, step_id, mailbox_id,
                variant_id, date, {", ".join(COUNTERS)})
            SELECT :tenant, g.campaign_id, g.step_id, g.mailbox_id, g.variant_id, g.day, {values}
            FROM email_engagement g WHERE g.tenant_id = :tenant AND g.day >= :since
            GROUP BY g.campaign_id, g.step_id, g.mailbox_id, g.variant_id, g.day
            ON CONFLICT ON CONSTRAINT uq_daily_analytics_tenant_campaign_step_mailbox_variant_date
            DO UPDATE SET {sets}, updated = now()"""  # noqa: S608 — only module constants are interpolated
        result = await self.session.execute(text(sql), params)
        return int(getattr(result, "rowcount", 0) or 0)

    async def _insert_raw(self, tenant_id: UUID, kind: str, items: list[Event]) -> set[UUID]:
        table, at_column, extra = _RAW[kind]
        record = [
            "id uuid",
            "email_id uuid",
            "campaign_id uuid",
            "step_id uuid",
            "mailbox_id uuid",
            "variant_id uuid",
            "lead_id uuid",
            "at timestamptz",
            *(f"{name} {sql_type}" for name, _, sql_type in extra),
        ]
        columns = [
            "id",
            "tenant_id",
            "email_id",
            "campaign_id",
            "step_id",
            "mailbox_id",
            "variant_id",
            "lead_id",
            at_column,
            *(column for _, column, _ in extra),
        ]
        values = [
            "r.id",
            ":tenant",
            "r.email_id",
            "r.campaign_id",
            "r.step_id",
            "r.mailbox_id",
            "r.variant_id",
            "r.lead_id",
            "r.at",
            *(
                f"COALESCE(r.{name}, '')"
                if column in ("clicked_url", "bounce_type")
                else f"r.{name}"
                for name, column, _ in extra
            ),
        ]
        rows = [e.row() for e in items]
        # Table and column names come from the module's constants only.
        sql = f"""INSERT INTO {table} ({", ".join(columns)}) SELECT {", ".join(values)}
            FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({", ".join(record)})
            ON CONFLICT (id) DO NOTHING RETURNING id"""  # noqa: S608 — only module constants are interpolated
        result = await self.session.execute(
            text(sql),
            {"tenant": str(tenant_id), "rows": json.dumps(rows)},
        )
        return {row[0] for row in result}

    async def _engagement_rows(self, tenant_id: UUID, items: list[Event]) -> None:
        """The message's engagement row, made by whichever of its events comes first; a
        `sent` event fills in the send time."""
        rows = {e.email_id: e.row() | {"sent": None} for e in items}
        for e in items:
            if e.type == events.SENT:
                rows[e.email_id]["sent"] = e.at.isoformat()
        await self.session.execute(
            text(
                "INSERT INTO email_engagement (tenant_id, email_id, campaign_id, step_id, "
                "variant_id, mailbox_id, lead_id, day, sent) "
                "SELECT :tenant, r.email_id, r.campaign_id, r.step_id, r.variant_id, "
                "r.mailbox_id, r.lead_id, r.day, r.sent "
                "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(email_id uuid, "
                "campaign_id uuid, step_id uuid, variant_id uuid, mailbox_id uuid, "
                "lead_id uuid, day date, sent timestamptz) "
                "ON CONFLICT (tenant_id, email_id) DO UPDATE SET "
                "sent = COALESCE(email_engagement.sent, excluded.sent)"
            ),
            {"tenant": str(tenant_id), "rows": json.dumps(list(rows.values()))},
        )

    async def _keys(self, tenant_id: UUID, email_ids: set[UUID]) -> dict[UUID, Key]:
        result = await self.session.execute(
            text(
                "SELECT email_id, campaign_id, step_id, mailbox_id, variant_id, day "
                "FROM email_engagement WHERE tenant_id = :tenant AND email_id = ANY(:ids)"
            ),
            {"tenant": str(tenant_id), "ids": list(email_ids)},
        )
        return {r[0]: (_s(r[1]), _s(r[2]), _s(r[3]), _s(r[4]), r[5].isoformat()) for r in result}

    async def _first(self, tenant_id: UUID, column: str, items: list[Event]) -> list[UUID]:
        """Set `column` on the messages where it is still NULL; those messages."""
        if not items:
            return []
        earliest: dict[UUID, dt.datetime] = {}
        for e in items:
            if e.email_id not in earliest or e.at < earliest[e.email_id]:
                earliest[e.email_id] = e.at
        rows = [{"email_id": str(k), "at": v.isoformat()} for k, v in earliest.items()]
        # The column is one of the module's constants.
        sql = f"""UPDATE email_engagement g SET {column} = r.at
            FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(email_id uuid, at timestamptz)
            WHERE g.tenant_id = :tenant AND g.email_id = r.email_id AND g.{column} IS NULL
            RETURNING g.email_id"""  # noqa: S608 — only module constants are interpolated
        result = await self.session.execute(
            text(sql),
            {"tenant": str(tenant_id), "rows": json.dumps(rows)},
        )
        return [r[0] for r in result]

    async def _roll_up(self, tenant_id: UUID, counts: dict[Key, dict[str, int]]) -> None:
        if not counts:
            return
        rows = [
            {
                "campaign_id": key[0],
                "step_id": key[1],
                "mailbox_id": key[2],
                "variant_id": key[3],
                "date": key[4],
                **{c: moved.get(c, 0) for c in COUNTERS},
            }
            for key, moved in counts.items()
        ]
        record = ", ".join(
            ["campaign_id uuid", "step_id uuid", "mailbox_id uuid", "variant_id uuid", "date date"]
            + [f"{c} integer" for c in COUNTERS]
        )
        # Only the module's counter names are interpolated; one input row per key, so no
        # statement touches a row twice.
        sets = ", ".join(f"{c} = daily_analytics.{c} + excluded.{c}" for c in COUNTERS)
        sql = f"""INSERT INTO daily_analytics (tenant_id, campaign_id, step_id, mailbox_id,
                variant_id, date, {", ".join(COUNTERS)})
            SELECT :tenant, campaign_id, step_id, mailbox_id, variant_id, date, {", ".join(COUNTERS)}
            FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({record})
            ON CONFLICT ON CONSTRAINT uq_daily_analytics_tenant_campaign_step_mailbox_variant_date
            DO UPDATE SET {sets}, updated = now()"""  # noqa: S608 — only module constants are interpolated
        await self.session.execute(text(sql), {"tenant": str(tenant_id), "rows": json.dumps(rows)})


def _first_of(column: str, table: str, at: str, human: str) -> str:
    return f"""{column} = (SELECT min({at}) FROM {table} x WHERE x.tenant_id = g.tenant_id
        AND x.email_id = g.email_id{human})"""  # noqa: S608 — only module constants are interpolated


def _raw_count(table: str, condition: str) -> str:
    return f"""(SELECT count(*) FROM {table} x WHERE x.tenant_id = g.tenant_id
        AND x.email_id = g.email_id AND {condition})"""  # noqa: S608 — only module constants are interpolated


__all__ = ["COUNTERS", "AnalyticsEventRepository", "Event"]
