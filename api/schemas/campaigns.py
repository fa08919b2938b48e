"""Campaigns, their mailboxes, steps and variants, enrollments and lifecycle answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.schemas.email_accounts import SendingWindow, iana_zone
from penguinmails.mailboxes import InvalidAddress, normalize_address

StepType = Literal["email", "wait", "condition"]
ConditionType = Literal["always", "no_reply", "no_open", "no_click"]


class Schedule(SendingWindow):
    """The sending window, in wall-clock time of `timezone` (a lead's own zone wins when it
    has one): ISO weekdays, start and end (an end before the start runs overnight), holidays
    as local dates."""

    timezone: str = "UTC"
    days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5], max_length=7)
    holidays: list[date] = Field(default_factory=list, max_length=1000)

    _tz = field_validator("timezone")(lambda cls, v: iana_zone(v))

    @model_validator(mode="after")
    def _not_empty(self) -> Schedule:
        if self.start == self.end:
            raise ValueError("the window is empty: start and end are equal")
        return self

    def configuration(self) -> dict[str, object]:
        """What the engine reads (`window_from_config`): the zone is its own column."""
        return {
            "sending_window": {
                "start": self.start,
                "end": self.end,
                "days": self.days,
                "holidays": sorted({h.isoformat() for h in self.holidays}),
            }
        }


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    company_id: UUID
    description: str | None = Field(default=None, max_length=2000)
    schedule: Schedule = Field(default_factory=Schedule)
    daily_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    stop_on_reply: bool = True
    stop_for_company: bool = False
    tracking_enabled: bool = True


class CampaignUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=2000)
    schedule: Schedule | None = None
    daily_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    stop_on_reply: bool | None = None
    stop_for_company: bool | None = None
    tracking_enabled: bool | None = None


class CampaignPublic(BaseModel):
    id: UUID
    company_id: UUID
    name: str
    description: str | None
    status: str
    pause_reasons: list[str]
    schedule: Schedule
    daily_limit: int | None
    stop_on_reply: bool
    stop_for_company: bool
    tracking_enabled: bool
    scheduled_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    created: datetime
    updated: datetime


class CampaignMailboxIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email_account_id: UUID
    weight: int = Field(default=1, ge=1, le=1000)


class CampaignMailboxesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mailboxes: list[CampaignMailboxIn] = Field(max_length=500)

    @field_validator("mailboxes")
    @classmethod
    def _unique(cls, value: list[CampaignMailboxIn]) -> list[CampaignMailboxIn]:
        if len({m.email_account_id for m in value}) != len(value):
            raise ValueError("a mailbox appears twice")
        return value


class CampaignMailboxesPublic(BaseModel):
    mailboxes: list[CampaignMailboxIn]


class VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, min_length=1, max_length=50)
    subject: str | None = Field(default=None, min_length=1, max_length=998)
    template_id: UUID | None = None
    weight: int = Field(default=1, gt=0, le=1000)

    @model_validator(mode="after")
    def _something(self) -> VariantIn:
        if self.subject is None and self.template_id is None:
            raise ValueError("a variant has a subject, a template_id or both")
        return self


class VariantsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variants: list[VariantIn] = Field(min_length=2, max_length=5)


class VariantPublic(BaseModel):
    id: UUID
    position: int
    label: str
    subject: str | None
    template_id: UUID | None
    weight: int
    is_active: bool


class StepFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template_id: UUID | None = None
    subject_override: str | None = Field(default=None, min_length=1, max_length=998)
    from_name_override: str | None = Field(default=None, min_length=1, max_length=255)
    wait_duration_hours: int | None = Field(default=None, ge=0, le=24 * 366)
    wait_until_date: datetime | None = None
    condition_type: ConditionType | None = None
    # What happens when the condition does not hold: `end` (default) or `skip_next`.
    condition_value: Literal["end", "skip_next"] | None = None

    @field_validator("wait_until_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("wait_until_date needs a time zone offset")
        return value


class StepCreate(StepFields):
    step_type: StepType
    # 1-based; None: after the last step. Steps after it move down one.
    step_order: int | None = Field(default=None, ge=1, le=1000)


class StepUpdate(StepFields):
    is_active: bool | None = None


class StepPublic(BaseModel):
    id: UUID
    step_order: int
    step_type: str
    template_id: UUID | None
    subject_override: str | None
    from_name_override: str | None
    wait_duration_hours: int | None
    wait_until_date: datetime | None
    condition_type: str | None
    condition_value: str | None
    is_active: bool
    variants: list[VariantPublic]


class StepList(BaseModel):
    items: list[StepPublic]


class EnrollIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    list_id: UUID | None = None
    lead_ids: list[UUID] | None = Field(default=None, min_length=1, max_length=10_000)
    # Enroll leads even while another open campaign of the tenant holds them.
    allow_other_campaigns: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> EnrollIn:
        if (self.list_id is None) == (self.lead_ids is None):
            raise ValueError("give exactly one of list_id and lead_ids")
        return self


class EnrollResult(BaseModel):
    enrolled: int
    already_enrolled: int
    in_other_campaign: int
    suppressed: int
    unsubscribed: int
    bounced: int
    erased: int
    inactive: int  # any other lead status
    not_found: int  # ids that are not the tenant's leads


class EnrollmentPublic(BaseModel):
    id: UUID
    lead_id: UUID
    status: str
    current_step: int
    email_account_id: UUID | None
    last_skip_reason: str | None
    started_at: datetime | None
    finished_at: datetime | None
    created: datetime


class EnrollmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # paused: the lead held (not started: skipped; running: its sends refused, it waits);
    # active: let go again, where it was (pending until claimed when it had not started).
    status: Literal["paused", "active"]


class EnrollmentStatus(BaseModel):
    lead_id: UUID
    status: str


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # UTC or with an offset; None or past: now.
    scheduled_at: datetime | None = None

    @field_validator("scheduled_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("scheduled_at needs a time zone offset")
        return value


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Whose pause to lift: the tenant's own, or the circuit breaker's (never lifted by
    # itself). Billing and suspension pauses are lifted by their own actors only.
    reason: Literal["user", "breaker"] = "user"


class LifecycleResult(BaseModel):
    status: str
    pause_reasons: list[str]
    scheduled_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None


class PauseResult(BaseModel):
    status: str
    pause_reasons: list[str]
    # True: no send of the campaign is in its SMTP exchange any more.
    drained: bool
    note: str


class LeadSignalResult(BaseModel):
    lead_id: UUID
    # The lead's open sequences that were told.
    signalled: int
    suppressed_now: bool | None = None


class TestSendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=3, max_length=320)
    step_id: UUID
    lead_id: UUID | None = None

    @field_validator("to")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            return normalize_address(value)
        except InvalidAddress as exc:
            raise ValueError(str(exc)) from None


class StepVariantStats(BaseModel):
    step_id: UUID
    step_order: int
    variant_id: UUID | None
    sent: int


class EngagementCounts(BaseModel):
    """From the analytics database. `opened`, `clicked`, `replied`, `bounced`, `complained`
    and `unsubscribed` count messages (each at most once: the rates' numerators); the
    `*_total` fields count human events, `bot_*` the hits filtered out as bots'."""

    sent: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0
    bounced: int = 0
    complained: int = 0
    unsubscribed: int = 0
    opens_total: int = 0
    clicks_total: int = 0
    replies_total: int = 0
    bot_opens: int = 0
    bot_clicks: int = 0


class EngagementRates(BaseModel):
    """Percentages of the messages sent (two decimals; never above 100)."""

    open_rate: float = 0.0
    click_rate: float = 0.0
    reply_rate: float = 0.0
    bounce_rate: float = 0.0
    complaint_rate: float = 0.0
    unsubscribe_rate: float = 0.0


class StepFunnel(BaseModel):
    step_id: UUID
    step_order: int
    counts: EngagementCounts
    rates: EngagementRates


class VariantComparison(BaseModel):
    """A variant's reply rate against its step's control (the step's first variant), with a
    two-proportion z-test at 95% (`z`/`p_value` null when either side has no sends or
    nobody replied on either side)."""

    step_id: UUID
    variant_id: UUID
    label: str
    control_variant_id: UUID
    sent: int
    replied: int
    reply_rate: float
    reply_rate_difference: float  # percentage points against the control
    z: float | None = None
    p_value: float | None = None
    significant: bool = False


class CampaignStats(BaseModel):
    outbox: dict[str, int]  # outbound messages per status (test sends left out)
    enrollments: dict[str, int]
    steps: list[StepVariantStats]
    totals: EngagementCounts = Field(default_factory=EngagementCounts)
    rates: EngagementRates = Field(default_factory=EngagementRates)
    funnel: list[StepFunnel] = Field(default_factory=list)
    variants: list[VariantComparison] = Field(default_factory=list)
    # Sends whose outcome nobody can tell (never resent automatically): shown apart.
    unknown: int = 0
