"""Unsubscribing a recipient: what the public `/u/{token}` endpoint (the page's form and
the RFC 8058 one-click POST) does once the token is verified.

`record_unsubscribe` is the hook. Today, in the caller's tenant transaction, it records a
suppression (reason `unsubscribed`, the address hash `SuppressionRepository` computes), sets
the lead's status `unsubscribed` and writes an audit row whose actor is the recipient. The
campaign engine extends it to signal the lead's sequence workflow (an unsubscribe is a fact
that arrives: DESIGN rule 5), using the `campaign_id`/`lead_id` of the outcome.

The mailto variant of `List-Unsubscribe` needs inbound mail processing and is not handled
here.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.repositories.suppressions import SuppressionRepository
from penguinmails.repositories.unsubscribes import OutboundRecipient, UnsubscribeRepository

VIA = ("one_click", "page")


@dataclass(frozen=True)
class UnsubscribeOutcome:
    lead_id: UUID | None
    campaign_id: UUID | None
    suppressed_now: bool  # False: the address was already suppressed
    status_changed: bool


def mask_address(address: str) -> str:
    """`a***@example.com`: enough for the recipient to recognise, little for anyone else."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain.lower()}"


async def find_recipient(session: AsyncSession, message_id: str) -> OutboundRecipient | None:
    return await UnsubscribeRepository(session).recipient(message_id)


async def record_unsubscribe(
    session: AsyncSession,
    tenant_id: UUID,
    recipient: OutboundRecipient,
    via: str,
    request_id: str | None = None,
) -> UnsubscribeOutcome:
    """Idempotent: a repeat finds the suppression and the status in place and writes
    nothing. Runs inside the caller's tenant transaction."""
    if via not in VIA:
        raise ValueError(f"unknown unsubscribe channel {via!r}")
    suppressed_now = status_changed = False
    if recipient.email is not None:
        _, suppressed_now = await SuppressionRepository(session).suppress_address(
            tenant_id, recipient.email, "unsubscribed", {"via": via}
        )
    repo = UnsubscribeRepository(session)
    if recipient.lead_id is not None:
        status_changed = await repo.mark_lead_unsubscribed(recipient.lead_id)
    if suppressed_now or status_changed:
        await repo.audit(
            tenant_id,
            "lead" if recipient.lead_id is not None else "message",
            str(recipient.lead_id or recipient.message_ref_id),
            {
                "via": via,
                "message_ref_id": str(recipient.message_ref_id),
                "campaign_id": str(recipient.campaign_id) if recipient.campaign_id else None,
            },
            request_id,
        )
    return UnsubscribeOutcome(
        recipient.lead_id, recipient.campaign_id, suppressed_now, status_changed
    )


__all__ = [
    "UnsubscribeOutcome",
    "find_recipient",
    "mask_address",
    "record_unsubscribe",
]
