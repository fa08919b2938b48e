"""What a tenant writes and reads to set a campaign up through the API: the campaign row, its
mailbox rotation, steps and variants, enrollments, the checks before a start and the OLTP
counts of its statistics. Every statement runs in the tenant's transaction (row-level
security keeps another tenant's rows out of every read)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.base import utcnow
from penguinmails.models.campaigns import (
    OPEN_ENROLLMENT_STATUSES,
    Campaign,
    CampaignSequenceStep,
    CampaignStepVariant,
)
from penguinmails.repositories.pagination import Cursor, after

# 2^52: the draw keeps 52 bits of the hash, exact in a double.
_DRAW_SCALE = 4503599627370496.0
# Why a lead is not enrolled, checked in this order (the first that holds counts).
_VERDICT_SQL = """
CASE
  WHEN l.id IS NULL THEN 'not_found'
  WHEN l.deleted IS NOT NULL OR l.status = 'erased' THEN 'erased'
  WHEN l.status = 'unsubscribed' THEN 'unsubscribed'
  WHEN l.status = 'bounced' THEN 'bounced'
  WHEN l.status <> 'active' THEN 'inactive'
  WHEN EXISTS (
    SELECT 1 FROM suppressions s
    WHERE (s.kind = 'address'
           AND s.value = encode(sha256(convert_to(lower(btrim(l.email)), 'UTF8')), 'hex'))
       OR (s.kind = 'domain' AND s.value = split_part(l.email_key, '@', 2))
  ) THEN 'suppressed'
  WHEN EXISTS (
    SELECT 1 FROM campaign_leads e WHERE e.campaign_id = :campaign_id AND e.lead_id = l.id
  ) THEN 'already_enrolled'
  WHEN NOT :allow_other AND EXISTS (
    SELECT 1 FROM campaign_leads e JOIN campaigns c ON c.id = e.campaign_id
    WHERE e.lead_id = l.id AND e.campaign_id <> :campaign_id
      AND e.status = ANY(:open) AND c.status NOT IN ('completed', 'cancelled')
  ) THEN 'in_other_campaign'
  ELSE 'ok'
END
"""


class StepRuleBroken(ValueError):
    """A change that would leave the steps invalid (e.g. a first step that is not an e-mail)."""


@dataclass(frozen=True)
class MailboxRow:
    email_account_id: UUID
    weight: int


class CampaignSetupRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _rows(self, sql: str, **params: Any) -> list[Any]:
        return list((await self.session.execute(text(sql), params)).all())

    async def _exec(self, sql: str, **params: Any) -> None:
        await self.session.execute(text(sql), params)

    async def _exists(self, sql: str, **params: Any) -> bool:
        return bool(await self._rows(sql, **params))

    # -- campaigns -----------------------------------------------------------------------------

    async def company_exists(self, company_id: UUID) -> bool:
        return await self._exists(
            "SELECT 1 FROM companies WHERE id = :id AND deleted IS NULL", id=company_id
        )

    async def create(self, tenant_id: UUID, **fields: Any) -> Campaign:
        campaign = Campaign(tenant_id=tenant_id, **fields)
        self.session.add(campaign)
        await self.session.flush()
        await self.session.refresh(campaign)
        return campaign

    async def get(self, campaign_id: UUID, *, for_update: bool = False) -> Campaign | None:
        stmt = select(Campaign).where(Campaign.id == campaign_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt)).first()

    async def list_page(self, cursor: Cursor | None, limit: int) -> list[Campaign]:
        return list(
            (await self.session.exec(after(select(Campaign), Campaign, cursor, limit))).all()
        )

    async def update(self, campaign: Campaign, **fields: Any) -> Campaign:
        for name, value in fields.items():
            setattr(campaign, name, value)
        campaign.updated = utcnow()
        self.session.add(campaign)
        await self.session.flush()
        await self.session.refresh(campaign)
        return campaign

    # -- mailboxes -----------------------------------------------------------------------------

    async def missing_mailboxes(self, ids: Sequence[UUID]) -> list[UUID]:
        """Ids among `ids` that are not this tenant's (undeleted) mailboxes."""
        rows = await self._rows(
            "SELECT id FROM email_accounts WHERE id = ANY(:ids) AND deleted IS NULL", ids=list(ids)
        )
        found = {r[0] for r in rows}
        return [i for i in ids if i not in found]

    async def set_mailboxes(
        self, tenant_id: UUID, campaign_id: UUID, mailboxes: Sequence[MailboxRow]
    ) -> None:
        await self._exec("DELETE FROM campaign_mailboxes WHERE campaign_id = :id", id=campaign_id)
        if mailboxes:
            await self.session.execute(
                text(
                    "INSERT INTO campaign_mailboxes (tenant_id, campaign_id, email_account_id, "
                    "weight) SELECT :tenant_id, :campaign_id, m, w "
                    "FROM unnest(CAST(:ids AS uuid[]), CAST(:weights AS int[])) AS t(m, w)"
                ),
                {
                    "tenant_id": tenant_id,
                    "campaign_id": campaign_id,
                    "ids": [m.email_account_id for m in mailboxes],
                    "weights": [m.weight for m in mailboxes],
                },
            )

    async def mailboxes(self, campaign_id: UUID) -> list[MailboxRow]:
        rows = await self._rows(
            "SELECT email_account_id, weight FROM campaign_mailboxes WHERE campaign_id = :id "
            "ORDER BY created, email_account_id",
            id=campaign_id,
        )
        return [MailboxRow(r[0], r[1]) for r in rows]

    # -- steps and variants --------------------------------------------------------------------

    async def template_exists(self, template_id: UUID) -> bool:
        return await self._exists("SELECT 1 FROM templates WHERE id = :id", id=template_id)

    async def steps(self, campaign_id: UUID) -> list[CampaignSequenceStep]:
        stmt = (
            select(CampaignSequenceStep)
            .where(CampaignSequenceStep.campaign_id == campaign_id)
            .order_by(CampaignSequenceStep.step_order)  # type: ignore[arg-type]
        )
        return list((await self.session.exec(stmt)).all())

    async def variants(self, campaign_id: UUID) -> list[CampaignStepVariant]:
        stmt = (
            select(CampaignStepVariant)
            .where(CampaignStepVariant.campaign_id == campaign_id)
            .order_by(CampaignStepVariant.step_id, CampaignStepVariant.position)  # type: ignore[arg-type]
        )
        return list((await self.session.exec(stmt)).all())

    async def insert_step(
        self, tenant_id: UUID, campaign_id: UUID, step_order: int, **fields: Any
    ) -> CampaignSequenceStep:
        """At `step_order`; the steps from there move down one (the order's uniqueness is
        checked at commit, once every row has moved)."""
        await self._exec("SET CONSTRAINTS uq_campaign_sequence_steps_campaign_order DEFERRED")
        await self._exec(
            "UPDATE campaign_sequence_steps SET step_order = step_order + 1, updated = now() "
            "WHERE campaign_id = :id AND step_order >= :order",
            id=campaign_id,
            order=step_order,
        )
        step = CampaignSequenceStep(
            tenant_id=tenant_id, campaign_id=campaign_id, step_order=step_order, **fields
        )
        self.session.add(step)
        await self.session.flush()
        await self.session.refresh(step)
        return step

    async def update_step(self, step: CampaignSequenceStep, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(step, name, value)
        step.updated = utcnow()
        self.session.add(step)
        await self.session.flush()

    async def step_has_sends(self, step_id: UUID) -> bool:
        return await self._exists(
            "SELECT 1 FROM inbox_message_refs WHERE step_id = :id LIMIT 1", id=step_id
        )

    async def delete_step(self, step: CampaignSequenceStep) -> None:
        """Removed, and the steps after it move up one: the order stays contiguous."""
        await self._exec("SET CONSTRAINTS uq_campaign_sequence_steps_campaign_order DEFERRED")
        await self.session.delete(step)
        await self.session.flush()
        await self._exec(
            "UPDATE campaign_sequence_steps SET step_order = step_order - 1, updated = now() "
            "WHERE campaign_id = :id AND step_order > :order",
            id=step.campaign_id,
            order=step.step_order,
        )

    async def replace_variants(
        self, tenant_id: UUID, campaign_id: UUID, step_id: UUID, variants: Sequence[dict[str, Any]]
    ) -> None:
        await self._exec("DELETE FROM campaign_step_variants WHERE step_id = :id", id=step_id)
        for position, variant in enumerate(variants, start=1):
            self.session.add(
                CampaignStepVariant(
                    tenant_id=tenant_id,
                    campaign_id=campaign_id,
                    step_id=step_id,
                    position=position,
                    label=variant.get("label") or chr(ord("A") + position - 1),
                    subject=variant.get("subject"),
                    template_id=variant.get("template_id"),
                    weight=variant["weight"],
                )
            )
        await self.session.flush()

    # -- enrollment ----------------------------------------------------------------------------

    async def list_exists(self, list_id: UUID) -> bool:
        return await self._exists(
            "SELECT 1 FROM lead_lists WHERE id = :id AND deleted IS NULL", id=list_id
        )

    async def enroll(
        self,
        tenant_id: UUID,
        campaign_id: UUID,
        *,
        list_id: UUID | None,
        lead_ids: Sequence[UUID] | None,
        allow_other: bool,
    ) -> dict[str, int]:
        """Each candidate lead classified once (`_VERDICT_SQL`) and the good ones inserted
        `pending` with their draw: uniform in [0, 1), a hash of (campaign, lead), so the same
        lead draws the same variant however often it is enrolled again. Counts per verdict;
        a row a concurrent enrollment inserted first counts as already enrolled."""
        if list_id is not None:
            source = (
                "SELECT m.lead_id AS id FROM lead_list_members m WHERE m.lead_list_id = :list_id"
            )
        else:
            source = "SELECT DISTINCT unnest(CAST(:lead_ids AS uuid[])) AS id"
        sql = f"""
            WITH candidates AS ({source}),
            judged AS (
              SELECT c.id, {_VERDICT_SQL} AS verdict
              FROM candidates c LEFT JOIN leads l ON l.id = c.id
            ),
            inserted AS (
              INSERT INTO campaign_leads (tenant_id, campaign_id, lead_id, variant_draw)
              SELECT :tenant_id, :campaign_id, j.id,
                     (('x' || substr(md5(CAST(:campaign_id AS text) || ':' || j.id::text), 1, 13))
                       ::bit(52)::bigint)::float8 / {_DRAW_SCALE}
              FROM judged j WHERE j.verdict = 'ok'
              ON CONFLICT ON CONSTRAINT uq_campaign_leads_campaign_lead DO NOTHING
              RETURNING lead_id
            )
            SELECT verdict, count(*) FROM judged WHERE verdict <> 'ok' GROUP BY verdict
            UNION ALL SELECT 'enrolled', count(*) FROM inserted
            UNION ALL SELECT 'ok', count(*) FROM judged WHERE verdict = 'ok'
        """  # noqa: S608 — only module constants and one of two fixed sources are interpolated
        rows = await self._rows(
            sql,
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            list_id=list_id,
            lead_ids=list(lead_ids or []),
            allow_other=allow_other,
            open=list(OPEN_ENROLLMENT_STATUSES),
        )
        counts = {str(verdict): int(n) for verdict, n in rows}
        ok = counts.pop("ok", 0)
        counts["already_enrolled"] = counts.get("already_enrolled", 0) + ok - counts["enrolled"]
        return counts

    async def enrollment_page(
        self, campaign_id: UUID, cursor: Cursor | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = await self._rows(
            """
            SELECT id, lead_id, status, current_step, email_account_id, last_skip_reason,
                   started_at, finished_at, created
            FROM campaign_leads
            WHERE campaign_id = :campaign_id
              AND (CAST(:after_created AS timestamptz) IS NULL
                   OR (created, id) > (CAST(:after_created AS timestamptz), CAST(:after_id AS uuid)))
            ORDER BY created, id LIMIT :limit
            """,
            campaign_id=campaign_id,
            after_created=cursor.created if cursor else None,
            after_id=cursor.id if cursor else None,
            limit=limit + 1,
        )
        return [dict(r._mapping) for r in rows]

    async def set_enrollment_paused(
        self, campaign_id: UUID, lead_id: UUID, paused: bool
    ) -> tuple[str, bool] | None:
        """An open enrollment held (`pending`/`active -> paused`) or let go again (`paused ->
        active` when its sequence has started, `pending` when not: the campaign claims it
        then). A held lead's sequence runs on, but its sends are refused at reserve and at
        the send's re-check, and it waits for its resume. (status now, True when this call
        moved it); None without an enrollment."""
        if paused:
            sql = (
                "UPDATE campaign_leads SET status = 'paused', updated = now() "
                "WHERE campaign_id = :campaign_id AND lead_id = :lead_id "
                "AND status IN ('pending', 'active') RETURNING status"
            )
        else:
            sql = (
                "UPDATE campaign_leads SET updated = now(), "
                "status = CASE WHEN started_at IS NULL THEN 'pending' ELSE 'active' END "
                "WHERE campaign_id = :campaign_id AND lead_id = :lead_id "
                "AND status = 'paused' RETURNING status"
            )
        rows = await self._rows(sql, campaign_id=campaign_id, lead_id=lead_id)
        if rows:
            return str(rows[0][0]), True
        rows = await self._rows(
            "SELECT status FROM campaign_leads WHERE campaign_id = :campaign_id "
            "AND lead_id = :lead_id",
            campaign_id=campaign_id,
            lead_id=lead_id,
        )
        return (str(rows[0][0]), False) if rows else None

    async def lead_email(self, lead_id: UUID) -> str | None:
        """The lead's address; None when the tenant has no such (undeleted) lead."""
        rows = await self._rows(
            "SELECT email FROM leads WHERE id = :id AND deleted IS NULL", id=lead_id
        )
        return str(rows[0][0]) if rows else None

    async def open_campaigns_of_lead(self, lead_id: UUID) -> list[UUID]:
        """Campaigns where the lead's enrollment is still open (its sequence may run)."""
        rows = await self._rows(
            "SELECT campaign_id FROM campaign_leads WHERE lead_id = :id AND status = ANY(:open)",
            id=lead_id,
            open=list(OPEN_ENROLLMENT_STATUSES),
        )
        return [r[0] for r in rows]

    # -- starting ------------------------------------------------------------------------------

    async def start_blockers(self, campaign_id: UUID) -> list[str]:
        """What a start needs and the campaign lacks, one sentence each."""
        missing: list[str] = []
        if not await self._exists(
            "SELECT 1 FROM campaign_leads WHERE campaign_id = :id AND status = ANY(:open) LIMIT 1",
            id=campaign_id,
            open=list(OPEN_ENROLLMENT_STATUSES),
        ):
            missing.append("no enrolled leads")
        if not await self._exists(
            "SELECT 1 FROM campaign_sequence_steps WHERE campaign_id = :id AND is_active "
            "AND step_type = 'email' LIMIT 1",
            id=campaign_id,
        ):
            missing.append("no active email step")
        rows = await self._rows(
            """
            SELECT ea.email, ea.status, ea.deleted IS NOT NULL AS gone, d.domain,
                   d.verification_status
            FROM campaign_mailboxes cm
            JOIN email_accounts ea ON ea.id = cm.email_account_id
            JOIN domains d ON d.id = ea.domain_id
            WHERE cm.campaign_id = :id ORDER BY ea.email
            """,
            id=campaign_id,
        )
        unverified = sorted({r.domain for r in rows if r.verification_status != "verified"})
        if unverified:
            missing.append("unverified domain(s): " + ", ".join(unverified))
        if not any(r.status == "active" and not r.gone for r in rows):
            missing.append("no active mailbox")
        return missing

    # -- statistics ----------------------------------------------------------------------------

    async def stats(self, campaign_id: UUID) -> tuple[dict[str, int], dict[str, int], list[Any]]:
        outbox = await self._rows(
            "SELECT status, count(*) FROM inbox_message_refs WHERE campaign_id = :id "
            "AND direction = 'outbound' AND NOT is_test GROUP BY status",
            id=campaign_id,
        )
        enrollments = await self._rows(
            "SELECT status, count(*) FROM campaign_leads WHERE campaign_id = :id GROUP BY status",
            id=campaign_id,
        )
        steps = await self._rows(
            """
            SELECT s.id, s.step_order, m.variant_id, count(m.id) FILTER (
                WHERE m.status IN ('sent', 'delivered', 'opened', 'replied', 'bounced')) AS sent
            FROM campaign_sequence_steps s
            LEFT JOIN inbox_message_refs m ON m.step_id = s.id AND m.direction = 'outbound'
                 AND NOT m.is_test
            WHERE s.campaign_id = :id AND s.step_type = 'email'
            GROUP BY s.id, s.step_order, m.variant_id ORDER BY s.step_order, m.variant_id
            """,
            id=campaign_id,
        )
        return (
            {str(s): int(n) for s, n in outbox},
            {str(s): int(n) for s, n in enrollments},
            steps,
        )
