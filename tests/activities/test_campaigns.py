"""The campaign engine's activities against the real databases (OLTP with row-level
security, analytics): slots in the lead's zone or the campaign's, conditions without bots,
claims that survive a retry, endings written once, stop-for-company and free mail."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.campaigns import CampaignActivities
from activities.interfaces.campaigns import (
    CampaignRef,
    ClaimInput,
    ConditionInput,
    LeadEndingInput,
    LeadProgressInput,
    LoadSequenceInput,
    NextSlotInput,
    SetStatusInput,
    StopCompanyInput,
)
from penguinmails.db import Database
from penguinmails.leads.emails import is_free_mail
from penguinmails.settings import Settings, asyncpg_dsn
from tests.fixtures.campaigns import engine_campaign

MONDAY_NOON = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


async def test_the_slot_is_in_the_lead_zone_or_says_it_fell_back(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    c = await engine_campaign(admin_conn, zones=["America/New_York", "Mars/Olympus", None])
    await admin_conn.execute(
        "UPDATE campaigns SET timezone = 'Europe/Berlin', configuration = "
        """'{"sending_window": {"start": "09:00", "end": "17:00", "days": [1,2,3,4,5]}}' """
        "WHERE id = $1",
        c.tenant.campaign_id,
    )
    acts = CampaignActivities(db)
    ny, mars, none = [
        await acts.next_send_slot(
            NextSlotInput(c.tenant_id, c.campaign_id, str(lead), MONDAY_NOON.isoformat())
        )
        for lead in c.leads
    ]
    # 12:00 UTC is 07:00 in New York: the window opens at 09:00 EST (14:00 UTC).
    assert (ny.at, ny.zone, ny.fell_back) == (
        "2026-11-30T14:00:00+00:00",
        "America/New_York",
        False,
    )
    assert ny.note == "2026-11-30T14:00Z (America/New_York)"
    # 12:00 UTC is 13:00 in Berlin, inside its window: now.
    assert (mars.at, mars.zone, mars.fell_back) == (MONDAY_NOON.isoformat(), "Europe/Berlin", True)
    assert "'Mars/Olympus' is not IANA" in mars.note
    assert (none.zone, none.fell_back) == ("Europe/Berlin", True)


async def test_conditions_read_analytics_and_leave_bots_out(
    db: Database, admin_conn: asyncpg.Connection, settings: Settings
) -> None:
    c = await engine_campaign(admin_conn)
    lead = c.leads[0]
    acts = CampaignActivities(db)

    async def holds(kind: str) -> bool:
        out = await acts.evaluate_condition(
            ConditionInput(c.tenant_id, c.campaign_id, str(lead), kind)
        )
        return out.met

    assert settings.analytics_database_url
    analytics = await asyncpg.connect(asyncpg_dsn(settings.analytics_database_url))
    try:

        async def event(table: str, bot: bool | None = None) -> None:
            columns = {"tenant_id": c.tenant.tenant_id, "campaign_id": c.tenant.campaign_id}
            columns |= {"lead_id": lead, "email_id": uuid.uuid4(), "id": uuid.uuid4()}
            if table == "email_clicks":
                columns["clicked_url"] = "https://x.test"
            if bot is not None:
                columns["bot"] = bot
            marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
            await analytics.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", *columns.values()
            )

        assert await holds("always") and await holds("no_open") and await holds("no_click")
        await event("email_opens", True)  # a scanner's open
        await event("email_clicks", True)
        assert await holds("no_open") and await holds("no_click")
        await event("email_opens", False)
        assert not await holds("no_open") and await holds("no_click")
        assert await holds("no_reply")
        await event("email_replies")
        assert not await holds("no_reply")
    finally:
        await analytics.close()


async def test_a_retried_claim_returns_its_unstarted_rows_and_the_window_counts(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    c = await engine_campaign(admin_conn, emails=[f"l{i}@claim.test" for i in range(5)])
    acts = CampaignActivities(db)
    window = await acts.enrollment_window(CampaignRef(c.tenant_id, c.campaign_id))
    assert (window.capacity_today, window.pending, window.active) == (50, 5, 0)
    first = await acts.claim_enrollments(ClaimInput(c.tenant_id, c.campaign_id, None, 2))
    again = await acts.claim_enrollments(ClaimInput(c.tenant_id, c.campaign_id, None, 2))
    assert first == again and first.more and len(first.lead_ids) == 2
    # Once a sequence has started, its row is no longer claimed.
    started = await acts.load_lead_sequence(
        LoadSequenceInput(c.tenant_id, c.campaign_id, first.lead_ids[0])
    )
    assert started.open and started.status == "active" and len(started.steps) == 1
    third = await acts.claim_enrollments(ClaimInput(c.tenant_id, c.campaign_id, None, 2))
    assert third.lead_ids[0] == first.lead_ids[1] and first.lead_ids[0] not in third.lead_ids
    rest = await acts.claim_enrollments(ClaimInput(c.tenant_id, c.campaign_id, third.cursor, 10))
    assert len(rest.lead_ids) == 2 and not rest.more
    window = await acts.enrollment_window(CampaignRef(c.tenant_id, c.campaign_id))
    assert (window.pending, window.active) == (0, 5)
    # A paused mailbox gives no capacity; the campaign's daily limit caps the sum.
    await admin_conn.execute(
        "UPDATE campaigns SET daily_limit = 7 WHERE id = $1", c.tenant.campaign_id
    )
    assert (
        await acts.enrollment_window(CampaignRef(c.tenant_id, c.campaign_id))
    ).capacity_today == 7
    await admin_conn.execute(
        "UPDATE email_accounts SET pause_reasons = '{breaker}' WHERE id = $1", c.tenant.mailbox_id
    )
    assert (
        await acts.enrollment_window(CampaignRef(c.tenant_id, c.campaign_id))
    ).capacity_today == 0


async def test_progress_keeps_the_first_mailbox_and_an_ending_is_written_once(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    c = await engine_campaign(admin_conn)
    lead = str(c.leads[0])
    acts = CampaignActivities(db)
    env = ActivityEnvironment()  # the status and ending events take their id from it
    await acts.load_lead_sequence(LoadSequenceInput(c.tenant_id, c.campaign_id, lead))
    mailbox = str(c.tenant.mailbox_id)
    progress = LeadProgressInput(c.tenant_id, c.campaign_id, lead, 1, mailbox)
    assert (await acts.record_lead_progress(progress)).recorded
    first = await env.run(
        acts.record_lead_ending,
        LeadEndingInput(c.tenant_id, c.campaign_id, lead, "replied", "reply"),
    )
    later = await env.run(
        acts.record_lead_ending,
        LeadEndingInput(c.tenant_id, c.campaign_id, lead, "stopped", "cancelled"),
    )
    assert (first.status, first.recorded) == ("replied", True)
    assert (later.status, later.recorded) == ("replied", False)
    assert not (await acts.record_lead_progress(progress)).recorded
    row = await admin_conn.fetchrow(
        "SELECT status, current_step, email_account_id, started_at, finished_at, last_skip_reason "
        "FROM campaign_leads WHERE lead_id = $1",
        c.leads[0],
    )
    assert (row["status"], row["current_step"], row["email_account_id"]) == (
        "replied",
        1,
        c.tenant.mailbox_id,
    )
    assert row["started_at"] and row["finished_at"] and row["last_skip_reason"] == "reply"
    with pytest.raises(Exception, match="not an ending"):
        await env.run(
            acts.record_lead_ending, LeadEndingInput(c.tenant_id, c.campaign_id, lead, "active")
        )
    # An ended enrollment does not start again.
    again = await acts.load_lead_sequence(LoadSequenceInput(c.tenant_id, c.campaign_id, lead))
    assert (again.open, again.status) == (False, "replied")


async def test_status_mirror_stamps_start_and_end_once(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    c = await engine_campaign(admin_conn)
    acts = CampaignActivities(db)
    env = ActivityEnvironment()  # the status and ending events take their id from it
    sending = await env.run(
        acts.set_campaign_status, SetStatusInput(c.tenant_id, c.campaign_id, "sending")
    )
    assert sending.status == "sending" and sending.started_at and not sending.completed_at
    done = await env.run(
        acts.set_campaign_status, SetStatusInput(c.tenant_id, c.campaign_id, "completed")
    )
    assert done.started_at == sending.started_at and done.completed_at
    # An ended campaign never moves again.
    after = await env.run(
        acts.set_campaign_status, SetStatusInput(c.tenant_id, c.campaign_id, "sending")
    )
    assert (after.status, after.completed_at) == ("completed", done.completed_at)
    # The tenant is told once that it finished, in the completing transaction.
    told = await admin_conn.fetch(
        "SELECT title FROM notifications WHERE tenant_id = $1 AND type = 'campaign_completed'",
        c.tenant.tenant_id,
    )
    assert [r["title"] for r in told] == ["Campaign Q4 finished"]


async def test_stop_for_company_spares_free_mail_and_other_domains(
    db: Database, admin_conn: asyncpg.Connection, temporal_dev_server: WorkflowEnvironment
) -> None:
    company = f"acme-{uuid.uuid4().hex[:6]}.test"
    c = await engine_campaign(
        admin_conn,
        emails=[
            f"ann@{company}",
            f"bob@{company}",
            "carl@other.test",
            "dee@gmail.com",
            "eve@gmail.com",
        ],
        stop_for_company=True,
    )
    ann, bob, carl, dee, eve = (str(lead) for lead in c.leads)
    # No lead workflow runs here: cancelling one that does not exist is skipped.
    acts = CampaignActivities(db, client=temporal_dev_server.client)
    prefix = f"lead-sequence:{c.tenant_id}:{c.campaign_id}:"
    out = await acts.stop_company_leads(StopCompanyInput(c.tenant_id, c.campaign_id, ann, prefix))
    assert (out.domain, out.stopped) == (company, 1)
    free = await acts.stop_company_leads(StopCompanyInput(c.tenant_id, c.campaign_id, dee, prefix))
    assert (free.domain, free.stopped) == (None, 0)
    rows = dict(
        await admin_conn.fetch(
            "SELECT lead_id::text, status || ':' || coalesce(last_skip_reason, '') "
            "FROM campaign_leads WHERE campaign_id = $1",
            c.tenant.campaign_id,
        )
    )
    assert rows[bob] == "stopped:company_replied"
    assert {rows[ann], rows[carl], rows[dee], rows[eve]} == {"pending:"}
    assert is_free_mail("GMail.com") and not is_free_mail(company)
