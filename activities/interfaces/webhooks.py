"""Inputs, outputs and names of outbound webhook delivery: light enough for workflow code.

The endpoint workflow's own input and names live here too: whatever publishes events (the
API's test event, the events consumer in an activity) starts or nudges that workflow by
name, and activities may not import workflow modules.
"""

from __future__ import annotations

from dataclasses import dataclass

DELIVER_WEBHOOKS = "deliver_webhooks"
WEBHOOK_ENDPOINT_WORKFLOW = "WebhookEndpointWorkflow"
NUDGE_SIGNAL = "nudge"
WEBHOOKS_QUEUE = "webhooks"  # TaskQueue.WEBHOOKS (tests/unit check they agree)
WEBHOOK_ENDPOINT_KIND = "webhook-endpoint"


@dataclass(frozen=True)
class WebhookEndpointInput:
    tenant_id: str
    endpoint_id: str
    # An endpoint with nothing pending ends its run after this long; the next event starts
    # a new one (signal-with-start).
    idle_seconds: int = 3600


@dataclass(frozen=True)
class DeliverWebhooksInput:
    tenant_id: str
    endpoint_id: str


@dataclass(frozen=True)
class DeliverWebhooksOutput:
    # False: the endpoint is disabled or deleted; the workflow ends.
    active: bool
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    # Seconds until the earliest pending delivery is due; None: nothing pending.
    next_due_seconds: float | None = None
