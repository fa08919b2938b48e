"""The pure part of outbound webhooks: signatures a receiver can check, retry timing, and the
addresses a delivery may not reach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.interfaces.webhooks import WEBHOOKS_QUEUE
from penguinmails.webhooks import (
    FIRST_RETRY,
    MAX_RETRY,
    new_secret,
    next_attempt,
    refused_address,
    sign,
    verify_signature,
)
from usecases.webhooks import InvalidTarget, check_target
from workflows.names import TaskQueue


def test_a_signature_verifies_and_any_change_breaks_it() -> None:
    secret = new_secret()
    body = b'{"id":"evt_1","type":"replied"}'
    header = sign(secret, 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=")
    assert verify_signature(secret, header, body, now=1_700_000_100)
    assert not verify_signature(secret, header, body + b" ", now=1_700_000_100)
    assert not verify_signature(new_secret(), header, body, now=1_700_000_100)
    assert not verify_signature(secret, header.replace("t=1700000000", "t=1700000001"), body, now=1_700_000_100)  # fmt: skip
    # Replayed later than the tolerance: refused.
    assert not verify_signature(secret, header, body, now=1_700_000_000 + 301)
    assert not verify_signature(secret, "garbage", body, now=1_700_000_000)


def test_retries_back_off_from_thirty_seconds_to_six_hours() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    delays = [next_attempt(n, now) - now for n in range(1, 16)]
    assert delays[0] == FIRST_RETRY and delays[1] == 2 * FIRST_RETRY
    assert delays == sorted(delays)
    assert max(delays) == MAX_RETRY == timedelta(hours=6)
    assert next_attempt(10_000, now) - now == MAX_RETRY  # no overflow for a long outage


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # cloud metadata
        ("::1", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("::ffff:10.0.0.1", True),  # IPv4-mapped, judged as the IPv4 address
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("93.184.216.34", False),
        ("2606:2800:220:1::1", False),
    ],
)
def test_refused_addresses(address: str, refused: bool) -> None:
    assert (refused_address(address) is not None) is refused


def test_targets_outside_development_are_https_public_and_without_credentials() -> None:
    assert check_target(" https://hooks.example.com/pm ", False) == "https://hooks.example.com/pm"
    for url in (
        "http://hooks.example.com/",
        "ftp://hooks.example.com/",
        "https:///path-only",
        "https://user:pw@hooks.example.com/",
        "https://hooks.example.com/#frag",
        "https://10.0.0.5/hook",
        "https://[::1]:8443/hook",
        "https://localhost/hook",
        "https://hooks.example.com:99999/",
    ):
        with pytest.raises(InvalidTarget):
            check_target(url, False)
    # Development: a receiver on this machine, plain http.
    assert check_target("http://127.0.0.1:9000/hook", True) == "http://127.0.0.1:9000/hook"


def test_the_interface_names_the_workflows_task_queue() -> None:
    assert WEBHOOKS_QUEUE == TaskQueue.WEBHOOKS
