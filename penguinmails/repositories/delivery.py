"""What the delivery activity reads to build a message from ids, and the facts it writes
besides the outbox row: a bounced lead, a mailbox whose login was refused (with a
notification for the tenant), the `sent` event's fields. The caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.campaigns import Campaign, CampaignSequenceStep, CampaignStepVariant
from penguinmails.models.infra import Domain, EmailAccount
from penguinmails.models.leads import Lead
from penguinmails.repositories.content import ContentRepository
from penguinmails.repositories.outbox import Reservation
from penguinmails.repositories.templates import TemplateRepository


@dataclass(frozen=True)
class StepContext:
    campaign: Campaign
    step: CampaignSequenceStep
    variants: list[CampaignStepVariant]  # the active ones, by position
    lead: Lead | None


@dataclass(frozen=True)
class TemplateSource:
    subject: str
    body: str


@dataclass(frozen=True)
class SentRow:
    id: UUID
    tenant_id: UUID
    campaign_id: UUID | None
    step_id: UUID | None
    variant_id: UUID | None
    email_account_id: UUID
    lead_id: UUID | None
    message_id: str
    sent_at: dt.datetime | None
    is_test: bool
    bounced_at: dt.datetime | None = None
    bounce_reason: str | None = None


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def step_context(
        self, campaign_id: UUID, step_id: UUID, lead_id: UUID | None
    ) -> StepContext | None:
        """None when the campaign or the step (of that campaign) does not exist."""
        campaign = await self.session.get(Campaign, campaign_id)
        step = await self.session.get(CampaignSequenceStep, step_id)
        if campaign is None or step is None or step.campaign_id != campaign_id:
            return None
        variants = (
            await self.session.exec(
                select(CampaignStepVariant)
                .where(
                    CampaignStepVariant.step_id == step_id,
                    col(CampaignStepVariant.is_active).is_(True),
                )
                .order_by(col(CampaignStepVariant.position))
            )
        ).all()
        lead = await self.session.get(Lead, lead_id) if lead_id is not None else None
        return StepContext(campaign, step, list(variants), lead)

    async def template(self, template_id: UUID) -> TemplateSource | None:
        template = await TemplateRepository(self.session).get(template_id)
        if template is None:
            return None
        body = await ContentRepository(self.session).get(template.content_storage_key)
        return TemplateSource(template.subject or "", (body or b"").decode("utf-8", "replace"))

    async def mailbox(self, mailbox_id: UUID) -> tuple[EmailAccount, Domain] | None:
        account = await self.session.get(EmailAccount, mailbox_id)
        if account is None:
            return None
        domain = await self.session.get(Domain, account.domain_id)
        if domain is None:
            return None
        return account, domain

    async def thread(
        self, campaign_id: UUID, lead_id: UUID, first: str | None, exclude_step: UUID
    ) -> list[tuple[UUID, str]]:
        """(row id, Message-ID) of the messages already sent to this lead in this campaign,
        the thread's first message first, then by send time: the References of a follow-up."""
        rows = await self.session.execute(
            text(
                "SELECT id, message_id FROM inbox_message_refs "
                "WHERE direction = 'outbound' AND campaign_id = :campaign AND lead_id = :lead "
                "AND NOT is_test AND status = 'sent' AND step_id <> :step "
                "ORDER BY message_id = :first DESC, sent_at, id"
            ),
            {"campaign": campaign_id, "lead": lead_id, "step": exclude_step, "first": first},
        )
        return [(r.id, r.message_id) for r in rows]

    async def find_by_message_ids(self, message_ids: Sequence[str]) -> Reservation | None:
        """An outbound row holding one of these Message-IDs (a test send's retry)."""
        row = (
            await self.session.execute(
                text(
                    "SELECT id, message_id, status, email_account_id, attempts "
                    "FROM inbox_message_refs "
                    "WHERE direction = 'outbound' AND message_id = ANY(:ids) LIMIT 1"
                ),
                {"ids": list(message_ids)},
            )
        ).first()
        if row is None:
            return None
        return Reservation(
            row.id, row.message_id, row.status, row.email_account_id, row.attempts, False
        )

    async def row_status(self, row_id: UUID, *, wait: bool = False) -> tuple[str, int]:
        """(status, attempts) of an outbox row; `wait`: after any send of it in flight (that
        holds the row `FOR UPDATE` until its outcome is written)."""
        row = (
            await self.session.execute(
                text(
                    "SELECT status, attempts FROM inbox_message_refs WHERE id = :id"  # noqa: S608 — a constant clause chosen by a bool
                    + (" FOR UPDATE" if wait else "")
                ),
                {"id": row_id},
            )
        ).one()
        return str(row.status), int(row.attempts)

    async def sent_row(self, row_id: UUID) -> SentRow:
        row = (
            await self.session.execute(
                text(
                    "SELECT id, tenant_id, campaign_id, step_id, variant_id, email_account_id, "
                    "lead_id, message_id, sent_at, is_test, bounced_at, bounce_reason "
                    "FROM inbox_message_refs "
                    "WHERE id = :id"
                ),
                {"id": row_id},
            )
        ).one()
        return SentRow(**row._mapping)

    async def mark_lead_bounced(self, lead_id: UUID) -> None:
        """The lead's hard bounce: it gets nothing more from any campaign (an erased,
        unsubscribed or complained lead keeps the stronger status)."""
        await self.session.execute(
            text(
                "UPDATE leads SET status = 'bounced', updated = now() WHERE id = :id "
                "AND status NOT IN ('bounced', 'erased', 'unsubscribed', 'complained')"
            ),
            {"id": lead_id},
        )

    async def record_authentication_failure(
        self, tenant_id: UUID, mailbox_id: UUID, detail: str
    ) -> bool:
        """The mailbox goes `authentication_failed` (it sends nothing until its credentials
        are fixed and tested again) and the tenant is told, once: True when it changed."""
        row = (
            await self.session.execute(
                text(
                    "UPDATE email_accounts SET status = 'authentication_failed', updated = now() "
                    "WHERE id = :id AND status <> 'authentication_failed' RETURNING email"
                ),
                {"id": mailbox_id},
            )
        ).first()
        if row is None:
            return False
        await self.add_notification(
            tenant_id,
            kind="mailbox_authentication_failed",
            title=f"{row.email} cannot log in",
            message=(
                f"The SMTP server refused the login of {row.email} ({detail}). Its sends "
                "wait until its password is updated and the mailbox tested again."
            ),
            severity="error",
        )
        return True

    async def add_notification(
        self, tenant_id: UUID, *, kind: str, title: str, message: str, severity: str
    ) -> None:
        await self.session.execute(
            text(
                "INSERT INTO notifications (id, tenant_id, type, title, message, severity) "
                "VALUES (gen_random_uuid(), :tenant, :kind, :title, :message, :severity)"
            ),
            {
                "tenant": tenant_id,
                "kind": kind,
                "title": title,
                "message": message[:2000],
                "severity": severity,
            },
        )


__all__ = [
    "DeliveryRepository",
    "SentRow",
    "StepContext",
    "TemplateSource",
]
