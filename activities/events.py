"""The events consumer: the Redis stream (DESIGN "Events") into the analytics database.

It is the worker side of the stream, not a Temporal activity: it runs inside every worker
process (`worker.py` starts it beside the Temporal workers;
`EVENTS_CONSUMER=false` turns it off), each process one consumer of the consumer group
`EVENTS_GROUP`, named after its host and pid, so it scales with the worker replicas: Redis
hands each entry to one of them.

One cycle:
1. `XAUTOCLAIM` entries another consumer (or an earlier life of this one) read but never
   acknowledged for `EVENTS_CLAIM_IDLE_SECONDS` (10 s: a consumer that died mid-batch
   delays its events by that much, well inside the minute freshness promises);
2. `XREADGROUP` up to `EVENTS_BATCH` new entries (blocking for a second at most);
3. per tenant, one analytics transaction writes the raw rows idempotently by event id, the
   per-message engagement and the daily roll-ups, moved only for rows actually inserted
   (`AnalyticsEventRepository`); then one OLTP transaction sets the outbox's
   `opened_at`/`clicked_at`/`replied_at` (never its status); then the lead's sequences get
   the signal an event asks for (`signal` = "1": a reply, bounce or complaint whose
   producer did not tell the workflow itself; DESIGN rule 5);
4. `XACK`. An entry whose tenant failed stays pending and is claimed again.

Steps 3's second and third parts are idempotent too and run for every event of the batch,
not only the new ones: a consumer that died after the analytics commit redoes them.

An entry that cannot be parsed goes to `{stream}:dead` with the reason and is acknowledged.
Entries older than every group's read position and pending list are trimmed once a minute.

Stream fields (all strings): `id` (the event id; for `sent`/`bounced` from the send
activity it is the outbox id), `type` (sent, bounced, open, click, reply, complaint,
unsubscribe), `tenant`, `email` (outbox id; defaults to `id`), `campaign`, `step`,
`variant`, `mailbox`, `lead`, `at` (ISO time of the event), `sent_at` (of the message, for
the roll-up's day), `bot` (a reason, empty for a person), `signal`, and the type's own:
`url`, `ip`, `ua`, `bounce_type`, `reason`, `message_id`, `feedback_type`, `via`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.interfaces.campaigns import (
    SIGNAL_BOUNCE,
    SIGNAL_COMPLAINT,
    SIGNAL_REPLY,
    LeadSignal,
)
from activities.webhooks import publish as publish_webhooks
from penguinmails import events
from penguinmails.db import Database
from penguinmails.events import field
from penguinmails.repositories.analytics_events import AnalyticsEventRepository, Event
from penguinmails.repositories.campaign_setup import CampaignSetupRepository
from penguinmails.repositories.engagement import EngagementRepository
from penguinmails.settings import Settings

log = logging.getLogger(__name__)

_EXTRA = {
    events.OPEN: ("ip", "ua"),
    events.CLICK: ("url", "ip", "ua"),
    events.BOUNCED: ("bounce_type", "reason", "signal"),
    events.REPLY: ("message_id", "signal"),
    events.COMPLAINT: ("feedback_type", "signal"),
    events.UNSUBSCRIBE: ("via",),
}
_OUTBOX_COLUMN = {events.OPEN: "opened_at", events.CLICK: "clicked_at", events.REPLY: "replied_at"}
_SIGNALS = {
    events.REPLY: SIGNAL_REPLY,
    events.BOUNCED: SIGNAL_BOUNCE,
    events.COMPLAINT: SIGNAL_COMPLAINT,
}
ZONE_TTL = 300.0
TRIM_EVERY = 60.0


class BadEvent(ValueError):
    """An entry that is not an event: dead-lettered, never retried."""


def _uuid(value: str, name: str, required: bool = False) -> UUID | None:
    if not value:
        if required:
            raise BadEvent(f"{name} is missing")
        return None
    try:
        return UUID(value)
    except ValueError:
        raise BadEvent(f"{name} is not a UUID") from None


def _time(value: str, name: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadEvent(f"{name} is not an ISO time") from None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def parse(entry: dict[Any, Any], zone_of: Any) -> Event:
    """A stream entry as an Event; `zone_of(tenant_id)` gives the tenant's ZoneInfo."""
    kind = field(entry, "type")
    if kind not in events.EVENT_TYPES:
        raise BadEvent(f"unknown type {kind!r}")
    event_id = _uuid(field(entry, "id"), "id", True)
    tenant_id = _uuid(field(entry, "tenant"), "tenant", True)
    assert event_id is not None and tenant_id is not None
    email_id = _uuid(field(entry, "email"), "email") or event_id
    at = _time(field(entry, "at"), "at") if field(entry, "at") else dt.datetime.now(dt.UTC)
    sent_at = field(entry, "sent_at")
    basis = at if kind == events.SENT or not sent_at else _time(sent_at, "sent_at")
    extra: list[tuple[str, str]] = []
    for name in _EXTRA.get(kind, ()):
        value = field(entry, name)
        if name == "ip" and value:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                value = ""
        extra.append((name, value))
    if kind == events.BOUNCED and dict(extra).get("bounce_type") not in ("hard", "soft"):
        raise BadEvent("bounce_type must be hard or soft")
    return Event(
        id=event_id,
        type=kind,
        tenant_id=tenant_id,
        email_id=email_id,
        at=at,
        day=basis.astimezone(zone_of(tenant_id)).date(),
        campaign_id=_uuid(field(entry, "campaign"), "campaign"),
        step_id=_uuid(field(entry, "step"), "step"),
        mailbox_id=_uuid(field(entry, "mailbox"), "mailbox"),
        variant_id=_uuid(field(entry, "variant"), "variant"),
        lead_id=_uuid(field(entry, "lead"), "lead"),
        bot=bool(field(entry, "bot")),
        extra=tuple(extra),
    )


# (tenant, campaign, lead) -> the lead's sequence workflow id (workflows.names, injected by
# the worker: activities import no workflow module).
SequenceId = Callable[[UUID, UUID, UUID], str]


class EventsConsumer:
    def __init__(
        self,
        db: Database,
        redis: Redis,
        temporal: Client | None,
        settings: Settings,
        name: str | None = None,
        sequence_id: SequenceId | None = None,
    ) -> None:
        self.db = db
        self.redis = redis
        self.temporal = temporal
        self.sequence_id = sequence_id
        self.stream = settings.events_stream
        self.group = settings.events_group
        self.batch = settings.events_batch
        self.claim_idle_ms = int(settings.events_claim_idle_seconds * 1000)
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self._zones: dict[UUID, tuple[float, ZoneInfo]] = {}
        self._trimmed = 0.0
        self._group_ready = False

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; Redis or a database going away is waited out."""
        log.info("events consumer %s reading %s", self.name, self.stream)
        while not stop.is_set():
            try:
                await self.cycle(block_ms=1000)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                self._group_ready = False
                log.warning("events consumer: redis unavailable (%s); retrying", exc)
                await _sleep_or_stop(stop, 0.5)
            except Exception:
                log.exception("events consumer: cycle failed; retrying")
                await _sleep_or_stop(stop, 1.0)

    async def cycle(self, block_ms: int | None = None) -> int:
        """One claim and one read; how many entries were handled (acknowledged)."""
        await self._ensure_group()
        handled = 0
        claimed: Any = await self.redis.xautoclaim(
            self.stream, self.group, self.name, self.claim_idle_ms, "0-0", count=self.batch
        )
        if claimed[1]:
            handled += await self.handle(claimed[1])
        read: Any = await self.redis.xreadgroup(
            self.group, self.name, {self.stream: ">"}, count=self.batch, block=block_ms
        )
        for _, entries in read or []:
            if entries:
                handled += await self.handle(entries)
        if time.monotonic() - self._trimmed > TRIM_EVERY:
            await self.trim()
        return handled

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def handle(self, entries: list[tuple[bytes, dict[Any, Any]]]) -> int:
        """Write, update, signal, acknowledge; the number acknowledged."""
        by_tenant: dict[UUID, list[tuple[bytes, Event]]] = defaultdict(list)
        dead: list[tuple[bytes, str]] = []
        for entry_id, entry in entries:
            if not entry:  # deleted meanwhile (XAUTOCLAIM reports it as empty)
                dead.append((entry_id, ""))
                continue
            try:
                tenant = _uuid(field(entry, "tenant"), "tenant", True)
                assert tenant is not None
                zone = await self._zone(tenant)
                event = parse(entry, lambda _t, z=zone: z)
            except BadEvent as exc:
                dead.append((entry_id, str(exc)))
                continue
            by_tenant[event.tenant_id].append((entry_id, event))
        done = [entry_id for entry_id, reason in dead]
        if dead:
            async with self.redis.pipeline(transaction=False) as pipe:
                for entry_id, reason in dead:
                    if reason:
                        pipe.xadd(
                            f"{self.stream}:dead",
                            {"entry": entry_id, "reason": reason},
                            maxlen=10_000,
                            approximate=True,
                        )
                await pipe.execute()
        for tenant_id, items in by_tenant.items():
            try:
                await self._tenant(tenant_id, [event for _, event in items])
            except Exception:
                log.exception("events consumer: %d event(s) left pending", len(items))
                continue
            done += [entry_id for entry_id, _ in items]
        if done:
            await self.redis.xack(self.stream, self.group, *done)
        return len(done)

    async def _tenant(self, tenant_id: UUID, batch: list[Event]) -> None:
        async with self.db.analytics_session(tenant_id) as session:
            await AnalyticsEventRepository(session).ingest(tenant_id, batch)
        firsts: dict[str, dict[UUID, dt.datetime]] = defaultdict(dict)
        for event in batch:
            column = _OUTBOX_COLUMN.get(event.type)
            if column is None or event.bot:
                continue
            seen = firsts[column].get(event.email_id)
            if seen is None or event.at < seen:
                firsts[column][event.email_id] = event.at
        if firsts:
            async with self.db.tenant_session(tenant_id) as session:
                repo = EngagementRepository(session)
                for column, times in firsts.items():
                    await repo.first_times(column, times)
        if self.temporal is None:
            return
        await self._publish(tenant_id, batch)
        if self.sequence_id is None:
            return
        told: set[tuple[UUID, str]] = set()
        for event in batch:
            signal = _SIGNALS.get(event.type)
            if signal is None or event.lead_id is None or (event.lead_id, signal) in told:
                continue
            if not self._wants_signal(event):
                continue
            told.add((event.lead_id, signal))
            await self._signal_lead(tenant_id, event.lead_id, signal)

    async def _publish(self, tenant_id: UUID, batch: list[Event]) -> None:
        """The tenant's outbound webhooks: every event a person made (bots left out), new or
        replayed (deliveries are unique per endpoint and event id, so a replay adds none),
        one nudge per endpoint for the batch."""
        assert self.temporal is not None
        wanted = [
            (str(e.id), WEBHOOK_TYPES[e.type], e.at, _webhook_data(e))
            for e in batch
            if e.type in WEBHOOK_TYPES and not e.bot
        ]
        if wanted:
            await publish_webhooks(self.db, self.temporal, tenant_id, wanted)

    async def _signal_lead(self, tenant_id: UUID, lead_id: UUID, signal: str) -> None:
        """`signal` to each open sequence of the lead; one that is not running is skipped
        (its rows already say what the signal would)."""
        assert self.temporal is not None and self.sequence_id is not None
        async with self.db.tenant_session(tenant_id) as session:
            campaigns = await CampaignSetupRepository(session).open_campaigns_of_lead(lead_id)
        for campaign_id in campaigns:
            handle = self.temporal.get_workflow_handle(
                self.sequence_id(tenant_id, campaign_id, lead_id)
            )
            try:
                await handle.signal(signal, LeadSignal(str(tenant_id), "event"))
            except RPCError as exc:
                if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                    raise

    @staticmethod
    def _wants_signal(event: Event) -> bool:
        extra = dict(event.extra)
        if event.type == events.BOUNCED and extra.get("bounce_type") != "hard":
            return False
        return extra.get("signal") == "1"

    async def _zone(self, tenant_id: UUID) -> ZoneInfo:
        cached = self._zones.get(tenant_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with self.db.tenant_session(tenant_id) as session:
            name = await EngagementRepository(session).time_zone()
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        self._zones[tenant_id] = (time.monotonic() + ZONE_TTL, zone)
        return zone

    async def trim(self) -> None:
        """Drop entries every group has read and acknowledged."""
        self._trimmed = time.monotonic()
        try:
            groups = await self.redis.xinfo_groups(self.stream)
        except ResponseError:
            return
        floor: str | None = None
        for raw in groups:
            group = {_text(k): v for k, v in dict(raw).items()}
            last = _text(group.get("last-delivered-id"))
            pending = await self.redis.xpending(self.stream, _text(group.get("name")))
            oldest = _text(pending.get("min")) if pending and pending.get("pending") else None
            candidate = min((x for x in (last, oldest) if x), key=_entry_key, default=None)
            if candidate is None:
                return
            floor = candidate if floor is None else min(floor, candidate, key=_entry_key)
        if floor and floor != "0-0":
            await self.redis.xtrim(self.stream, minid=floor, approximate=True)


# Stream event types -> outbound webhook event types (penguinmails.webhooks.EVENT_TYPES).
WEBHOOK_TYPES = {
    events.SENT: "sent",
    events.OPEN: "opened",
    events.CLICK: "clicked",
    events.REPLY: "replied",
    events.BOUNCED: "bounced",
    events.UNSUBSCRIBE: "unsubscribed",
    events.COMPLAINT: "complained",
}


def _webhook_data(event: Event) -> dict[str, Any]:
    """What a tenant's endpoint receives: ids and the type's own fields, never an address
    (a receiver looks the lead up by id)."""
    data: dict[str, Any] = {
        "message_id": str(event.email_id),
        "campaign_id": _id(event.campaign_id),
        "step_id": _id(event.step_id),
        "variant_id": _id(event.variant_id),
        "mailbox_id": _id(event.mailbox_id),
        "lead_id": _id(event.lead_id),
    }
    data.update({k: v for k, v in event.extra if k in ("url", "bounce_type", "feedback_type")})
    return data


def _id(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


__all__ = ["BadEvent", "EventsConsumer", "parse"]
