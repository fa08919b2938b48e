"""What follows a recorded unsubscribe (the `/u/` POST): the lead's open sequences told at
once (DESIGN rule 5: an unsubscribe is a fact that arrives) and its event on the stream.

The suppression, the lead's status and the audit row are committed before this runs, and
the send transaction re-checks them, so neither a lost signal nor a lost event can let a
message through; they make the sequence end now and the numbers show it.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from uuid import UUID

from redis.asyncio import Redis
from temporalio.client import Client

from activities.interfaces.campaigns import SIGNAL_UNSUBSCRIBE
from penguinmails import events
from penguinmails.db import Database
from penguinmails.repositories.tracking import TrackingRepository
from usecases.campaigns import signal_lead

log = logging.getLogger(__name__)
# The event of a message's unsubscribe has one id whatever the number of POSTs, so the
# consumer stores it once.
_UNSUBSCRIBE_NS = uuid.UUID("0b6f1f8e-2d4c-4d59-9a63-2f7e6a1c5d10")


def unsubscribe_event_id(message_ref_id: UUID) -> str:
    return str(uuid.uuid5(_UNSUBSCRIBE_NS, str(message_ref_id)))


async def unsubscribed(
    db: Database,
    client: Client,
    redis: Redis,
    stream: str,
    tenant_id: UUID,
    message_id: str,
    via: str,
) -> int:
    """Signal the lead's sequences and append the event; how many sequences were told."""
    async with db.tenant_session(tenant_id) as session:
        message = await TrackingRepository(session).message(message_id)
    if message is None or message.is_test:
        return 0
    told = 0
    if message.lead_id is not None:
        told = (
            await signal_lead(db, client, tenant_id, message.lead_id, SIGNAL_UNSUBSCRIBE, via) or 0
        )
    fields = {
        "id": unsubscribe_event_id(message.email_id),
        "type": events.UNSUBSCRIBE,
        "tenant": str(tenant_id),
        "email": str(message.email_id),
        "campaign": str(message.campaign_id or ""),
        "step": str(message.step_id or ""),
        "variant": str(message.variant_id or ""),
        "mailbox": str(message.mailbox_id),
        "lead": str(message.lead_id or ""),
        "sent_at": message.sent_at.isoformat() if message.sent_at else "",
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "via": via,
    }
    try:
        await redis.xadd(stream, fields)  # type: ignore[arg-type]
    except Exception:
        # Recorded and enforced already; only the count in the stats would miss it.
        log.exception("unsubscribe: the event could not be appended")
    return told


__all__ = ["unsubscribe_event_id", "unsubscribed"]
