"""The engagement loop as a user meets it in `penguinmails dev`, over HTTP and SMTP only: the
real API, worker (with its events consumer), Temporal, Postgres, Redis, OpenBao, DNS, Dovecot
and SMTP sink.

A tenant sends a campaign (an e-mail with a tracked link, a day's wait, a follow-up) to
22 leads, with a webhook endpoint
served by this test (which checks each delivery's signature). Then, as the leads would: the
pixel of one message is loaded and its link clicked, and both show in the campaign's stats
within a minute; one lead answers (through the sink, into the development mailbox): the
reply shows in the inbox with a category, ends that lead, reaches the webhook, and is
answered from the inbox into the lead's thread; one lead unsubscribes with one click and is
suppressed at once; two leads' messages bounce hard (DSNs into the mailbox): the leads are
`bounced` and the mailbox's breaker (more than 5% of at least 20 sends) pauses it with a
notification.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import smtplib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import make_msgid
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from devstack.ports import free_dev_ports
from penguinmails.leads.emails import address_hash
from penguinmails.webhooks import SIGNATURE_HEADER, verify_signature
from tests.e2e.devrun import dev_env, start_stack
from tests.e2e.steps import active_mailbox, ok, until, verified_domain
from tests.fixtures.inbound_samples import postfix_dsn

pytestmark = pytest.mark.e2e

LEADS = 22  # the breaker judges a mailbox from 20 sends on
ALWAYS = {"timezone": "UTC", "days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "23:59"}
LINK = "https://acme.example.com/pricing"
MAILBOX = "ada@acme-mail.test"


def _campaign_mail(sink: Path) -> list[EmailMessage]:
    found = []
    for path in sorted(sink.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if _to(message).endswith("@prospects.example.com"):
            found.append(message)
    return found


def _to(message: EmailMessage) -> str:
    return str(message["To"].addresses[0].addr_spec)


def _html(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def _local(url: str) -> str:
    """A tracking or unsubscribe URL (on the tenant's tracking host) as a path of the
    development API, which serves those paths itself."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Receiver:
    """A tenant's webhook endpoint: keeps each delivery whose signature verifies."""

    def __init__(self) -> None:
        self.secret = ""
        self.events: list[dict[str, Any]] = []
        self.bad_signatures = 0

    @contextmanager
    def serving(self) -> Iterator[str]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                header = self.headers.get(SIGNATURE_HEADER, "")
                if verify_signature(receiver.secret, header, body, int(time.time())):
                    receiver.events.append(json.loads(body))
                else:
                    receiver.bad_signatures += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
        finally:
            server.shutdown()

    def types(self) -> list[str]:
        return [str(e.get("type")) for e in self.events]


def _smtp(port: int, sender: str, to: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(sender, [to], raw)


def test_tracking_replies_unsubscribes_bounces_and_the_breaker_in_the_dev_stack(
    data_dir: Path,
) -> None:
    ports = free_dev_ports()
    api_port = int(ports["API_PORT"])
    smtp_port = int(ports["PM_DEV_SMTP_PORT"])
    run = start_stack(data_dir, ports, api_port, standins=False)
    receiver = Receiver()
    try:
        run.wait_ready()
        sink = Path(dev_env(data_dir)["SMTP_SINK_DIR"])
        base = f"http://127.0.0.1:{api_port}"
        with receiver.serving() as hook_url, httpx.Client(base_url=base, timeout=30) as api:
            signed = ok(
                api.post(
                    "/v1/tenants", json={"name": "Acme", "owner_email": "ops@acme.example.com"}
                ),
                201,
            )
            api.headers["authorization"] = f"Bearer {signed['api_key']}"
            company = ok(api.post("/v1/companies", json={"name": "Sales"}), 201)
            endpoint = ok(
                api.post(
                    "/v1/webhooks",
                    json={"url": hook_url, "event_types": ["opened", "clicked", "replied"]},
                ),
                201,
            )
            receiver.secret = endpoint["secret"]

            # A verified domain (the dev DNS publishes its records) and an active mailbox.
            verified_domain(api, "acme-mail.test")
            mailbox = active_mailbox(
                api,
                ports,
                MAILBOX,
                daily_cap=100,
                min_gap_seconds=0,
                gap_jitter_seconds=0,
                sending_window={k: ALWAYS[k] for k in ("days", "start", "end")},
            )
            mailbox_id = mailbox["id"]

            lead_list = ok(api.post("/v1/lead-lists", json={"name": "Prospects"}), 201)
            leads_csv = "email,first_name\n" + "".join(
                f"lead{i}@prospects.example.com,Lead{i}\n" for i in range(LEADS)
            )
            started = ok(
                api.post(
                    f"/v1/lead-lists/{lead_list['id']}/imports",
                    files={"file": ("leads.csv", leads_csv.encode(), "text/csv")},
                ),
                202,
            )
            until(
                lambda: ok(api.get(f"/v1/imports/{started['id']}"))["status"] == "completed",
                "the import",
            )
            template = ok(
                api.post(
                    "/v1/templates",
                    json={
                        "name": "Intro",
                        "subject": "Hello {{first_name}}",
                        "body": f'<p>Hi {{{{first_name}}}}, see <a href="{LINK}">pricing</a>.</p>',
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
            # E-mail, a day's wait, a follow-up: the replier's sequence is waiting when the
            # reply comes, and the reply ends it.
            for step in (
                {"step_type": "email", "template_id": template["id"]},
                {"step_type": "wait", "wait_duration_hours": 24},
                {"step_type": "email", "template_id": template["id"]},
            ):
                ok(api.post(f"/v1/campaigns/{cid}/steps", json=step), 201)
            ok(
                api.put(
                    f"/v1/campaigns/{cid}/mailboxes",
                    json={"mailboxes": [{"email_account_id": mailbox_id, "weight": 1}]},
                )
            )
            assert (
                ok(api.post(f"/v1/campaigns/{cid}/leads", json={"list_id": lead_list["id"]}))[
                    "enrolled"
                ]
                == LEADS
            )
            ok(api.post(f"/v1/campaigns/{cid}/start"))
            until(lambda: len(_campaign_mail(sink)) == LEADS, "every lead's message", 180)
            messages = {_to(m): m for m in _campaign_mail(sink)}
            opener, replier, leaver, *rest = sorted(messages)
            bounced = rest[:2]

            # Opens and clicks: a human's (later than the bots' first seconds after delivery).
            time.sleep(6)
            html = _html(messages[opener])
            pixel = re.search(r'src="([^"]*/t/o/[^"]+)"', html)
            link = re.search(r'href="([^"]*/t/c/[^"]+)"', html)
            assert pixel and link, html
            browser = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}
            seen_at = time.monotonic()
            assert httpx.get(base + _local(pixel.group(1)), headers=browser).status_code == 200
            click = httpx.get(base + _local(link.group(1)), headers=browser)
            assert (click.status_code, click.headers["location"]) == (302, LINK)

            def counted() -> bool:
                totals = ok(api.get(f"/v1/campaigns/{cid}/stats"))["totals"]
                return bool(totals["opened"] >= 1 and totals["clicked"] >= 1)

            until(counted, "the open and the click in the campaign's stats", 60)
            assert time.monotonic() - seen_at <= 60

            # A reply, written as the lead would, into the development mailbox.
            original = messages[replier]
            answer = EmailMessage()
            answer["From"], answer["To"] = replier, MAILBOX
            answer["Subject"] = f"Re: {original['Subject']}"
            answer["Message-ID"] = reply_id = make_msgid(domain="prospects.example.com")
            answer["In-Reply-To"] = answer["References"] = str(original["Message-ID"])
            answer.set_content("Interested! Can we schedule a call next week?")
            _smtp(smtp_port, replier, MAILBOX, answer.as_bytes())
            api.post(f"/v1/email-accounts/{mailbox_id}/test", json={})  # wakes the inbox poll

            def in_inbox() -> list[dict[str, Any]]:
                items = ok(api.get("/v1/inbox"))["items"]
                return [i for i in items if i["message_id"] == reply_id]

            until(lambda: bool(in_inbox()), "the reply in the inbox")
            [item] = in_inbox()
            assert item["classification"] == "reply" and item["category"], item
            assert item["campaign_id"] == cid and item["lead_id"]

            def replier_ended() -> bool:
                rows = ok(api.get(f"/v1/campaigns/{cid}/leads", params={"limit": 100}))["items"]
                return any(
                    r["lead_id"] == item["lead_id"] and r["status"] == "replied" for r in rows
                )

            until(replier_ended, "the replier's enrollment ended as replied")
            until(lambda: "replied" in receiver.types(), "the webhook's replied event")
            answered = ok(
                api.post(f"/v1/inbox/{item['id']}/reply", json={"text": "Tuesday at 10?"}), 201
            )
            assert answered["status"] == "sent", answered

            def threaded() -> bool:
                for path in sink.glob("*.eml"):
                    sent = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                    if str(sent["Message-ID"]) == answered["message_id"]:
                        return str(sent["In-Reply-To"]) == reply_id and _to(sent) == replier
                return False

            until(threaded, "the answer in the lead's thread")

            # One click on the unsubscribe link: suppressed before the answer comes back.
            unsubscribe = re.search(
                r"<(https?://[^>]*/u/[^>]+)>", str(messages[leaver]["List-Unsubscribe"])
            )
            assert unsubscribe, messages[leaver]["List-Unsubscribe"]
            one_click = httpx.post(
                base + _local(unsubscribe.group(1)),
                content=b"List-Unsubscribe=One-Click",
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert one_click.status_code == 200, one_click.text
            suppressed = ok(api.get("/v1/suppressions", params={"limit": 100}))["items"]
            assert address_hash(leaver) in [s["value"] for s in suppressed]  # stored hashed
            found = ok(api.get("/v1/leads", params={"email_prefix": leaver}))["items"]
            assert [lead["status"] for lead in found] == ["unsubscribed"], found

            # Two hard bounces: 2 of 22 sends is past the breaker's 5%.
            for n, address in enumerate(bounced):
                dsn = postfix_dsn(str(messages[address]["Message-ID"]), address, MAILBOX)
                # Each report its own Message-ID, as an MTA gives it (the sample has one).
                dsn = dsn.replace(b"<20260302090102.4F1A2@", f"<2026030209010{n}.dsn@".encode())
                _smtp(smtp_port, "", MAILBOX, dsn)
            api.post(f"/v1/email-accounts/{mailbox_id}/test", json={})

            def breaker() -> list[dict[str, Any]]:
                items = ok(api.get("/v1/notifications"))["items"]
                return [n for n in items if n["type"] == "mailbox_breaker"]

            def lead_bounced(address: str) -> bool:
                found = ok(api.get("/v1/leads", params={"email_prefix": address}))["items"]
                return [lead["status"] for lead in found] == ["bounced"]

            for address in bounced:
                until(partial(lead_bounced, address), f"{address} marked bounced")
            try:
                until(lambda: bool(breaker()), "the breaker's notification")
            except AssertionError:
                health = api.get(f"/v1/email-accounts/{mailbox_id}/health").text
                raise AssertionError(f"no breaker notification; the mailbox: {health}") from None
            assert "2 hard bounces" in breaker()[0]["message"], breaker()

            # The tracking hits reached the webhook too, each delivery signed.
            until(
                lambda: {"opened", "clicked"} <= set(receiver.types()), "the opened/clicked events"
            )
            assert receiver.bad_signatures == 0
    finally:
        code = run.interrupt()
    assert code == 0, "".join(run.lines)
