"""The bot classifier: HEAD, hits right after the send, known agents and networks are bots';
a person's hit is not; the rules file parses and refuses a line it does not understand."""

from __future__ import annotations

import datetime as dt

import pytest

from penguinmails.bots import BotRules, load_rules

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
PERSON = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15"


def test_packaged_rules() -> None:
    rules = load_rules()
    hour_ago = NOW - dt.timedelta(hours=1)
    assert rules.classify("GET", PERSON, "203.0.113.9", hour_ago, NOW) is None
    assert rules.classify("HEAD", PERSON, "203.0.113.9", hour_ago, NOW) == "head_request"
    assert rules.classify("GET", PERSON, "203.0.113.9", NOW - dt.timedelta(seconds=2), NOW) == (
        "too_soon_after_send"
    )
    proxy = (
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    )
    assert rules.classify("GET", proxy, "203.0.113.9", hour_ago, NOW) == "known_agent"
    assert rules.classify("GET", PERSON, "66.249.84.1", hour_ago, NOW) == "known_network"
    assert rules.classify("GET", "", "203.0.113.9", hour_ago, NOW) == "no_user_agent"


def test_rules_are_data() -> None:
    rules = BotRules.parse("# comment\n\nagent AcmeScanner\nnetwork 2001:db8::/32\n")
    assert rules.classify("GET", "acmescanner/2", None, None, NOW) == "known_agent"
    assert rules.classify("GET", PERSON, "2001:db8::1", None, NOW) == "known_network"
    assert rules.classify("GET", PERSON, "not-an-ip", None, NOW) is None
    with pytest.raises(ValueError, match="line 1"):
        BotRules.parse("agentless line")
