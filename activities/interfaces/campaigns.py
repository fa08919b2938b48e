"""Names, inputs and outputs of the campaign engine's activities and signals: light enough
for workflow code (standard library only). Ids travel as strings, times as UTC ISO-8601.

Every output that a person reads in the Temporal UI carries `note`, one sentence saying
what the activity found ("2026-12-01T14:00Z (America/New_York)"), so a lead's history
reads as a story without decoding the payloads' fields one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# -- activities of a lead's sequence -------------------------------------------------------------
LOAD_LEAD_SEQUENCE = "load_lead_sequence"
NEXT_SEND_SLOT = "next_send_slot"
EVALUATE_CONDITION = "evaluate_condition"
RECORD_LEAD_PROGRESS = "record_lead_progress"
RECORD_LEAD_ENDING = "record_lead_ending"
STOP_COMPANY_LEADS = "stop_company_leads"

# -- activities of a campaign --------------------------------------------------------------------
ENROLLMENT_WINDOW = "enrollment_window"
CLAIM_ENROLLMENTS = "claim_enrollments"
SET_CAMPAIGN_STATUS = "set_campaign_status"
PAUSE_CAMPAIGN = "pause_campaign"
RESUME_CAMPAIGN = "resume_campaign"
NOTIFY_LEADS_RESUMED = "notify_leads_resumed"
CANCEL_LEAD_SEQUENCES = "cancel_lead_sequences"

# -- signals -------------------------------------------------------------------------------------
# Facts that reach a lead's sequence (DESIGN rule 5); each ends it at once (a reply only when
# the campaign stops on reply).
SIGNAL_REPLY = "reply"
SIGNAL_UNSUBSCRIBE = "unsubscribe"
SIGNAL_BOUNCE = "bounce"
SIGNAL_COMPLAINT = "complaint"
# An out-of-office notice with a return date (`detail`, ISO): the next send waits until then.
# It does not end the sequence.
SIGNAL_OUT_OF_OFFICE = "out_of_office"
# From the campaign's resume fan-out: a lead waiting on a paused campaign tries again.
SIGNAL_CAMPAIGN_RESUMED = "campaign_resumed"
# To the campaign's workflow id (never a run id, so it reaches the run after a
# continue-as-new): new pending enrollments, or a lead that ended (a window slot is free).
SIGNAL_ENROLLED = "enrolled"
SIGNAL_LEAD_FINISHED = "lead_finished"

# The enrollment status each ending signal leaves.
ENDING_STATUS = {
    SIGNAL_REPLY: "replied",
    SIGNAL_UNSUBSCRIBE: "unsubscribed",
    SIGNAL_BOUNCE: "bounced",
    SIGNAL_COMPLAINT: "complained",
}

# The campaign workflow's id is `{CAMPAIGN_WORKFLOW_KIND}:{tenant}:{campaign}` (workflows.names
# builds it from this; activities that message the campaign use it without workflow code).
CAMPAIGN_WORKFLOW_KIND = "campaign"

# Who pauses a campaign (the same list as the schema's check): each lifts only its own.
PAUSE_REASONS = ("user", "billing", "breaker", "suspension")

STEP_EMAIL = "email"
STEP_WAIT = "wait"
STEP_CONDITION = "condition"
# A condition step's `condition_value`: what happens when the condition does not hold.
CONDITION_ELSE_SKIP_NEXT = "skip_next"  # skip the following step only
CONDITION_ELSE_END = "end"  # the default: the sequence ends, `completed`


@dataclass(frozen=True)
class LeadSignal:
    """A fact about the lead (reply, unsubscribe, bounce, complaint) or the campaign's resume."""

    tenant_id: str
    detail: str = ""  # e.g. the reply's Message-ID or the bounce's status code: no content


@dataclass(frozen=True)
class CampaignNudge:
    tenant_id: str
    lead_id: str | None = None


# -- a lead's sequence ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SequenceStep:
    step_id: str
    step_order: int
    step_type: str
    wait_hours: int | None = None
    wait_until: str | None = None
    condition_type: str | None = None
    condition_value: str | None = None


@dataclass(frozen=True)
class LoadSequenceInput:
    tenant_id: str
    campaign_id: str
    lead_id: str


@dataclass(frozen=True)
class LoadSequenceOutput:
    """The enrollment (marked started: pending -> active) and the campaign's active steps
    after its `current_step`."""

    open: bool  # False: the enrollment ended (or is gone) before the sequence started
    status: str
    current_step: int = 0
    steps: list[SequenceStep] = field(default_factory=list)
    stop_on_reply: bool = True
    stop_for_company: bool = False
    mailbox_id: str | None = None  # the sticky mailbox, once a first touch went out
    thread_message_id: str | None = None  # the Message-ID of the lead's first message
    variant_draw: float = 0.0
    note: str = ""


@dataclass(frozen=True)
class NextSlotInput:
    tenant_id: str
    campaign_id: str
    lead_id: str
    not_before: str  # UTC ISO-8601: the workflow's now, or a deferral's retry time


@dataclass(frozen=True)
class NextSlotOutput:
    at: str  # UTC ISO-8601
    zone: str  # the IANA zone the window was read in
    fell_back: bool  # the lead's zone was missing or not IANA: the campaign's was used
    window_end: str
    note: str = ""


@dataclass(frozen=True)
class ConditionInput:
    tenant_id: str
    campaign_id: str
    lead_id: str
    condition_type: str  # always | no_reply | no_open | no_click


@dataclass(frozen=True)
class ConditionOutput:
    met: bool
    note: str = ""


@dataclass(frozen=True)
class LeadProgressInput:
    tenant_id: str
    campaign_id: str
    lead_id: str
    step_order: int  # the step just done
    mailbox_id: str | None = None  # the mailbox of a first touch: sticky from then on
    skip_reason: str | None = None  # why the step was skipped or left unconfirmed


@dataclass(frozen=True)
class LeadProgressOutput:
    recorded: bool  # False: the enrollment had ended meanwhile (cancel, stop-for-company)


@dataclass(frozen=True)
class LeadEndingInput:
    tenant_id: str
    campaign_id: str
    lead_id: str
    status: str  # completed | replied | unsubscribed | bounced | complained | stopped | failed
    reason: str = ""


@dataclass(frozen=True)
class LeadEndingOutput:
    status: str  # the enrollment's status now: an earlier ending is never overwritten
    recorded: bool


@dataclass(frozen=True)
class StopCompanyInput:
    tenant_id: str
    campaign_id: str
    lead_id: str
    # The campaign's lead workflows' ids without the lead id (`workflows.names` builds it).
    lead_workflow_prefix: str = ""


@dataclass(frozen=True)
class StopCompanyOutput:
    domain: str | None  # None: a free-mail domain (or none): nobody else is stopped
    stopped: int = 0
    note: str = ""


# -- a campaign ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignRef:
    tenant_id: str
    campaign_id: str


@dataclass(frozen=True)
class WindowOutput:
    """Today's sending capacity of the campaign and its enrollments by status."""

    capacity_today: int
    pending: int
    active: int
    paused: int = 0

    @property
    def open(self) -> int:
        return self.pending + self.active + self.paused


@dataclass(frozen=True)
class ClaimInput:
    tenant_id: str
    campaign_id: str
    after: str | None  # the keyset cursor: the last enrollment id seen, None from the start
    limit: int


@dataclass(frozen=True)
class ClaimOutput:
    """Enrollments of the page, claimed (pending -> active): their sequences start next.
    A retried claim returns its rows again (claimed but not yet started), so a page is
    never lost; starting a sequence twice finds it started."""

    lead_ids: list[str]
    cursor: str | None  # the last enrollment id of the page (unchanged when the page is empty)
    more: bool  # the page was full: more rows may follow the cursor


@dataclass(frozen=True)
class SetStatusInput:
    tenant_id: str
    campaign_id: str
    status: str
    # `completed` only when no enrollment is open (checked under the campaign's row lock,
    # which enrolling takes too); otherwise nothing changes and `applied` is False.
    when_done: bool = False


@dataclass(frozen=True)
class CampaignStatusOutput:
    status: str
    started_at: str | None = None
    completed_at: str | None = None
    applied: bool = True  # False: `when_done` found an open enrollment


@dataclass(frozen=True)
class PauseInput:
    tenant_id: str
    campaign_id: str
    reason: str
    # How long the pause waits for the sends in flight: about the SMTP timeout.
    lock_timeout_ms: int = 60_000
    # A notification written with the pause when this reason is new (the breaker's, with
    # its figures); nothing when empty.
    notice_title: str = ""
    notice: str = ""


@dataclass(frozen=True)
class PauseOutput:
    status: str
    reasons: list[str]
    # True: no send of the campaign is in flight and none starts. False: the lock timed out;
    # the reason is recorded anyway (no new send passes its re-check) and `in_flight` lists
    # the outbox rows whose sends still hold the lock.
    drained: bool
    in_flight: list[str] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class ResumeInput:
    tenant_id: str
    campaign_id: str
    reason: str


@dataclass(frozen=True)
class ResumeOutput:
    status: str
    reasons: list[str]


@dataclass(frozen=True)
class FanOutInput:
    tenant_id: str
    campaign_id: str
    lead_workflow_prefix: str  # a lead's workflow id is this followed by its lead id
    page_size: int = 500


@dataclass(frozen=True)
class FanOutOutput:
    workflows: int  # lead workflows cancelled or signalled
    enrollments: int = 0  # enrollments marked stopped (cancel)
