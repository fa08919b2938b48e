"""Billing, dunning and the staff console as a user and an operator meet them in
`penguinmails dev`: the real API, worker, Temporal, Postgres, OpenBao, SMTP sink and
localstripe, driven over HTTP and through the `penguinmails` command.

A tenant on the trial creates mailboxes until the fourth answers 402 `plan_limit`, upgrades
to a paid plan (localstripe, the development card attached by the platform) and creates
it. A renewal fails: the events localstripe cannot emit (`customer.subscription.updated`,
`invoice.payment_failed`) are posted to `/webhooks/stripe` signed with the development
webhook secret read from Vault, as Stripe signs them. The subscription turns `past_due`, the
tenant gets the day-0 notice in the app and by e-mail (the sink); the paid invoice and the
subscription's return to `active` follow, and the same events delivered again, shuffled,
leave it so. A support staff member made with `penguinmails staff create` finds the tenant
by its domain, reads its overview, suspends it (its key answers 403 `tenant_suspended`) and
lifts the suspension, each step in the audit log. A flag set to 30% with `penguinmails
flags set` shows in the staff flags.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import random
import re
import subprocess
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from devstack.localstripe import DEV_API_KEY
from devstack.ports import free_dev_ports
from devstack.stack import SERVICE_URL_VARS
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from tests.e2e.devrun import CONSOLE_SCRIPT, dev_env, start_stack
from tests.e2e.steps import ok, until
from tests.fixtures.stripe import event, invoice_object, signature, subscription_object

pytestmark = pytest.mark.e2e

# The staff search looks for part of the domain, which neither the name nor the owner's
# e-mail contains.
DOMAIN = "fjordmail.test"
OWNER = "ops@acme.example.com"


def _mailbox(address: str, ports: dict[str, str]) -> dict[str, Any]:
    server = {"host": "127.0.0.1", "security": "none"}
    return {
        "email": address,
        "password": "dev-password",
        "smtp": {**server, "port": int(ports["PM_DEV_SMTP_PORT"])},
        "imap": {**server, "port": int(ports["PM_DEV_IMAP_PORT"])},
    }


def _platform_mail(sink: Path, kind: str) -> list[EmailMessage]:
    found = []
    for path in sorted(sink.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if message["X-PenguinMails-Kind"] == kind:
            found.append(message)
    return found


def _operator(data_dir: Path, *args: str) -> str:
    """A `penguinmails` operator command against the running stack (found by its DATA_DIR)."""
    done = subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        cwd=data_dir.parent,
        env={
            **{k: v for k, v in os.environ.items() if k not in SERVICE_URL_VARS},
            "DATA_DIR": str(data_dir),
            "COLUMNS": "250",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def test_limit_upgrade_dunning_replay_staff_and_flags_in_the_dev_stack(data_dir: Path) -> None:
    ports = free_dev_ports()
    api_port = int(ports["API_PORT"])
    run = start_stack(data_dir, ports, api_port, standins=False)
    try:
        run.wait_ready()
        env = dev_env(data_dir)
        sink = Path(env["SMTP_SINK_DIR"])
        vault = SecretStore(env["VAULT_ADDR"], env["VAULT_TOKEN"], env["VAULT_MOUNT"])
        stripe_path = Settings.model_fields["stripe_secret_path"].default
        record = asyncio.run(vault.read(stripe_path))
        assert record and record["webhook_secret"].startswith("whsec_"), record
        secret = record["webhook_secret"]
        localstripe = stripe.StripeClient(
            DEV_API_KEY, base_addresses={"api": env["STRIPE_API_BASE"]}
        )
        base = f"http://127.0.0.1:{api_port}"
        with (
            httpx.Client(base_url=base, timeout=60) as api,
            httpx.Client(base_url=base, timeout=30) as staff,
        ):
            # -- 1. The trial's mailbox limit, an upgrade, the fourth mailbox ----------------
            signed = ok(
                api.post("/v1/tenants", json={"name": "Acme", "owner_email": OWNER}),
                201,
            )
            tenant_id = signed["tenant_id"]
            api.headers["authorization"] = f"Bearer {signed['api_key']}"
            ok(api.post("/v1/domains", json={"domain": DOMAIN}), 201)
            for i in range(3):
                ok(api.post("/v1/email-accounts", json=_mailbox(f"box{i}@{DOMAIN}", ports)), 201)
            fourth = _mailbox(f"box3@{DOMAIN}", ports)
            refused = api.post("/v1/email-accounts", json=fourth)
            assert refused.status_code == 402, refused.text
            assert refused.json()["error"]["code"] == "plan_limit"
            assert refused.json()["error"]["details"] == {
                "limit": "mailboxes",
                "allowed": 3,
                "used": 3,
            }
            usage = ok(api.get("/v1/billing/usage"))
            allowed = {i["limit"]: (i["allowed"], i["used"]) for i in usage["items"]}
            assert (usage["plan_name"], allowed["mailboxes"]) == ("trial", (3, 3)), usage
            plans = {p["plan_name"]: p for p in ok(api.get("/v1/billing/plans"))}
            upgraded = ok(
                api.post("/v1/billing/subscription", json={"plan_id": plans["starter"]["id"]})
            )
            assert (upgraded["status"], upgraded["plan_name"]) == ("active", "starter")
            assert upgraded["checkout_url"] is None  # localstripe: subscribed at once
            ok(api.post("/v1/email-accounts", json=fourth), 201)
            usage = ok(api.get("/v1/billing/usage"))
            allowed = {i["limit"]: (i["allowed"], i["used"]) for i in usage["items"]}
            assert usage["plan_name"] == "starter"
            assert allowed["mailboxes"] == (plans["starter"]["limits"]["mailboxes"], 4), allowed

            # -- 2. A failed renewal, dunning, the payment, the same events again -----------
            live = localstripe.v1.subscriptions.retrieve(
                upgraded["stripe_subscription_id"]
            ).to_dict()
            sub, customer = live["id"], live["customer"]
            invoice_id = f"in_e2e_{uuid.uuid4().hex[:12]}"
            period_end = live["current_period_end"]
            # Later than anything the upgrade or localstripe's own webhooks told the
            # subscription's workflow (it applies only newer subscription events).
            t0 = int(time.time()) + 2
            failed = [
                event(
                    "invoice.payment_failed",
                    invoice_object(invoice_id, customer, sub, 4900, paid=False),
                    t0,
                ),
                event(
                    "customer.subscription.updated",
                    subscription_object(
                        sub, customer, "past_due", "plan_pm_starter", period_end=period_end
                    ),
                    t0,
                ),
            ]
            paid = [
                event(
                    "invoice.payment_succeeded",
                    invoice_object(invoice_id, customer, sub, 4900, paid=True),
                    t0 + 10,
                ),
                event(
                    "customer.subscription.updated",
                    subscription_object(
                        sub, customer, "active", "plan_pm_starter", period_end=period_end
                    ),
                    t0 + 10,
                ),
            ]

            def deliver(body: bytes) -> str:
                r = api.post(
                    "/webhooks/stripe",
                    content=body,
                    headers={
                        "Stripe-Signature": signature(body, secret),
                        "content-type": "application/json",
                    },
                )
                assert r.status_code == 200, r.text
                return str(r.json()["status"])

            assert [deliver(body) for body in failed] == ["accepted", "accepted"]
            until(
                lambda: ok(api.get("/v1/billing/subscription"))["status"] == "past_due",
                "the subscription past due",
            )
            state = ok(api.get("/v1/billing/subscription"))
            assert state["grace_ends"] is not None, state

            def day0() -> list[dict[str, Any]]:
                items = ok(api.get("/v1/notifications"))["items"]
                return [
                    n
                    for n in items
                    if n["type"].startswith("billing.past_due.") and n["type"].endswith(".day0")
                ]

            until(lambda: bool(day0()), "the day-0 notice in the app")
            assert day0()[0]["title"] == "Payment failed", day0()
            # The transactional e-mail leaves with the next minute's schedule.
            until(
                lambda: bool(_platform_mail(sink, "dunning_notice")),
                "the dunning e-mail in the sink",
                120,
            )
            [notice] = _platform_mail(sink, "dunning_notice")
            assert str(notice["To"]) == OWNER
            assert "payment" in str(notice["Subject"]).lower(), notice["Subject"]

            assert [deliver(body) for body in paid] == ["accepted", "accepted"]

            def recovered() -> bool:
                return bool(ok(api.get("/v1/billing/subscription"))["status"] == "active")

            until(recovered, "the subscription active again")

            def invoice_states() -> dict[str | None, str]:
                items = ok(api.get("/v1/billing/invoices"))["items"]
                return {i["invoice_id"]: i["status"] for i in items}

            until(
                lambda: invoice_states().get(invoice_id) == "succeeded", "the invoice recorded paid"
            )
            settled = ok(api.get("/v1/billing/subscription"))
            assert settled["grace_ends"] is None, settled
            invoices = invoice_states()

            # Stripe delivers at least once and in any order: the same four events again.
            replay = failed + paid
            random.Random(13).shuffle(replay)
            assert {deliver(body) for body in replay} == {"duplicate"}
            time.sleep(3)  # what a wrongly applied replay would need to show
            assert ok(api.get("/v1/billing/subscription")) == settled
            assert invoice_states() == invoices

            # -- 3. Support finds the tenant, reads it, suspends and restores it ------------
            created = _operator(
                data_dir, "staff", "create", "help@penguinmails.example.com", "--role", "support"
            )
            key = re.search(r"api_key\s+(\S+)", created)
            staff_user = re.search(r"user_id\s+(\S+)", created)
            assert key and staff_user, created
            staff.headers["authorization"] = f"Bearer {key.group(1)}"

            found = ok(staff.get("/v1/staff/tenants", params={"q": "fjordm"}))["items"]
            assert [t["id"] for t in found] == [tenant_id], found
            assert found[0]["domains"] == [DOMAIN]
            overview = ok(staff.get(f"/v1/staff/tenants/{tenant_id}"))
            assert overview["subscription"]["plan_name"] == "starter"
            assert overview["subscription"]["status"] == "active"
            assert len(overview["mailboxes"]) == 4

            ok(staff.post(f"/v1/staff/tenants/{tenant_id}/suspend", json={"reason": "chargeback"}))
            locked = api.get("/v1/billing/usage")
            assert locked.status_code == 403, locked.text
            assert locked.json()["error"]["code"] == "tenant_suspended"
            ok(staff.post(f"/v1/staff/tenants/{tenant_id}/unsuspend"))
            ok(api.get("/v1/billing/usage"))

            trail = ok(staff.get("/v1/staff/audit", params={"tenant_id": tenant_id, "limit": 100}))[
                "items"
            ]
            mine = [e for e in trail if e["actor_id"] == staff_user.group(1)]
            assert [e["action"] for e in mine] == [
                "tenant.found",
                "tenant.viewed",
                "tenant.suspended",
                "tenant.unsuspended",
            ], trail
            assert {e["actor_type"] for e in mine} == {"staff"}

            # -- 4. A flag at 30% through the command, as staff see it ----------------------
            assert "30%" in _operator(data_dir, "flags", "set", "smart_send", "--percent", "30")
            flags = {f["name"]: f for f in ok(staff.get("/v1/staff/flags"))}
            assert (flags["smart_send"]["enabled"], flags["smart_send"]["percent"]) == (True, 30)
    finally:
        code = run.interrupt()
    assert code == 0, "".join(run.lines)
