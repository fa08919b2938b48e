"""Delivering one step of a lead's sequence (or a test send): the activity the lead-sequence
workflow calls for each e-mail step, on the `sending` queue.

`deliver_step` is idempotent: it reserves (one committed transaction: every check and every
capacity slot), then sends under the outbox contract (DESIGN "Outbox"). A retry finds its own
row: `sent` is returned as sent, a row whose earlier attempt may have reached DATA is resolved
through the mailbox's Sent folder (or the dev sink), else `unknown` (never resent). The
message is built inside the activity from ids: nothing personal travels through Temporal.

Outcomes (`DeliverOutput.outcome`):
- `sent`: the server took it (250); `message_id` and the mailbox used (sticky for follow-ups).
- `deferred`: not sent, nothing lost; try again at `retry_at` (UTC ISO-8601) or, without one,
  after the workflow's own backoff. `reason`: `gap`, `mailbox_daily_cap`,
  `campaign_daily_limit`, `monthly_limit`, `no_mailbox` (none active or with capacity),
  `campaign_not_sending` (paused: the workflow waits for its resume), `lead_paused` (the
  tenant paused this lead's enrollment: the workflow waits for its resume signal),
  `mailbox_not_active`,
  `smtp_transient` (a 4xx or an unreachable server), `mailbox_failure` (5.7.x, or a 5xx at
  connect/HELO/MAIL/DATA: the mailbox's or the content's fault, never the lead's).
  `other_host` (the mailbox's domain sends from a platform IP that another host holds:
  nothing was reserved; call again on the sending queue of server `host_vps_id`, or on the
  shared queue when that is None, with `mailbox_id` = the mailbox chosen here),
  `host_unavailable` (set by the workflow, never by the activity: no worker of that server
  took the call in time).
- `stopped`: the lead must get nothing more from this campaign. `reason`: `lead_stopped`
  (unsubscribed, bounced, complained, erased or deleted, or its enrollment ended: removed
  by the tenant, stopped), `suppressed`, `bounced` (this send's
  5.1.x at RCPT: the lead is marked bounced and suppressed before this returns), `not_found`
  (the campaign or the step no longer exists).
- `unknown`: an earlier attempt may have reached DATA and the mailbox cannot tell; never
  resent, shown to the tenant.

Errors raised (after the row is written): only what Temporal should retry (a database, Redis
or secret-store outage, `ConcurrentChange` when another attempt changed the row meanwhile), a
non-retryable `TemplateError` for a template that cannot render, and non-retryable `BadInput`
(no lead for a non-test send) or `NotAnEmailStep`. A test send without `test_key` is keyed by
its activity attempt (the same across Temporal's retries).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

DELIVER_STEP = "deliver_step"

# How long one call may run: a send's SMTP exchange (each command bounded at 15 s, the whole
# about a minute), which is also how long a pause waits for the sends in flight. A retry
# after this finds the row held by the attempt still in DATA and waits for its outcome.
DELIVER_TIMEOUT = timedelta(seconds=60)
# The call heartbeats every third of this: a worker killed mid-send is noticed, and the
# send retried, within seconds instead of at the end of DELIVER_TIMEOUT.
DELIVER_HEARTBEAT_TIMEOUT = timedelta(seconds=15)

OUTCOME_SENT = "sent"
OUTCOME_DEFERRED = "deferred"
OUTCOME_STOPPED = "stopped"
OUTCOME_UNKNOWN = "unknown"

REASON_CAMPAIGN_NOT_SENDING = "campaign_not_sending"
REASON_LEAD_PAUSED = "lead_paused"
REASON_OTHER_HOST = "other_host"
REASON_HOST_UNAVAILABLE = "host_unavailable"
# How long a call routed to a server's own sending queue may wait for that server's worker
# before the workflow counts it as a deferral and goes back to the shared queue (a server
# down, or gone with its queue): nothing was reserved while it waited.
HOST_START_TIMEOUT = timedelta(minutes=5)
# The same for a test send or an inbox answer, which a person waits for: it fails instead.
INTERACTIVE_HOST_START = timedelta(seconds=30)
# Hops from host to host within one send before the workflow counts it as a deferral (the
# domain's IP moved between two hosts' looks at it).
MAX_HOST_HOPS = 3


@dataclass(frozen=True)
class DeliverInput:
    tenant_id: str
    campaign_id: str
    lead_id: str
    step_id: str
    # The lead's sticky mailbox once its first touch went out (follow-ups thread from it);
    # None: the campaign mailbox with the most capacity left.
    mailbox_id: str | None = None
    # The lead's enrollment draw in [0, 1): picks the variant of a step that has variants.
    variant_draw: float = 0.0
    # The Message-ID of the lead's first message in this campaign: follow-ups thread under it.
    thread_message_id: str | None = None
    # A test send: this address instead of the lead's (no lead needed: sample data), outside
    # the (campaign, lead, step) key and every statistic, inside the mailbox's daily cap.
    test_to: str | None = None
    test_key: str | None = None  # makes a test send's Message-ID unique per request


@dataclass(frozen=True)
class DeliverOutput:
    outcome: str
    reason: str = ""
    retry_at: str | None = None
    mailbox_id: str | None = None
    message_id: str | None = None
    outbox_id: str | None = None
    variant_id: str | None = None
    # `other_host`: the server whose sending worker must send it (None: the shared queue).
    host_vps_id: str | None = None
