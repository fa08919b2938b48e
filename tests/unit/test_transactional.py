"""The platform's own e-mail: every kind renders from its template with its fields (first
line the subject), a missing field fails instead of sending a hole, retries double and cap."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from typing import Any

import pytest
from jinja2 import UndefinedError

from penguinmails.transactional import (
    KINDS,
    MAX_RETRY,
    build_message,
    message_id,
    render,
    retry_after,
)


def _payload(kind: str) -> dict[str, Any]:
    return {field: (3 if field == "day" else f"<{field}>") for field in KINDS[kind]}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_renders_its_fields(kind: str) -> None:
    rendered = render(kind, _payload(kind))
    assert rendered.subject and "\n" not in rendered.subject
    shown = rendered.subject + rendered.text
    for field in KINDS[kind]:
        if field != "day":
            assert f"<{field}>" in shown, field
    assert "{{" not in shown and "{%" not in shown


def test_a_missing_field_fails_the_render() -> None:
    with pytest.raises(UndefinedError):
        render("invoice_paid", {"invoice_id": "in_1", "currency": "USD"})
    with pytest.raises(ValueError):
        render("no_such_kind", {})


def test_dunning_subject_by_day() -> None:
    assert (
        "update your payment method"
        in render("dunning_notice", {"day": 0, "grace_ends": "x"}).subject
    )
    assert "Reminder" in render("dunning_notice", {"day": 3, "grace_ends": "x"}).subject


def test_message_headers() -> None:
    rendered = render("welcome", {"tenant_name": "Acme"})
    mid = message_id("abc", "penguinmails.test")
    raw = build_message(rendered, "PM <no-reply@pm.test>", "o@acme.test", mid, "welcome").as_bytes()
    parsed = message_from_bytes(raw)
    assert parsed["Message-ID"] == "<transactional.abc@penguinmails.test>"
    assert parsed["To"] == "o@acme.test" and parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Subject"] == "Welcome to PenguinMails, Acme"


def test_retry_waits_double_up_to_the_cap() -> None:
    assert retry_after(1) == timedelta(minutes=1)
    assert retry_after(2) == timedelta(minutes=2)
    assert retry_after(4) == timedelta(minutes=8)
    assert retry_after(20) == MAX_RETRY
