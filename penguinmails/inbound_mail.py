"""Recording one inbound message, whichever way it came (a mailbox's IMAP poll or
`/webhooks/inbound`): stored, classified, threaded, and what follows from it.

`record_inbound` is idempotent by the message's Message-ID (a message without one gets an
id derived from its bytes), so a retried poll or a webhook posted twice records nothing
twice. In one tenant transaction it
- stores the raw MIME in the content store;
- finds the message of ours it answers or reports on (`In-Reply-To`/`References`, the DSN's
  or ARF's copy of our message, then sender and subject for a reply, the failed recipient
  for a bounce); a reply that answers nothing of ours is kept `unclassified`;
- writes the inbound row threaded under that message, with the classification, the
  category and its confidence;
- marks our message replied or bounced (never its send status), moves the lead's status,
  and suppresses the address on an unsubscribe in words, a complaint or a hard bounce.
Then the analytics rows and, for a row actually inserted, the roll-ups (only for events
about a message of ours; the events consumer's own ingest), and it returns the
facts the lead's sequences must hear: the caller signals them (the inbox workflow through
Temporal, the webhook through its use case), after the commit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails import events
from penguinmails.breakers import CampaignBreaker, campaign_breaker, mailbox_breaker
from penguinmails.db import Database
from penguinmails.mail.inbound import Classified, classify
from penguinmails.repositories.analytics_events import AnalyticsEventRepository, Event
from penguinmails.repositories.campaign_setup import CampaignSetupRepository
from penguinmails.repositories.content_parts import PART_SIZE, ContentPartsRepository
from penguinmails.repositories.engagement import EngagementRepository
from penguinmails.repositories.inbound import InboundRepository, ThreadParent
from penguinmails.repositories.inbound_events import event_id
from penguinmails.repositories.suppressions import SuppressionRepository
from penguinmails.repositories.unsubscribes import UnsubscribeRepository
from penguinmails.repositories.webhooks import WebhookRepository

# What a lead's sequence hears (activities/interfaces/campaigns.py spells the same names).
FACT_REPLY = "reply"
FACT_UNSUBSCRIBE = "unsubscribe"
FACT_BOUNCE = "bounce"
FACT_COMPLAINT = "complaint"
FACT_OUT_OF_OFFICE = "out_of_office"


_MESSAGE_TYPES = {"bounce": "bounce", "auto_reply": "auto_reply", "complaint": "complaint"}


@dataclass(frozen=True)
class LeadFact:
    """A fact for the lead's open sequences: `campaign_ids` those to tell (empty: every
    open one of the lead); `detail` the inbound Message-ID, or the return date (ISO) of an
    out-of-office notice."""

    lead_id: UUID
    signal: str
    detail: str
    campaign_ids: tuple[UUID, ...] = ()


@dataclass(frozen=True)
class InboundRecord:
    id: UUID
    created: bool
    kind: str
    reason: str
    category: str | None
    parent_id: UUID | None
    lead_id: UUID | None
    facts: tuple[LeadFact, ...]
    breaker_tripped: bool = False  # this message paused its mailbox
    campaign_breaker: CampaignBreaker | None = None  # its campaign is to pause
    # The outbound webhook events it enqueued (or had enqueued before): the caller wakes
    # the endpoints holding them, after the commit.
    webhook_event_ids: tuple[str, ...] = ()


def content_key(email_account_id: UUID, message_id: str) -> str:
    digest = hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:32]
    return f"inbound/{email_account_id}/{digest}"


def synthetic_message_id(raw: bytes) -> str:
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@inbound.penguinmails.invalid>"


async def record_inbound(
    db: Database,
    tenant_id: UUID,
    email_account_id: UUID,
    raw: bytes,
    *,
    max_parse_bytes: int | None = None,
) -> InboundRecord:
    found = classify(raw) if max_parse_bytes is None else classify(raw, max_parse_bytes)
    message_id = (found.message_id or synthetic_message_id(raw))[:998]
    key = content_key(email_account_id, message_id)
    async with db.tenant_session(tenant_id) as session:
        repo = InboundRepository(session)
        parent = await _parent(repo, email_account_id, found)
        kind, reason = found.kind, found.reason
        if kind == "reply" and parent is None:
            kind, reason = "unclassified", "not an answer to a message we sent"
        lead_id = parent.lead_id if parent else None
        if lead_id is None and kind == "unsubscribe" and found.from_address:
            lead_id = await repo.lead_by_address(found.from_address)
        parts = ContentPartsRepository(session)
        for n, start in enumerate(range(0, max(len(raw), 1), PART_SIZE)):
            await parts.put(tenant_id, key, n, raw[start : start + PART_SIZE], "message/rfc822")
        bounce = found.bounce
        stored = await repo.insert_inbound(
            tenant_id,
            email_account_id=email_account_id,
            campaign_id=parent.campaign_id if parent else None,
            lead_id=lead_id,
            parent_message_id=parent.id if parent else None,
            message_type=_MESSAGE_TYPES.get(kind, "email"),
            message_id=message_id,
            in_reply_to=found.in_reply_to,
            from_email=(found.from_address or "")[:320] or None,
            to_email=(found.to_address or "")[:320] or None,
            subject=found.subject,
            content_storage_key=key,
            bounce_type=bounce.bounce_type if bounce else None,
            bounce_reason=_bounce_reason(found),
            classification=kind,
            classification_reason=reason[:1000],
            category=found.category if kind in ("reply", "unsubscribe", "auto_reply") else None,
            category_confidence=found.confidence if found.category else None,
            category_source="rules" if found.category else None,
        )
        facts = await _consequences(
            session, repo, tenant_id, found, kind, parent, lead_id, message_id
        )
        zone = await EngagementRepository(session).time_zone() if parent else "UTC"
        at = _event_time(found)
        hooks = await _webhooks(session, tenant_id, parent, found, kind, lead_id, message_id, at)
        tripped = False
        campaign_trip: CampaignBreaker | None = None
        counts = kind == "complaint" or (
            found.bounce is not None and found.bounce.bounce_type == "hard"
        )
        if parent is not None and counts:
            if stored.created:
                tripped = await mailbox_breaker(session, tenant_id, parent.email_account_id)
            if parent.campaign_id is not None:
                # Looked at on a replay too: the pause goes through the campaign's workflow
                # after this commit, so a crash in between is made good by the retry.
                campaign_trip = await campaign_breaker(session, parent.campaign_id)
    if parent is not None:
        await _analytics(db, tenant_id, parent, found, kind, message_id, _zone(zone), at)
    return InboundRecord(
        stored.id,
        stored.created,
        kind,
        reason,
        found.category,
        parent.id if parent else None,
        lead_id,
        facts,
        tripped,
        campaign_trip,
        hooks,
    )


def _event_time(found: Classified) -> datetime:
    now = datetime.now(UTC)
    at = found.received or now
    return min(at, now)  # a sender's clock ahead of ours


async def _webhooks(
    session: AsyncSession,
    tenant_id: UUID,
    parent: ThreadParent | None,
    found: Classified,
    kind: str,
    lead_id: UUID | None,
    message_id: str,
    at: datetime,
) -> tuple[str, ...]:
    """The tenant's outbound webhook events for this message, enqueued in its transaction
    (deliveries exist exactly when the record does; each endpoint gets an event id once):
    `replied` with its category, `bounced`, `complained`, and `unsubscribed` for an
    unsubscribe in words. Ids only, never an address. Their ids are the analytics rows'."""
    wanted: list[tuple[str, str, dict[str, Any]]] = []
    if parent is not None and kind in ("reply", "unsubscribe"):
        category = found.category if kind == "reply" else "unsubscribe"
        wanted.append(("reply", "replied", {"category": category}))
    if parent is not None and kind == "bounce" and found.bounce is not None:
        wanted.append(("bounce", "bounced", {"bounce_type": found.bounce.bounce_type}))
    if parent is not None and kind == "complaint" and found.complaint is not None:
        feedback = {"feedback_type": found.complaint.feedback_type}
        wanted.append(("complaint", "complained", feedback))
    if kind == "unsubscribe" and lead_id is not None:
        wanted.append(("unsubscribe", "unsubscribed", {"via": "reply"}))
    repo = WebhookRepository(session)
    ids: list[str] = []
    for name, event_type, extra in wanted:
        data: dict[str, Any] = {
            "message_id": str(parent.id) if parent else None,
            "campaign_id": _str(parent.campaign_id if parent else None),
            "step_id": _str(parent.step_id if parent else None),
            "variant_id": _str(parent.variant_id if parent else None),
            "mailbox_id": _str(parent.email_account_id if parent else None),
            "lead_id": _str(lead_id),
            **extra,
        }
        event = str(event_id(tenant_id, name, message_id))
        await repo.enqueue(event, event_type, at, json.dumps(data))
        ids.append(event)
    return tuple(ids)


def _str(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def _bounce_reason(found: Classified) -> str | None:
    if found.bounce is None:
        return None
    parts = [found.bounce.status or "", found.bounce.diagnostic or ""]
    return " ".join(p for p in parts if p)[:1000] or None


async def _parent(
    repo: InboundRepository, email_account_id: UUID, found: Classified
) -> ThreadParent | None:
    if found.kind == "unclassified":
        return None
    parent = await repo.parent_by_message_ids(list(found.thread_ids))
    if parent is not None:
        return parent
    if found.kind in ("reply", "unsubscribe", "auto_reply") and found.from_address:
        return await repo.parent_by_sender_subject(
            email_account_id, found.from_address, found.subject
        )
    recipient = (
        found.bounce.recipient
        if found.bounce
        else found.complaint.recipient
        if found.complaint
        else None
    )
    if recipient:
        return await repo.parent_by_recipient(email_account_id, recipient)
    return None


async def _consequences(
    session: AsyncSession,
    repo: InboundRepository,
    tenant_id: UUID,
    found: Classified,
    kind: str,
    parent: ThreadParent | None,
    lead_id: UUID | None,
    message_id: str,
) -> tuple[LeadFact, ...]:
    """Statuses and suppressions in the same transaction; the facts to signal."""
    suppressions = SuppressionRepository(session)
    campaigns = (parent.campaign_id,) if parent and parent.campaign_id else ()
    lead_address = await repo.lead_address(lead_id) if lead_id else None
    facts: list[LeadFact] = []
    if kind == "reply" and parent is not None:
        await repo.mark_parent_replied(parent.id)
        if lead_id:
            await repo.set_lead_status(lead_id, "replied")
            facts.append(LeadFact(lead_id, FACT_REPLY, message_id, campaigns))
    elif kind == "unsubscribe":
        if parent is not None:
            await repo.mark_parent_replied(parent.id)
        address = lead_address or found.from_address
        if address:
            await suppressions.suppress_address(
                tenant_id, address, "unsubscribed", {"via": "reply", "message_id": message_id}
            )
        if lead_id:
            await UnsubscribeRepository(session).mark_lead_unsubscribed(lead_id)
            facts.append(LeadFact(lead_id, FACT_UNSUBSCRIBE, message_id))
    elif kind == "bounce" and found.bounce is not None:
        if parent is not None:
            await repo.mark_parent_bounced(
                parent.id, found.bounce.bounce_type, _bounce_reason(found) or ""
            )
        if found.bounce.bounce_type == "hard" and parent is not None:
            address = lead_address or found.bounce.recipient
            if address:
                await suppressions.suppress_address(
                    tenant_id, address, "bounced", {"status": found.bounce.status or ""}
                )
            if lead_id:
                await repo.set_lead_status(lead_id, "bounced")
                facts.append(LeadFact(lead_id, FACT_BOUNCE, found.bounce.status or "5.0.0"))
    elif kind == "complaint" and found.complaint is not None and parent is not None:
        address = lead_address or found.complaint.recipient
        if address:
            await suppressions.suppress_address(
                tenant_id, address, "complained", {"feedback_type": found.complaint.feedback_type}
            )
        if lead_id:
            await repo.set_lead_status(lead_id, "complained")
            facts.append(LeadFact(lead_id, FACT_COMPLAINT, found.complaint.feedback_type))
    elif kind == "auto_reply" and lead_id and found.return_date is not None:
        facts.append(
            LeadFact(lead_id, FACT_OUT_OF_OFFICE, found.return_date.isoformat(), campaigns)
        )
    if facts and not facts[0].campaign_ids and lead_id:
        # Address-level facts reach every open sequence of the lead.
        open_ids = tuple(await CampaignSetupRepository(session).open_campaigns_of_lead(lead_id))
        facts = [LeadFact(f.lead_id, f.signal, f.detail, open_ids) for f in facts]
    return tuple(facts)


async def _analytics(
    db: Database,
    tenant_id: UUID,
    parent: ThreadParent,
    found: Classified,
    kind: str,
    message_id: str,
    zone: ZoneInfo,
    at: datetime,
) -> None:
    """The raw row and, for a row actually inserted, the message's engagement and the
    day's roll-up: the events consumer's own ingest (`RETURNING`-guarded), so a reply or a
    bounce is in the stats at once, as a tracking hit is, and a message recorded again
    moves nothing. The event id is derived from the tenant, the kind and the Message-ID."""
    extra: tuple[tuple[str, str], ...]
    if kind in ("reply", "unsubscribe"):
        name, etype, extra = "reply", events.REPLY, (("message_id", message_id),)
    elif kind == "bounce" and found.bounce is not None:
        name, etype = "bounce", events.BOUNCED
        extra = (
            ("bounce_type", found.bounce.bounce_type),
            ("reason", (_bounce_reason(found) or "")[:1000]),
        )
    elif kind == "complaint" and found.complaint is not None:
        name, etype = "complaint", events.COMPLAINT
        extra = (("feedback_type", found.complaint.feedback_type),)
    else:
        return
    event = Event(
        id=event_id(tenant_id, name, message_id),
        type=etype,
        tenant_id=tenant_id,
        email_id=parent.id,
        at=at,
        # Counted on the day the message was sent, in the tenant's zone, as the consumer does.
        day=(parent.sent_at or at).astimezone(zone).date(),
        campaign_id=parent.campaign_id,
        step_id=parent.step_id,
        mailbox_id=parent.email_account_id,
        variant_id=parent.variant_id,
        lead_id=parent.lead_id,
        extra=extra,
    )
    async with db.analytics_session(tenant_id) as session:
        await AnalyticsEventRepository(session).ingest(tenant_id, [event])


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


__all__ = [
    "FACT_BOUNCE",
    "FACT_COMPLAINT",
    "FACT_OUT_OF_OFFICE",
    "FACT_REPLY",
    "FACT_UNSUBSCRIBE",
    "CampaignBreaker",
    "InboundRecord",
    "LeadFact",
    "content_key",
    "record_inbound",
]
