"""Campaigns: the draft (schedule, limits, mailbox rotation, steps and A/B variants), its
enrollments, its lifecycle (the campaign workflow's updates), a test send and its counts.

Members read; owners and admins write. A campaign's setup changes only while it is a draft
or paused (409 otherwise): a sending campaign's leads are mid-sequence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from sqlmodel.ext.asyncio.session import AsyncSession

from api.csv_export import csv_response
from api.deps import AdminDep, Principal, PrincipalDep, ServicesDep, SessionDep
from api.errors import ApiError, not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, json_page, page
from api.schemas.campaigns import (
    CampaignCreate,
    CampaignMailboxesIn,
    CampaignMailboxesPublic,
    CampaignMailboxIn,
    CampaignPublic,
    CampaignStats,
    CampaignUpdate,
    EngagementCounts,
    EngagementRates,
    EnrollIn,
    EnrollmentPublic,
    EnrollmentStatus,
    EnrollmentUpdate,
    EnrollResult,
    LifecycleResult,
    PauseResult,
    ResumeIn,
    Schedule,
    StartIn,
    StepCreate,
    StepList,
    StepPublic,
    StepUpdate,
    StepVariantStats,
    TestSendIn,
    VariantPublic,
    VariantsIn,
)
from api.services import Services
from api.stats import engagement_report
from penguinmails.models.campaigns import Campaign, CampaignSequenceStep, CampaignStepVariant
from penguinmails.repositories.analytics import AnalyticsRepository
from penguinmails.repositories.campaign_setup import CampaignSetupRepository, MailboxRow
from usecases import campaigns as uc

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])

EDITABLE = ("draft", "paused")
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The campaign's status does not allow it (`details.status`)"}
}


def _public(campaign: Campaign) -> CampaignPublic:
    window = (campaign.configuration or {}).get("sending_window") or {}
    schedule = Schedule.model_validate({"timezone": campaign.timezone, **window})
    return CampaignPublic(
        id=campaign.id,
        company_id=campaign.company_id,
        name=campaign.name,
        description=campaign.description,
        status=campaign.status,
        pause_reasons=list(campaign.pause_reasons),
        schedule=schedule,
        daily_limit=campaign.daily_limit,
        stop_on_reply=campaign.stop_on_reply,
        stop_for_company=campaign.stop_for_company,
        tracking_enabled=campaign.tracking_enabled,
        scheduled_at=campaign.scheduled_at,
        started_at=campaign.started_at,
        completed_at=campaign.completed_at,
        created=campaign.created,
        updated=campaign.updated,
    )


def _conflict(message: str, status: str, missing: list[str] | None = None) -> ApiError:
    details: dict[str, Any] = {"status": status}
    if missing:
        details["missing"] = missing
    return ApiError(409, message, details=details)


@contextmanager
def _campaign_errors(what: str = "campaign") -> Iterator[None]:
    """The use cases' refusals as the API answers them: 404 for what is not there, 409 with
    the campaign's status (and what a start lacks)."""
    try:
        yield
    except uc.CampaignNotFound:
        raise not_found(what) from None
    except uc.CampaignConflict as exc:
        raise _conflict(str(exc), exc.status, exc.missing) from None


async def _campaign(
    repo: CampaignSetupRepository, campaign_id: UUID, *, editable: bool = False
) -> Campaign:
    campaign = await repo.get(campaign_id, for_update=editable)
    if campaign is None:
        raise not_found("campaign")
    if editable and campaign.status not in EDITABLE:
        raise _conflict(
            f"a {campaign.status} campaign cannot be changed (only draft or paused)",
            campaign.status,
        )
    return campaign


# -- campaigns ---------------------------------------------------------------------------------


@router.post(
    "",
    status_code=201,
    response_model=CampaignPublic,
    responses={404: {"description": "The company is not found (or another tenant's)"}},
)
async def create_campaign(
    body: CampaignCreate, principal: AdminDep, session: SessionDep
) -> CampaignPublic:
    repo = CampaignSetupRepository(session)
    if not await repo.company_exists(body.company_id):
        raise not_found("company")
    fields = body.model_dump(exclude={"schedule"})
    campaign = await repo.create(
        principal.tenant_id,
        **fields,
        timezone=body.schedule.timezone,
        configuration=body.schedule.configuration(),
    )
    return _public(campaign)


@router.get("", response_model=Page[CampaignPublic])
async def list_campaigns(
    session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Page[CampaignPublic]:
    rows = await CampaignSetupRepository(session).list_page(decode_cursor(cursor), limit)
    return page(rows, limit, _public)


@router.get("/{campaign_id}", response_model=CampaignPublic)
async def get_campaign(campaign_id: UUID, session: SessionDep) -> CampaignPublic:
    return _public(await _campaign(CampaignSetupRepository(session), campaign_id))


@router.patch("/{campaign_id}", response_model=CampaignPublic, responses=CONFLICT)
async def update_campaign(
    campaign_id: UUID, body: CampaignUpdate, principal: AdminDep, session: SessionDep
) -> CampaignPublic:
    repo = CampaignSetupRepository(session)
    campaign = await _campaign(repo, campaign_id, editable=True)
    fields = body.model_dump(exclude_unset=True, exclude={"schedule"})
    for name in ("name", "stop_on_reply", "stop_for_company", "tracking_enabled"):
        if name in fields and fields[name] is None:
            raise ApiError(422, f"{name} cannot be null", details={"field": f"body.{name}"})
    if body.schedule is not None:
        fields["timezone"] = body.schedule.timezone
        fields["configuration"] = {
            **(campaign.configuration or {}),
            **body.schedule.configuration(),
        }
    elif "schedule" in body.model_fields_set:
        raise ApiError(422, "schedule cannot be null", details={"field": "body.schedule"})
    if fields:
        campaign = await repo.update(campaign, **fields)
    return _public(campaign)


# -- mailboxes ---------------------------------------------------------------------------------


@router.put("/{campaign_id}/mailboxes", response_model=CampaignMailboxesPublic, responses=CONFLICT)
async def set_campaign_mailboxes(
    campaign_id: UUID, body: CampaignMailboxesIn, principal: AdminDep, session: SessionDep
) -> CampaignMailboxesPublic:
    """The campaign's rotation, replaced as a whole; each mailbox must be the tenant's."""
    repo = CampaignSetupRepository(session)
    await _campaign(repo, campaign_id, editable=True)
    missing = await repo.missing_mailboxes([m.email_account_id for m in body.mailboxes])
    if missing:
        raise ApiError(
            404, "email account not found", details={"email_account_ids": [str(m) for m in missing]}
        )
    rows = [MailboxRow(m.email_account_id, m.weight) for m in body.mailboxes]
    await repo.set_mailboxes(principal.tenant_id, campaign_id, rows)
    return CampaignMailboxesPublic(mailboxes=body.mailboxes)


@router.get("/{campaign_id}/mailboxes", response_model=CampaignMailboxesPublic)
async def get_campaign_mailboxes(campaign_id: UUID, session: SessionDep) -> CampaignMailboxesPublic:
    repo = CampaignSetupRepository(session)
    await _campaign(repo, campaign_id)
    return CampaignMailboxesPublic(
        mailboxes=[
            CampaignMailboxIn(email_account_id=m.email_account_id, weight=m.weight)
            for m in await repo.mailboxes(campaign_id)
        ]
    )


# -- steps and variants ------------------------------------------------------------------------


def _step_public(step: CampaignSequenceStep, variants: list[CampaignStepVariant]) -> StepPublic:
    return StepPublic(
        id=step.id,
        step_order=step.step_order,
        step_type=step.step_type,
        template_id=step.template_id,
        subject_override=step.subject_override,
        from_name_override=step.from_name_override,
        wait_duration_hours=step.wait_duration_hours,
        wait_until_date=step.wait_until_date,
        condition_type=step.condition_type,
        condition_value=step.condition_value,
        is_active=step.is_active,
        variants=[
            VariantPublic(
                id=v.id,
                position=v.position,
                label=v.label,
                subject=v.subject,
                template_id=v.template_id,
                weight=v.weight,
                is_active=v.is_active,
            )
            for v in variants
        ],
    )


async def _steps(repo: CampaignSetupRepository, campaign_id: UUID) -> list[StepPublic]:
    by_step: dict[UUID, list[CampaignStepVariant]] = defaultdict(list)
    for variant in await repo.variants(campaign_id):
        by_step[variant.step_id].append(variant)
    return [_step_public(s, by_step[s.id]) for s in await repo.steps(campaign_id)]


def _invalid(message: str, field: str) -> ApiError:
    return ApiError(422, message, details={"field": field})


def _check_step(step_type: str, values: dict[str, Any]) -> None:
    """What each step type needs; fields of another type are refused, not ignored."""
    email_fields = ("template_id", "subject_override", "from_name_override")
    wait_fields = ("wait_duration_hours", "wait_until_date")
    condition_fields = ("condition_type", "condition_value")
    own = {
        "email": email_fields,
        "wait": wait_fields,
        "condition": condition_fields,
    }[step_type]
    for name in (*email_fields, *wait_fields, *condition_fields):
        if name not in own and values.get(name) is not None:
            raise _invalid(f"{name} does not apply to a {step_type} step", f"body.{name}")
    if step_type == "email" and values.get("template_id") is None:
        raise _invalid("an email step needs a template_id", "body.template_id")
    if step_type == "wait":
        given = [n for n in wait_fields if values.get(n) is not None]
        if len(given) != 1:
            raise _invalid(
                "a wait step has exactly one of wait_duration_hours (>= 0) and wait_until_date",
                "body.wait_duration_hours",
            )
    if step_type == "condition" and values.get("condition_type") is None:
        raise _invalid("a condition step needs a condition_type", "body.condition_type")


async def _check_template(repo: CampaignSetupRepository, template_id: UUID | None) -> None:
    if template_id is not None and not await repo.template_exists(template_id):
        raise not_found("template")


def _check_first_is_email(steps: list[CampaignSequenceStep]) -> None:
    if steps and steps[0].step_type != "email":
        raise _invalid("the first step must be an email step", "body.step_order")


@router.get("/{campaign_id}/steps", response_model=StepList)
async def list_steps(campaign_id: UUID, session: SessionDep) -> StepList:
    repo = CampaignSetupRepository(session)
    await _campaign(repo, campaign_id)
    return StepList(items=await _steps(repo, campaign_id))


@router.post("/{campaign_id}/steps", status_code=201, response_model=StepPublic, responses=CONFLICT)
async def create_step(
    campaign_id: UUID, body: StepCreate, principal: AdminDep, session: SessionDep
) -> StepPublic:
    """At `step_order` (1-based, at most one past the last; the default), the steps from
    there moving down one: the order stays contiguous. The first step is an e-mail."""
    repo = CampaignSetupRepository(session)
    await _campaign(repo, campaign_id, editable=True)
    values = body.model_dump(exclude={"step_type", "step_order"})
    _check_step(body.step_type, values)
    await _check_template(repo, body.template_id)
    existing = await repo.steps(campaign_id)
    order = body.step_order or len(existing) + 1
    if order > len(existing) + 1:
        raise _invalid(
            f"step_order must be between 1 and {len(existing) + 1} (contiguous)",
            "body.step_order",
        )
    if order == 1 and body.step_type != "email":
        raise _invalid("the first step must be an email step", "body.step_order")
    step = await repo.insert_step(
        principal.tenant_id, campaign_id, order, step_type=body.step_type, **values
    )
    return _step_public(step, [])


async def _step(
    repo: CampaignSetupRepository, campaign_id: UUID, step_id: UUID
) -> tuple[CampaignSequenceStep, list[CampaignSequenceStep]]:
    steps = await repo.steps(campaign_id)
    for step in steps:
        if step.id == step_id:
            return step, steps
    raise not_found("step")


@router.patch("/{campaign_id}/steps/{step_id}", response_model=StepPublic, responses=CONFLICT)
async def update_step(
    campaign_id: UUID, step_id: UUID, body: StepUpdate, principal: AdminDep, session: SessionDep
) -> StepPublic:
    """The step's own fields (its type and place stay: delete and add to change them)."""
    repo = CampaignSetupRepository(session)
    await _campaign(repo, campaign_id, editable=True)
    step, _ = await _step(repo, campaign_id, step_id)
    fields = body.model_dump(exclude_unset=True)
    if "is_active" in fields and fields["is_active"] is None:
        raise _invalid("is_active cannot be null", "body.is_active")
    merged = {
        name: getattr(step, name)
        for name in StepUpdate.model_fields
        if name != "is_active" and name not in fields
    }
    merged.update({k: v for k, v in fields.items() if k != "is_active"})
    _check_step(step.step_type, merged)
    await _check_template(repo, merged.get("template_id"))
    await repo.update_step(step, **fields)
    variants = [v for v in await repo.variants(campaign_id) if v.step_id == step.id]
    return _step_public(step, variants)


@router.delete("/{campaign_id}/steps/{step_id}", status_code=204, responses=CONFLICT)
async def delete_step(
    campaign_id: UUID, step_id: UUID, principal: AdminDep, session: SessionDep
) -> Response:
    """Deleted, or only deactivated when messages went out for it (their rows keep it)."""
    repo = CampaignSetupRepository(session)
    await _campaign(repo, campaign_id, editable=True)
    step, steps = await _step(repo, campaign_id, step_id)
    if await repo.step_has_sends(step.id):
        await repo.update_step(step, is_active=False)
        return Response(status_code=204)
    _check_first_is_email([s for s in steps if s.id != step.id])
    await repo.delete_step(step)
    return Response(status_code=204)


@router.put(
    "/{campaign_id}/steps/{step_id}/variants", response_model=StepPublic, responses=CONFLICT
)
async def set_step_variants(
    campaign_id: UUID, step_id: UUID, body: VariantsIn, principal: AdminDep, session: SessionDep
) -> StepPublic:
    """The step's A/B variants (2 to 5), replaced as a whole; a lead's enrollment draw
    picks one by weight."""
    repo = CampaignSetupRepository(session)
    await _campaign(repo, campaign_id, editable=True)
    step, _ = await _step(repo, campaign_id, step_id)
    if step.step_type != "email":
        raise _invalid("only an email step has variants", "path.step_id")
    for variant in body.variants:
        await _check_template(repo, variant.template_id)
    await repo.replace_variants(
        principal.tenant_id, campaign_id, step.id, [v.model_dump() for v in body.variants]
    )
    variants = [v for v in await repo.variants(campaign_id) if v.step_id == step.id]
    return _step_public(step, variants)


@router.delete("/{campaign_id}/steps/{step_id}/variants", status_code=204, responses=CONFLICT)
async def delete_step_variants(
    campaign_id: UUID, step_id: UUID, principal: AdminDep, session: SessionDep
) -> Response:
    repo = CampaignSetupRepository(session)
    await _campaign(repo, campaign_id, editable=True)
    step, _ = await _step(repo, campaign_id, step_id)
    await repo.replace_variants(principal.tenant_id, campaign_id, step.id, [])
    return Response(status_code=204)


# -- enrollment --------------------------------------------------------------------------------


@router.post("/{campaign_id}/leads", response_model=EnrollResult, responses=CONFLICT)
async def enroll_leads(
    campaign_id: UUID, body: EnrollIn, principal: AdminDep, services: ServicesDep
) -> EnrollResult:
    """Enroll a list's leads or given lead ids: suppressed, unsubscribed, bounced, erased
    and already enrolled leads are skipped, and so are leads an open campaign of the tenant
    holds unless `allow_other_campaigns`. A running campaign hears of them at once."""
    try:
        with _campaign_errors():
            done = await uc.enroll(
                services.db,
                services.temporal,
                principal.tenant_id,
                campaign_id,
                list_id=body.list_id,
                lead_ids=body.lead_ids,
                allow_other_campaigns=body.allow_other_campaigns,
            )
    except LookupError:
        raise not_found("lead list") from None
    keys = EnrollResult.model_fields
    return EnrollResult(**{k: done.counts.get(k, 0) for k in keys})


@router.get("/{campaign_id}/leads", response_model=Page[EnrollmentPublic])
async def list_enrollments(
    campaign_id: UUID, session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Response:
    repo = CampaignSetupRepository(session)
    await _campaign(repo, campaign_id)
    rows = await repo.enrollment_page(campaign_id, decode_cursor(cursor), limit)
    return json_page(rows, limit)


@router.patch("/{campaign_id}/leads/{lead_id}", response_model=EnrollmentStatus, responses=CONFLICT)
async def update_enrollment(
    campaign_id: UUID,
    lead_id: UUID,
    body: EnrollmentUpdate,
    principal: AdminDep,
    services: ServicesDep,
) -> EnrollmentStatus:
    """`paused` holds one lead: a sequence not started yet is skipped by the campaign, a
    running one sends nothing more (a send that is due is refused) and waits; `active` lets
    it go again, from where it was (the answer is `pending` for a lead whose sequence has
    not started yet). An enrollment that has ended answers 409 (`details.status`)."""
    with _campaign_errors("enrollment"):
        status = await uc.set_enrollment_paused(
            services.db,
            services.temporal,
            principal.tenant_id,
            campaign_id,
            lead_id,
            body.status == "paused",
        )
    return EnrollmentStatus(lead_id=lead_id, status=status)


@router.delete("/{campaign_id}/leads/{lead_id}", status_code=204)
async def remove_enrollment(
    campaign_id: UUID, lead_id: UUID, principal: AdminDep, services: ServicesDep
) -> Response:
    """The enrollment ends `removed` (kept for the statistics) and its sequence stops."""
    if not await uc.remove_enrollment(
        services.db, services.temporal, principal.tenant_id, campaign_id, lead_id
    ):
        raise not_found("enrollment")
    return Response(status_code=204)


# -- lifecycle ---------------------------------------------------------------------------------


def _view(view: Any) -> LifecycleResult:
    return LifecycleResult(
        status=view.status,
        pause_reasons=list(view.pause_reasons),
        scheduled_at=view.scheduled_at,
        started_at=view.started_at,
        completed_at=view.completed_at,
    )


LIFECYCLE_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "The campaign's status does not allow it, or (start) what it lacks: "
        "`details.status`, `details.missing`"
    }
}


@router.post("/{campaign_id}/start", response_model=LifecycleResult, responses=LIFECYCLE_CONFLICT)
async def start_campaign(
    campaign_id: UUID, principal: AdminDep, services: ServicesDep, body: StartIn | None = None
) -> LifecycleResult:
    """A draft starts sending (or is scheduled for `scheduled_at`). 409 names what is
    missing: enrolled leads, an active email step, a verified domain, an active mailbox."""
    with _campaign_errors():
        view = await uc.start_campaign(
            services.db,
            services.temporal,
            principal.tenant_id,
            campaign_id,
            body.scheduled_at if body else None,
        )
    return _view(view)


@router.post("/{campaign_id}/pause", response_model=PauseResult, responses=LIFECYCLE_CONFLICT)
async def pause_campaign(
    campaign_id: UUID, principal: AdminDep, services: ServicesDep
) -> PauseResult:
    """Answers once no send of the campaign is in flight (`drained`), or says it could not
    wait that long: the pause holds anyway, no new send starts."""
    with _campaign_errors():
        out = await uc.pause_campaign(
            services.db, services.temporal, principal.tenant_id, campaign_id
        )
    return PauseResult(
        status=out.status, pause_reasons=list(out.reasons), drained=out.drained, note=out.note
    )


@router.post("/{campaign_id}/resume", response_model=LifecycleResult, responses=LIFECYCLE_CONFLICT)
async def resume_campaign(
    campaign_id: UUID, principal: AdminDep, services: ServicesDep, body: ResumeIn | None = None
) -> LifecycleResult:
    """Lifts the user's pause, or with `{"reason": "breaker"}` the circuit breaker's; the
    campaign sends again once no other reason holds."""
    with _campaign_errors():
        view = await uc.resume_campaign(
            services.db,
            services.temporal,
            principal.tenant_id,
            campaign_id,
            body.reason if body else "user",
        )
    return _view(view)


@router.post("/{campaign_id}/cancel", response_model=LifecycleResult, responses=LIFECYCLE_CONFLICT)
async def cancel_campaign(
    campaign_id: UUID, principal: AdminDep, services: ServicesDep
) -> LifecycleResult:
    with _campaign_errors():
        view = await uc.cancel_campaign(
            services.db, services.temporal, principal.tenant_id, campaign_id
        )
    return _view(view)


# -- test send and statistics ------------------------------------------------------------------


@router.post("/{campaign_id}/test-send")
async def test_send(
    campaign_id: UUID, body: TestSendIn, principal: AdminDep, services: ServicesDep
) -> dict[str, Any]:
    """The step rendered (with the lead's data, or sample data) and sent to `to` through one
    of the campaign's mailboxes, now; outside every statistic, inside the mailbox's cap."""
    out = await uc.test_send(
        services.db,
        services.temporal,
        principal.tenant_id,
        campaign_id,
        body.step_id,
        body.to,
        body.lead_id,
    )
    if out is None:
        raise not_found("campaign, email step or lead")
    return {
        "outcome": out.outcome,
        "reason": out.reason,
        "message_id": out.message_id,
        "mailbox_id": out.mailbox_id,
        "variant_id": out.variant_id,
    }


@router.get("/{campaign_id}/stats", response_model=CampaignStats)
async def campaign_stats(
    campaign_id: UUID, principal: PrincipalDep, session: SessionDep, services: ServicesDep
) -> CampaignStats:
    """Counts from the OLTP database (outbound messages per status, enrollments per status,
    messages sent per step and variant, test sends left out) and engagement from the
    analytics database: totals, rates, the per-step funnel and each variant's reply rate
    against its step's control with a two-proportion z-test. Engagement shows within a
    minute of the event."""
    return await _stats(campaign_id, principal, session, services)


# The CSV's columns: where a row sits, then the engagement counts and rates, then what a
# variant row adds (its comparison with its step's control).
_STATS_WHERE = ["row", "step_id", "step_order", "variant_id", "variant_label"]
_STATS_VARIANT = [
    "control_variant_id",
    "reply_rate_difference",
    "z",
    "p_value",
    "significant",
]


@router.get("/{campaign_id}/stats.csv", response_class=StreamingResponse)
async def campaign_stats_csv(
    campaign_id: UUID, principal: PrincipalDep, session: SessionDep, services: ServicesDep
) -> StreamingResponse:
    """The engagement of `/stats` as CSV: a `total` row, one `step` row per email step (the
    funnel) and one `variant` row per A/B variant (sent, replied, reply rate and the
    comparison with its step's control; its other counts are empty)."""
    stats = await _stats(campaign_id, principal, session, services)
    counts, rates = list(EngagementCounts.model_fields), list(EngagementRates.model_fields)
    empty_variant = [None] * len(_STATS_VARIANT)
    rows: list[list[Any]] = [
        [
            "total",
            None,
            None,
            None,
            None,
            *stats.totals.model_dump().values(),
            *stats.rates.model_dump().values(),
            *empty_variant,
        ]
    ]
    for step in stats.funnel:
        rows.append(
            [
                "step",
                str(step.step_id),
                step.step_order,
                None,
                None,
                *step.counts.model_dump().values(),
                *step.rates.model_dump().values(),
                *empty_variant,
            ]
        )
    order = {step.step_id: step.step_order for step in stats.funnel}
    for v in stats.variants:
        mine_counts = {"sent": v.sent, "replied": v.replied}
        mine_rates = {"reply_rate": v.reply_rate}
        rows.append(
            [
                "variant",
                str(v.step_id),
                order.get(v.step_id),
                str(v.variant_id),
                v.label,
                *(mine_counts.get(name) for name in counts),
                *(mine_rates.get(name) for name in rates),
                str(v.control_variant_id),
                v.reply_rate_difference,
                v.z,
                v.p_value,
                v.significant,
            ]
        )
    header = [*_STATS_WHERE, *counts, *rates, *_STATS_VARIANT]
    return csv_response(header, rows, f"campaign-{campaign_id}-stats.csv")


async def _stats(
    campaign_id: UUID, principal: Principal, session: AsyncSession, services: Services
) -> CampaignStats:
    repo = CampaignSetupRepository(session)
    await _campaign(repo, campaign_id)
    outbox, enrollments, steps = await repo.stats(campaign_id)
    step_rows = await repo.steps(campaign_id)
    variant_rows = await repo.variants(campaign_id)
    async with services.db.analytics_session(principal.tenant_id) as analytics:
        rows = await AnalyticsRepository(analytics).campaign_by_step_variant(campaign_id)
    return CampaignStats(
        outbox=outbox,
        enrollments=enrollments,
        steps=[
            StepVariantStats(step_id=r[0], step_order=r[1], variant_id=r[2], sent=r[3])
            for r in steps
        ],
        unknown=outbox.get("unknown", 0),
        **engagement_report(rows, step_rows, variant_rows),
    )
