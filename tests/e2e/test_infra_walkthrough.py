"""The sending infrastructure as a user meets it in `penguinmails dev`, with a warmup ramp
day of a few seconds (`WARMUP_DAY_SECONDS`: the dev Temporal server cannot skip time),
driven over HTTP and the `penguinmails` CLI.

A tenant verifies a domain, adds a mailbox, orders a server from the `local` provider and
waits until it is active (its loopback IP registered with a PTR name the dev DNS answers),
starts the mailbox's warmup and watches three simulated days: each day the cap the engine
applies (the mailbox's health) follows the curve, keyed by consecutive simulated dates.
Stopping the warmup gives the mailbox its own daily cap back; the server's decommission is
scheduled for the end of its paid period (asking twice answers the same date).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
import time
from pathlib import Path
from typing import Any

import dns.resolver
import httpx
import pytest

from devstack.ports import free_dev_ports
from penguinmails.warmup import RampCurve
from tests.e2e.devrun import CONSOLE_SCRIPT, start_stack
from tests.e2e.steps import active_mailbox, ok, until, verified_domain

pytestmark = pytest.mark.e2e

DAY_SECONDS = 15  # one simulated warmup day
DAYS = 3
DAILY_CAP = 50
CURVE = RampCurve(start=5, growth_pct=50, target=100)  # 5, 8, 12, 18, ... a day


def _ptr(ip: str, dns_port: int) -> list[str]:
    """The dev DNS's answer for the IP's reverse name (none yet: an empty list)."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = dns_port
    resolver.lifetime = 2
    try:
        answer = resolver.resolve(ipaddress.ip_address(ip).reverse_pointer, "PTR")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    return [str(r.target).rstrip(".") for r in answer]


def _cli(base: str, api_key: str, *args: str) -> str:
    done = subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        env={
            "PATH": "/usr/bin:/bin",
            "PENGUINMAILS_API_KEY": api_key,
            "PENGUINMAILS_API_URL": base,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_server_provisioned_a_mailbox_warmed_for_three_simulated_days_and_decommissioned(
    data_dir: Path,
) -> None:
    ports = free_dev_ports()
    api_port = int(ports["API_PORT"])
    run = start_stack(
        data_dir,
        ports,
        api_port,
        standins=False,
        extra_env={"WARMUP_DAY_SECONDS": str(DAY_SECONDS)},
    )
    try:
        run.wait_ready()
        base = f"http://127.0.0.1:{api_port}"
        with httpx.Client(base_url=base, timeout=30) as api:
            signed = ok(
                api.post(
                    "/v1/tenants", json={"name": "Warm Co", "owner_email": "ops@warm.example.com"}
                ),
                201,
            )
            key = signed["api_key"]
            api.headers["authorization"] = f"Bearer {key}"

            # A verified domain (the dev DNS publishes its records) and an active mailbox.
            verified_domain(api, "warm-mail.test")
            mailbox = active_mailbox(
                api,
                ports,
                "wendy@warm-mail.test",
                daily_cap=DAILY_CAP,
            )
            box = mailbox["id"]

            # A server from the `local` provider: active, its loopback IP registered.
            ordered = ok(
                api.post("/v1/vps-instances", json={"provider": "local", "region": "local"}), 201
            )
            vps_id = ordered["id"]
            assert ordered["status"] == "provisioning", ordered

            def vps_active() -> bool:
                return bool(ok(api.get(f"/v1/vps-instances/{vps_id}"))["status"] == "active")

            until(vps_active, "the server to become active", timeout=60)
            vps = ok(api.get(f"/v1/vps-instances/{vps_id}"))
            assert ipaddress.ip_address(vps["ip_address"]).is_loopback, vps
            assert vps["current_billing_period_end"] is not None, vps
            ips = [
                ip
                for ip in ok(api.get("/v1/ip-addresses"))["items"]
                if ip["vps_instance_id"] == vps_id
            ]
            assert [ip["ip_address"] for ip in ips] == [vps["ip_address"]], ips
            [ip] = ips
            assert ip["status"] == "available" and ip["ptr_name"], ip
            dns_port = int(ports["PM_DEV_DNS_PORT"])
            until(
                lambda: _ptr(ip["ip_address"], dns_port) == [ip["ptr_name"]],
                "the dev DNS's PTR answer",
                timeout=30,
            )

            # The mailbox's warmup: day 0 allows the curve's start.
            started_at = time.monotonic()
            warmup = ok(
                api.post(
                    "/v1/warmups",
                    json={"email_account_id": box, "curve": CURVE.as_dict()},
                ),
                201,
            )
            assert (warmup["day"], warmup["today_cap"]) == (0, CURVE.cap(0)), warmup
            first_date = dt.date.fromisoformat(warmup["cap_date"])
            health = ok(api.get(f"/v1/email-accounts/{box}/health"))
            assert health["caps"]["warmup_cap"] == CURVE.cap(0), health

            # Three simulated days: the health answer on each (the first seen per ramp day).
            seen: dict[int, dict[str, Any]] = {}

            def day_three() -> bool:
                h = ok(api.get(f"/v1/email-accounts/{box}/health"))
                seen.setdefault(h["warmup"]["day"], h)
                return bool(h["warmup"]["day"] >= DAYS)

            until(day_three, "three simulated warmup days", timeout=DAYS * DAY_SECONDS + 45)
            elapsed = time.monotonic() - started_at
            # Days of seconds, not instant and not real days.
            assert (DAYS - 0.5) * DAY_SECONDS <= elapsed <= DAYS * DAY_SECONDS + 45, elapsed
            for day in range(1, DAYS + 1):
                assert day in seen, sorted(seen)  # no ramp day skipped
                h = seen[day]
                cap = CURVE.cap(day)
                assert h["warmup"]["status"] == "active", h["warmup"]
                assert h["warmup"]["today_cap"] == cap, (day, h["warmup"])
                # Each step keyed by its own simulated date: the warmup's start + N days.
                assert h["warmup"]["cap_date"] == str(first_date + dt.timedelta(days=day))
                # The capacity the engine applies: the ramp's cap under the daily cap.
                assert h["caps"]["warmup_cap"] == cap, (day, h["caps"])
                assert h["caps"]["effective_cap"] == min(DAILY_CAP, cap), (day, h["caps"])
                assert h["caps"]["daily_cap"] == DAILY_CAP
            assert [seen[d]["caps"]["warmup_cap"] for d in range(1, DAYS + 1)] == [8, 12, 18]

            # Stopped (the CLI: an update of its workflow): the mailbox's own cap again.
            stopped = _cli(base, key, "warmup", "stop", warmup["id"])
            assert "stopped" in stopped, stopped
            after = ok(api.get(f"/v1/email-accounts/{box}/health"))
            assert after["warmup"] is None, after["warmup"]
            assert after["caps"]["warmup_cap"] is None
            assert after["caps"]["effective_cap"] == DAILY_CAP

            # Decommission at the end of the paid period; asking twice answers the same.
            first = ok(api.post(f"/v1/vps-instances/{vps_id}/decommission"), 202)
            assert first["status"] == "scheduled_decommission", first
            assert first["already_scheduled"] is False
            period_end = dt.datetime.fromisoformat(vps["current_billing_period_end"])
            assert dt.datetime.fromisoformat(first["decommission_scheduled_for"]) == period_end
            again = ok(api.post(f"/v1/vps-instances/{vps_id}/decommission"), 202)
            assert again["already_scheduled"] is True
            assert again["decommission_scheduled_for"] == first["decommission_scheduled_for"]
            shown = _cli(base, key, "vps", "show", vps_id)
            assert "scheduled_decommission" in shown, shown
            # Not before the period's end: the server and its IP still stand.
            assert ok(api.get(f"/v1/vps-instances/{vps_id}"))["ip_address"] == ip["ip_address"]
    finally:
        code = run.interrupt()
    assert code == 0, "".join(run.lines)
