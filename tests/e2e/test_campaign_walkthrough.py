"""The campaign engine as a user meets it in `penguinmails dev`: the real API, worker, Temporal,
Postgres, OpenBao, DNS, Dovecot and SMTP sink, driven over HTTP only.

A tenant verifies a domain, adds a mailbox (daily cap 10, a 3 s gap), imports five leads
from a CSV file, builds a three-step campaign with an A/B subject on step 1, enrolls the
list and starts it. The sends reach the sink; a pause stops them (nothing more arrives while
paused); a reply signalled through the API for a lead who got mail stops that lead; resume
lets the rest go until the mailbox's cap (13 messages are due, 10 may leave today). Each
follow-up is threaded to its lead's first message, and no lead gets a step twice.
"""

from __future__ import annotations

import email
import email.policy
import subprocess
import time
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from devstack.ports import free_dev_ports
from tests.e2e.devrun import CONSOLE_SCRIPT, dev_env, start_stack
from tests.e2e.steps import active_mailbox, ok, until, verified_domain

pytestmark = pytest.mark.e2e

CAP = 10
GAP = 3  # seconds between two sends of the mailbox: the pause lands mid-campaign
LEADS = 5
STEPS = 3
VARIANT_SUBJECTS = ("Quick question, {{first_name}}", "An idea for {{company}}")
# Open all day every day (a run at 23:59 UTC waits a minute for the next day's window).
ALWAYS = {"timezone": "UTC", "days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "23:59"}


def _sent(sink: Path) -> list[EmailMessage]:
    """The campaign's messages in the sink (the mailbox test's probe goes to the mailbox's
    own address, not to a lead)."""
    found = []
    for path in sorted(sink.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if _to(message).endswith("@prospects.example.com"):
            found.append(message)
    return found


def _to(message: EmailMessage) -> str:
    return str(message["To"].addresses[0].addr_spec)


def _by_lead(messages: list[EmailMessage]) -> dict[str, list[EmailMessage]]:
    grouped: dict[str, list[EmailMessage]] = {}
    for message in messages:
        grouped.setdefault(_to(message), []).append(message)
    return grouped


def test_a_three_step_ab_campaign_sends_pauses_resumes_and_stops_for_a_reply(
    data_dir: Path,
) -> None:
    ports = free_dev_ports()
    api_port = int(ports["API_PORT"])
    run = start_stack(data_dir, ports, api_port, standins=False)
    try:
        run.wait_ready()
        env = dev_env(data_dir)
        sink = Path(env["SMTP_SINK_DIR"])
        base = f"http://127.0.0.1:{api_port}"
        with httpx.Client(base_url=base, timeout=30) as api:
            signed = ok(
                api.post(
                    "/v1/tenants", json={"name": "Acme", "owner_email": "ops@acme.example.com"}
                ),
                201,
            )
            api.headers["authorization"] = f"Bearer {signed['api_key']}"
            company = ok(api.post("/v1/companies", json={"name": "Sales EU"}), 201)

            # A verified domain (the dev DNS publishes its records) and an active mailbox.
            verified_domain(api, "acme-mail.test")
            mailbox = active_mailbox(
                api,
                ports,
                "ada@acme-mail.test",
                daily_cap=CAP,
                min_gap_seconds=GAP,
                gap_jitter_seconds=0,
                sending_window={k: ALWAYS[k] for k in ("days", "start", "end")},
            )

            # The leads, from a CSV file.
            leads_csv = "email,first_name,company\n" + "".join(
                f"lead{i}@prospects.example.com,Lead{i},Company {i}\n" for i in range(LEADS)
            )
            lead_list = ok(api.post("/v1/lead-lists", json={"name": "Q4 prospects"}), 201)
            started = ok(
                api.post(
                    f"/v1/lead-lists/{lead_list['id']}/imports",
                    files={"file": ("leads.csv", leads_csv.encode(), "text/csv")},
                ),
                202,
            )
            import_id = started["id"]
            until(
                lambda: ok(api.get(f"/v1/imports/{import_id}"))["status"] == "completed",
                "the import",
            )
            result = ok(api.get(f"/v1/imports/{import_id}"))
            rejected = api.get(f"/v1/imports/{import_id}/rejected.csv").text
            assert result["accepted"] == LEADS, (result, rejected)

            # Three e-mail steps (no wait steps between them), an A/B subject on the first.
            template = ok(
                api.post(
                    "/v1/templates",
                    json={
                        "name": "Intro",
                        "subject": "Hello {{first_name}}",
                        "body": "<p>Hi {{first_name}}, a note about {{company}}.</p>",
                    },
                ),
                201,
            )
            campaign = ok(
                api.post(
                    "/v1/campaigns",
                    json={"name": "Q4", "company_id": company["id"], "schedule": ALWAYS},
                ),
                201,
            )
            cid = campaign["id"]
            steps = []
            for _ in range(STEPS):
                body = {"step_type": "email", "template_id": template["id"]}
                steps.append(ok(api.post(f"/v1/campaigns/{cid}/steps", json=body), 201))
            ok(
                api.put(
                    f"/v1/campaigns/{cid}/steps/{steps[0]['id']}/variants",
                    json={"variants": [{"subject": s} for s in VARIANT_SUBJECTS]},
                )
            )
            ok(
                api.put(
                    f"/v1/campaigns/{cid}/mailboxes",
                    json={"mailboxes": [{"email_account_id": mailbox["id"], "weight": 1}]},
                )
            )
            enrolled = ok(api.post(f"/v1/campaigns/{cid}/leads", json={"list_id": lead_list["id"]}))
            assert enrolled["enrolled"] == LEADS, enrolled

            assert ok(api.post(f"/v1/campaigns/{cid}/start"))["status"] == "sending"
            until(lambda: len(_sent(sink)) >= 2, "the first sends")

            # Pause: when it answers, nothing more leaves.
            paused = ok(api.post(f"/v1/campaigns/{cid}/pause"))
            assert paused["status"] == "paused" and paused["drained"] is True, paused
            at_pause = len(_sent(sink))
            assert at_pause < CAP, "the pause came after the last send: nothing to show"
            time.sleep(5)
            assert len(_sent(sink)) == at_pause, "a message left while the campaign was paused"

            # A reply for a lead who got mail, signalled through the API while paused.
            replier = _to(_sent(sink)[0])
            leads = ok(api.get("/v1/leads", params={"email_prefix": replier}))["items"]
            assert [lead["email"] for lead in leads] == [replier]
            replied = ok(api.post(f"/v1/leads/{leads[0]['id']}/reply"))
            assert replied["signalled"] == 1, replied
            replier_had = len(_by_lead(_sent(sink))[replier])

            assert ok(api.post(f"/v1/campaigns/{cid}/resume"))["status"] == "sending"
            # 1-3 messages for the replier, 3 for each other lead: more than the cap.
            until(lambda: len(_sent(sink)) >= CAP, "the mailbox's daily cap")
            time.sleep(5)  # nothing beyond the cap follows

            messages = _sent(sink)
            assert len(messages) == CAP
            per_lead = _by_lead(messages)
            assert len(per_lead[replier]) == replier_had, "the replier got mail after the reply"
            for address, thread in per_lead.items():
                n = address.removeprefix("lead").split("@")[0]
                # Step 1's subject is one of the variants, rendered for this lead.
                rendered = {
                    v.replace("{{first_name}}", f"Lead{n}").replace("{{company}}", f"Company {n}")
                    for v in VARIANT_SUBJECTS
                }
                assert len(thread) <= STEPS, (address, len(thread))
                # One first message (no parent); each follow-up answers a message of the
                # thread and carries the first in its References.
                [first] = [m for m in thread if m["In-Reply-To"] is None]
                assert str(first["Subject"]) in rendered, first["Subject"]
                thread_ids = {str(m["Message-ID"]) for m in thread}
                for follow_up in thread:
                    if follow_up is first:
                        continue
                    assert str(follow_up["In-Reply-To"]) in thread_ids, address
                    assert str(first["Message-ID"]) in str(follow_up["References"]), address
            ids = [str(m["Message-ID"]) for m in messages]
            assert len(set(ids)) == len(ids)

            # The engine's own account of it: the replier's enrollment says so.
            rows = ok(api.get(f"/v1/campaigns/{cid}/leads", params={"limit": 100}))["items"]
            statuses = {row["lead_id"]: row["status"] for row in rows}
            assert statuses[leads[0]["id"]] == "replied", statuses

        # The operator's progress table reads the same campaign.
        status = subprocess.run(
            [str(CONSOLE_SCRIPT), "campaign", "status", cid],
            env={
                "PATH": "/usr/bin:/bin",
                "PENGUINMAILS_API_KEY": signed["api_key"],
                "PENGUINMAILS_API_URL": base,
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        assert "Q4" in status.stdout and "sending" in status.stdout, status.stdout
    finally:
        code = run.interrupt()
    assert code == 0, "".join(run.lines)
