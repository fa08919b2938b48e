"""The raw rows inbound mail adds to the analytics database (`email_replies`,
`email_bounces`, `email_complaints`). Each row's id is derived from the tenant, the kind and
the inbound message's Message-ID, so recording the same message again inserts nothing; the
roll-ups are not this module's business."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID, uuid5

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

_NAMESPACE = UUID("6f1d9a52-8c1e-4b7a-9a35-1f0c2d7e4b11")


def event_id(tenant_id: UUID, kind: str, message_id: str) -> UUID:
    return uuid5(_NAMESPACE, f"{tenant_id}:{kind}:{message_id}")


@dataclass(frozen=True)
class EventTarget:
    """The message of ours an event is about (its analytics dimensions)."""

    tenant_id: UUID
    email_id: UUID
    campaign_id: UUID | None
    step_id: UUID | None
    mailbox_id: UUID | None
    lead_id: UUID | None
    variant_id: UUID | None


_COLUMNS = "id, tenant_id, email_id, campaign_id, step_id, mailbox_id, lead_id, variant_id"
_VALUES = ":id, :tenant_id, :email_id, :campaign_id, :step_id, :mailbox_id, :lead_id, :variant_id"


class InboundEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _params(self, target: EventTarget, kind: str, message_id: str) -> dict[str, object]:
        return {
            "id": event_id(target.tenant_id, kind, message_id),
            "tenant_id": target.tenant_id,
            "email_id": target.email_id,
            "campaign_id": target.campaign_id,
            "step_id": target.step_id,
            "mailbox_id": target.mailbox_id,
            "lead_id": target.lead_id,
            "variant_id": target.variant_id,
        }

    async def _insert(
        self, table: str, extra: dict[str, object], params: dict[str, object]
    ) -> bool:
        columns = _COLUMNS + "".join(f", {c}" for c in extra)
        values = _VALUES + "".join(f", :{c}" for c in extra)
        result = await self.session.execute(
            text(
                f"INSERT INTO {table} ({columns}) VALUES ({values}) "  # noqa: S608 — this module's names only
                "ON CONFLICT (id) DO NOTHING"
            ),
            {**params, **extra},
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def add_reply(self, target: EventTarget, message_id: str, at: dt.datetime) -> bool:
        """True when inserted (False: recorded before)."""
        return await self._insert(
            "email_replies",
            {"message_id": message_id, "replied": at},
            self._params(target, "reply", message_id),
        )

    async def add_bounce(
        self, target: EventTarget, message_id: str, bounce_type: str, reason: str, at: dt.datetime
    ) -> bool:
        return await self._insert(
            "email_bounces",
            {"bounce_type": bounce_type, "bounce_reason": reason[:1000], "bounced": at},
            self._params(target, "bounce", message_id),
        )

    async def add_complaint(
        self, target: EventTarget, message_id: str, feedback_type: str, at: dt.datetime
    ) -> bool:
        return await self._insert(
            "email_complaints",
            {"feedback_type": feedback_type, "complained": at},
            self._params(target, "complaint", message_id),
        )


__all__ = ["EventTarget", "InboundEventRepository", "event_id"]
