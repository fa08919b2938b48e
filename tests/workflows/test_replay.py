"""Determinism guard (DESIGN rule 7): stored histories replay against today's workflow
code. A change that breaks one needs `workflow.patched`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.campaign import CampaignWorkflow
from workflows.domain_verification import DomainVerificationWorkflow
from workflows.ip_warmup import IpWarmupWorkflow
from workflows.lead_import import LeadImportWorkflow
from workflows.lead_sequence import LeadSequenceWorkflow
from workflows.mailbox_warmup import MailboxWarmupWorkflow
from workflows.subscription import SubscriptionWorkflow
from workflows.vps_lifecycle import VpsLifecycleWorkflow

HISTORIES = Path(__file__).with_name("histories")
WORKFLOWS = {
    "domain_verification": DomainVerificationWorkflow,
    "lead_import": LeadImportWorkflow,
    # A completed sequence (with a deferral), a reply; a lead paused and resumed between its
    # two sends (heartbeating sends); a first touch routed to a server's own sending queue
    # and its follow-up sent there directly.
    "lead_sequence": LeadSequenceWorkflow,
    # A run that continued as new (start, pause, resume), the last; a lead enrolled while
    # the campaign was completing.
    "campaign": CampaignWorkflow,
    # The last period of a 3-month life (decommissioned), and a compensated provisioning.
    "vps_lifecycle": VpsLifecycleWorkflow,
    # The last day of a 30-day warmup (completed), and one stopped by `burned`.
    "ip_warmup": IpWarmupWorkflow,
    # The fourth simulated day (WARMUP_DAY_SECONDS) of a mailbox warmup, stopped.
    "mailbox_warmup": MailboxWarmupWorkflow,
    "subscription": SubscriptionWorkflow,  # past_due, notices, the billing pause, payment
}


@pytest.mark.parametrize(
    "path",
    sorted(p for p in HISTORIES.glob("*.json") if p.name.startswith(tuple(WORKFLOWS))),
    ids=lambda p: p.stem,
)
async def test_history_replays(path: Path) -> None:
    kind = next(k for k in WORKFLOWS if path.name.startswith(k))
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    await Replayer(workflows=[WORKFLOWS[kind]]).replay_workflow(history)
