"""The delivery's pure decisions: whom an SMTP answer blames, and which variant a draw picks."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from uuid import uuid4

import pytest

from penguinmails.delivery import Blame, blame, enhanced_status, pick_variant
from penguinmails.repositories.capacity import MailboxCapacity, rank_for_rotation


@pytest.mark.parametrize(
    ("code", "message", "stage", "answered", "expected"),
    [
        (550, "5.1.1 No such user here", "rcpt", True, Blame.RECIPIENT),
        (553, "5.1.3 Bad destination mailbox address syntax", "rcpt", True, Blame.RECIPIENT),
        # A bare 550 may be a policy refusal: never the lead's without 5.1.x.
        (550, "Rejected", "rcpt", True, Blame.MAILBOX),
        (550, "5.7.1 Relaying denied", "rcpt", True, Blame.MAILBOX),
        (554, "5.7.1 Message rejected as spam", "data", True, Blame.MAILBOX),
        (550, "5.1.1 odd but at MAIL", "mail", True, Blame.MAILBOX),
        (554, "No SMTP service here", "connect", True, Blame.MAILBOX),
        (501, "5.5.4 Bad HELO", "helo", True, Blame.MAILBOX),
        (535, "5.7.8 Authentication credentials invalid", "auth", True, Blame.AUTHENTICATION),
        (454, "4.7.0 Temporary authentication failure", "auth", True, Blame.TRANSIENT),
        (451, "4.3.0 Try again later", "rcpt", True, Blame.TRANSIENT),
        (421, "4.4.2 Timeout", "data", True, Blame.TRANSIENT),
        (0, "Connection refused", "connect", False, Blame.TRANSIENT),
        (421, "server disconnected", "mail", False, Blame.TRANSIENT),
        (421, "timed out", "data", False, Blame.AMBIGUOUS),
    ],
)
def test_blame_follows_the_enhanced_code_and_the_phase(
    code: int, message: str, stage: str, answered: bool, expected: Blame
) -> None:
    assert blame(code, message, stage, answered) is expected


def test_enhanced_status() -> None:
    assert enhanced_status("5.1.1 <x@y> User unknown") == (5, 1, 1)
    assert enhanced_status("  4.2.2 Mailbox full") == (4, 2, 2)
    assert enhanced_status("User unknown 5.1.1") is None
    assert enhanced_status("") is None


@dataclass(frozen=True)
class V:
    name: str
    weight: int


def test_pick_variant_follows_the_weights_and_is_stable() -> None:
    variants = [V("a", 1), V("b", 3)]
    assert pick_variant(variants, 0.0) == V("a", 1)
    assert pick_variant(variants, 0.2499) == V("a", 1)
    assert pick_variant(variants, 0.25) == V("b", 3)
    assert pick_variant(variants, 0.999999) == V("b", 3)
    assert pick_variant([], 0.5) is None
    draws = [n / 1000 for n in range(1000)]
    counts = Counter(v.name for d in draws if (v := pick_variant(variants, d)) is not None)
    assert counts == {"a": 250, "b": 750}


def _cap(left: int, weight: int = 1, **kw: object) -> MailboxCapacity:
    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    values: dict[str, object] = {
        "mailbox_id": uuid4(),
        "active": True,
        "daily_left": left,
        "campaign_left": None,
        "month_left": None,
        "infrastructure_left": None,
        "next_send_at": None,
        "now": now,
        "mailbox_midnight": now + dt.timedelta(hours=12),
        "campaign_midnight": None,
        "month_end": now + dt.timedelta(days=3),
        "weight": weight,
    }
    values.update(kw)
    return MailboxCapacity(**values)  # type: ignore[arg-type]


def test_capacity_is_the_least_of_its_limits_and_zero_when_blocked() -> None:
    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    assert _cap(10, campaign_left=4, month_left=7).allowed == 4
    assert _cap(10, month_left=0).limited_by == "monthly_limit"
    assert _cap(10, infrastructure_left=2).allowed == 2
    gap = _cap(10, next_send_at=now + dt.timedelta(seconds=30))
    assert (gap.allowed, gap.limited_by, gap.retry_at()) == (0, "gap", gap.next_send_at)
    paused = _cap(10, active=False)
    assert (paused.allowed, paused.limited_by, paused.retry_at()) == (
        0,
        "mailbox_not_active",
        None,
    )
    full = _cap(0)
    assert (full.limited_by, full.retry_at()) == ("mailbox_daily_cap", full.mailbox_midnight)


def test_rotation_order() -> None:
    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    roomy, heavy, used, blocked = (
        _cap(8),
        _cap(4, weight=3),
        _cap(8, next_send_at=now - dt.timedelta(minutes=1)),
        _cap(50, active=False),
    )
    order = rank_for_rotation([blocked, used, roomy, heavy])
    # 4 x 3 first; then 8 and 8, the one never used before the one used a minute ago.
    assert order == [heavy, roomy, used, blocked]
