"""The inbound classifier over written samples of every shape it must recognise."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from penguinmails.mail.inbound import classify
from penguinmails.mail.reply_text import categorize, new_text, return_date
from tests.fixtures import inbound_samples as samples

ORIGINAL = "<step1.abc123@mail.ours.example>"
LEAD = "lee@lead.example"
OURS = "sam@ours.example"


@pytest.mark.parametrize(
    ("build", "bounce_type", "status", "shape"),
    [
        (samples.postfix_dsn, "hard", "5.1.1", "dsn"),
        (samples.exim_dsn, "hard", "5.0.0", "dsn"),
        (samples.gmail_dsn, "hard", "5.1.1", "dsn"),
        (samples.exchange_dsn, "soft", "4.4.7", "dsn"),
        (samples.qmail_bounce, "hard", "5.1.1", "plain"),
    ],
)
def test_bounces_of_several_mtas(
    build: Callable[[str, str, str], bytes], bounce_type: str, status: str, shape: str
) -> None:
    found = classify(build(ORIGINAL, LEAD, OURS))
    assert found.kind == "bounce", found.reason
    assert found.bounce is not None
    assert found.bounce.bounce_type == bounce_type
    assert found.bounce.status == status
    assert found.bounce.recipient == LEAD
    assert found.bounce.shape == shape
    assert found.bounce.original_message_id == ORIGINAL
    assert found.thread_ids[0] == ORIGINAL


def test_a_soft_postfix_dsn_and_its_diagnostic() -> None:
    found = classify(samples.postfix_dsn(ORIGINAL, LEAD, OURS, status="4.2.2"))
    assert found.bounce is not None and found.bounce.bounce_type == "soft"
    assert found.bounce.diagnostic is not None and "4.2.2" in found.bounce.diagnostic


def test_arf_complaint() -> None:
    found = classify(samples.arf_complaint(ORIGINAL, LEAD, OURS))
    assert found.kind == "complaint"
    assert found.complaint is not None
    assert found.complaint.feedback_type == "abuse"
    assert found.complaint.recipient == LEAD
    assert found.thread_ids == (ORIGINAL,)


def test_out_of_office_with_a_return_date_in_words() -> None:
    found = classify(samples.out_of_office(ORIGINAL, LEAD, OURS))
    assert found.kind == "auto_reply"
    assert found.reason.startswith("Auto-Submitted")
    assert found.category == "out_of_office"
    assert found.return_date == date(2026, 3, 16)
    assert found.thread_ids == (ORIGINAL,)


def test_exchange_automatic_reply_without_rfc3834_headers() -> None:
    found = classify(samples.exchange_auto_reply(ORIGINAL, LEAD, OURS))
    assert found.kind == "auto_reply"
    assert found.reason.startswith("subject")
    assert found.return_date == date(2026, 3, 20)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Sounds interesting, tell me more about the pricing.", "interested"),
        ("Thanks, but we are not interested at this time.", "not_interested"),
        ("Happy to chat. What time works for a quick call on Thursday?", "meeting_request"),
        ("I'm not the right person, reach out to Dana in purchasing.", "wrong_person"),
        ("Ok.", None),
    ],
)
def test_reply_categories(text: str, category: str | None) -> None:
    found = classify(samples.human_reply(ORIGINAL, LEAD, OURS, text))
    assert found.kind == "reply"
    assert found.category == category
    assert (found.confidence > 0.3) == (category is not None)
    # the quoted history (with its "Unsubscribe" footer) is cut off
    assert "Unsubscribe" not in found.text
    assert found.thread_ids == (ORIGINAL, "<earlier@example.com>")
    assert found.in_reply_to == ORIGINAL


@pytest.mark.parametrize(
    "text",
    [
        "Please remove me from your list.",
        "UNSUBSCRIBE",
        "Bitte tragen Sie mich aus, ich möchte mich abmelden.",
        "Merci de me désabonner.",
        "Por favor, darme de baja.",
        "Cancellami dalla lista per favore.",
        "Graag afmelden.",
        "Por favor descadastre meu e-mail.",
    ],
)
def test_unsubscribe_in_words_in_several_languages(text: str) -> None:
    found = classify(samples.human_reply(ORIGINAL, LEAD, OURS, text))
    assert found.kind == "unsubscribe", found.reason
    assert found.category == "unsubscribe"


def test_unsubscribe_far_below_the_first_lines_is_a_plain_reply() -> None:
    text = "Thanks for reaching out.\nWe use another tool.\nBest,\nLee\n\nPS: unsubscribe"
    found = classify(samples.human_reply(ORIGINAL, LEAD, OURS, text))
    assert found.kind == "reply"


def test_unthreaded_reply_keeps_sender_and_subject_for_matching() -> None:
    found = classify(samples.unthreaded_reply(LEAD, OURS, "Yes, interested", "Re: Hello"))
    assert found.kind == "reply"
    assert found.thread_ids == ()
    assert found.from_address == LEAD
    assert found.subject == "Re: Hello"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage without headers",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain;"
        b" charset=no-such-charset\r\n\r\n\xff\xfe\r\n--x",  # unterminated, unknown charset
        b"From: =?bogus?Q?=ff?= <a@b.example>\r\nSubject: =?utf-8?B?!!!?=\r\n\r\nhi",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=y\r\n\r\n"
        b"--y\r\nContent-Type: message/delivery-status\r\n\r\nStatus: nonsense\r\n--y--",
        b"Content-Type: multipart/mixed; boundary=z\r\n\r\n" + b"--z\r\n" * 5000,
    ],
)
def test_malformed_mime_never_raises(raw: bytes) -> None:
    found = classify(raw)
    assert found.kind in ("unclassified", "reply", "bounce")
    assert found.reason


def test_huge_message_is_unclassified_with_the_reason_and_keeps_its_headers() -> None:
    raw = samples.human_reply(ORIGINAL, LEAD, OURS, "x" * 2000)
    found = classify(raw, max_parse_bytes=1000)
    assert found.kind == "unclassified"
    assert "too large" in found.reason
    assert found.in_reply_to == ORIGINAL


def test_an_empty_message_matches_nothing() -> None:
    found = classify(b"Subject: hi\r\n\r\n")
    assert found.kind == "reply"
    assert found.category is None and found.confidence == 0.0


def test_new_text_cuts_outlook_history() -> None:
    body = "Yes please.\n\n-----Original Message-----\nFrom: Sam\nremove me"
    assert new_text(body) == "Yes please."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm back on 2026-04-01.", date(2026, 4, 1)),
        ("Out until Monday, April 6.", date(2026, 4, 6)),
        ("Returning 3 January.", date(2027, 1, 3)),  # no year: the next 3 January
        ("Je serai de retour le 9 avril 2026.", date(2026, 4, 9)),
        ("Ich bin ab dem 2. März im Urlaub.", None),  # a start, not a return
        ("Away this week.", None),
    ],
)
def test_return_dates(text: str, expected: date | None) -> None:
    assert return_date(text, datetime(2026, 3, 2, tzinfo=UTC)) == expected


def test_confidence_drops_when_two_categories_compete() -> None:
    clear = categorize("Not interested, thanks.")
    mixed = categorize("Not interested right now, but what time works for a call next quarter?")
    assert clear.name == "not_interested"
    assert mixed.confidence < clear.confidence
