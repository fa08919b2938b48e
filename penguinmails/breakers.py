"""The circuit breakers: a mailbox or a campaign whose hard-bounce or complaint rate over a
rolling window passes its limit pauses itself with the reason `breaker`, and the tenant is
told once, with the figures. Nothing lifts it but the tenant, explicitly.

Over the last BREAKER_DAYS days, once there are at least BREAKER_MIN_SENDS sends, a
hard-bounce rate above BREAKER_BOUNCE_RATE (SMTP refusals at RCPT and DSNs alike) or a
complaint rate above BREAKER_COMPLAINT_RATE trips it. A mailbox is paused here, in the
caller's transaction (its sends re-check its pause reasons). A campaign is paused through
its workflow's `pause` update (the engine's pause: in-flight sends drain first), so this
only says which campaign to pause and with what notice; the pause activity writes the
notice with the pause, once. Both are looked at after every hard bounce and complaint,
whichever way it arrived (the send's own 5.1.x refusal, a DSN, an ARF report).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.repositories.inbound import InboundRepository
from penguinmails.repositories.notifications import NotificationRepository

BREAKER_DAYS = 7
BREAKER_MIN_SENDS = 20
BREAKER_BOUNCE_RATE = 0.05
BREAKER_COMPLAINT_RATE = 0.001
BREAKER = "breaker"


@dataclass(frozen=True)
class CampaignBreaker:
    """A campaign past the breaker's thresholds and not yet paused by it: the caller pauses
    it through its workflow (reason `breaker`), which writes this notification with the
    pause, once."""

    campaign_id: UUID
    title: str
    message: str


def over_limits(sends: int, bounces: int, complaints: int) -> bool:
    if sends < BREAKER_MIN_SENDS:
        return False
    return bounces / sends > BREAKER_BOUNCE_RATE or complaints / sends > BREAKER_COMPLAINT_RATE


def _figures(what: str, sends: int, bounces: int, complaints: int) -> str:
    return (
        f"Over the last {BREAKER_DAYS} days {what} sent {sends} messages: "
        f"{bounces} hard bounces ({bounces / sends:.1%}, limit {BREAKER_BOUNCE_RATE:.0%}) and "
        f"{complaints} complaints ({complaints / sends:.2%}, limit "
        f"{BREAKER_COMPLAINT_RATE:.1%}). "
    )


async def mailbox_breaker(session: AsyncSession, tenant_id: UUID, mailbox_id: UUID) -> bool:
    """Pause the mailbox when its rates pass the limits; True when it paused it now (a
    mailbox already paused by the breaker is not paused or notified again)."""
    repo = InboundRepository(session)
    sends, bounces, complaints = await repo.mailbox_rates(mailbox_id, BREAKER_DAYS)
    if not over_limits(sends, bounces, complaints):
        return False
    if not await repo.pause_mailbox(mailbox_id, BREAKER):
        return False
    address = await repo.mailbox_address(mailbox_id) or str(mailbox_id)
    await NotificationRepository(session).add(
        tenant_id,
        kind="mailbox_breaker",
        title=f"{address} paused: too many bounces or complaints",
        message=_figures(address, sends, bounces, complaints)
        + "Its sends stay paused until the breaker's pause is lifted explicitly "
        f"(POST /v1/email-accounts/{mailbox_id}/resume).",
        severity="error",
    )
    return True


async def campaign_breaker(session: AsyncSession, campaign_id: UUID) -> CampaignBreaker | None:
    """The campaign's own breaker, with the mailbox's limits over all its mailboxes' sends:
    what to pause, or None (below them, ended, or already paused by it)."""
    repo = InboundRepository(session)
    state = await repo.campaign_pause_state(campaign_id)
    if state is None:
        return None
    name, status, reasons = state
    if status not in ("scheduled", "sending", "paused") or BREAKER in reasons:
        return None
    sends, bounces, complaints = await repo.campaign_rates(campaign_id, BREAKER_DAYS)
    if not over_limits(sends, bounces, complaints):
        return None
    return CampaignBreaker(
        campaign_id,
        f"Campaign {name} paused: too many bounces or complaints",
        _figures(f"campaign {name}", sends, bounces, complaints)
        + "It stays paused until the breaker's pause is lifted explicitly "
        f"(POST /v1/campaigns/{campaign_id}/resume with reason breaker).",
    )


__all__ = [
    "BREAKER",
    "BREAKER_BOUNCE_RATE",
    "BREAKER_COMPLAINT_RATE",
    "BREAKER_DAYS",
    "BREAKER_MIN_SENDS",
    "CampaignBreaker",
    "campaign_breaker",
    "mailbox_breaker",
    "over_limits",
]
