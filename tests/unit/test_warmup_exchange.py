"""The warmup exchange's pure parts: the marker, the composed messages, the volume and the
reputation score."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from email import message_from_bytes

from penguinmails.warmup_exchange import (
    DAILY_MAX,
    HEADER,
    answers,
    compose,
    daily_volume,
    is_warmup,
    looks_like_marker,
    marker,
    read_marker,
    reputation_score,
    round_volume,
)

KEY = b"k" * 32
TENANT, MAILBOX = uuid.uuid4(), uuid.uuid4()


def test_a_marker_names_its_sender_only_with_the_key_and_on_its_own_message() -> None:
    value = marker(KEY, TENANT, MAILBOX, "<a@x.test>")
    assert looks_like_marker(value)
    sender = read_marker(KEY, value, "<a@x.test>")
    assert sender is not None and (sender.tenant_id, sender.mailbox_id) == (TENANT, MAILBOX)
    assert read_marker(b"other" * 8, value, "<a@x.test>") is None  # another key
    assert read_marker(KEY, value, "<b@x.test>") is None  # copied onto another message
    other = uuid.uuid4()
    assert read_marker(KEY, value.replace(str(MAILBOX), str(other)), "<a@x.test>") is None
    for bad in ("", "w1.nope", None, value + "x"):
        assert read_marker(KEY, bad, "<a@x.test>") is None
        assert not looks_like_marker(bad)


def test_a_composed_message_is_marked_and_holds_only_generated_text() -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    first = compose(KEY, TENANT, MAILBOX, "ada@a.test", "bo@b.test", now, rng=random.Random(1))
    parsed = message_from_bytes(first.raw)
    assert parsed["Message-ID"] == first.message_id and first.message_id.endswith("@a.test>")
    assert read_marker(KEY, parsed[HEADER], first.message_id) is not None
    assert is_warmup(first.raw)
    assert "unsubscribe" not in first.raw.decode().lower()  # no campaign headers
    answer = compose(
        KEY,
        TENANT,
        MAILBOX,
        "bo@b.test",
        "ada@a.test",
        now,
        reply_to=(first.message_id, str(parsed["Subject"])),
    )
    reply = message_from_bytes(answer.raw)
    assert reply["In-Reply-To"] == first.message_id
    assert str(reply["Subject"]).startswith("Re: ")
    assert not is_warmup(b"From: a@b\r\nSubject: hi\r\n\r\nX-PenguinMails-Warmup: w1.x\r\n")


def test_volume_follows_the_ramp_up_to_its_ceiling_and_rounds_share_it() -> None:
    assert daily_volume(0) == 0 and daily_volume(12) == 12 and daily_volume(10_000) == DAILY_MAX
    assert round_volume(10, 3) == 4 and round_volume(1, 3) == 1 and round_volume(0, 3) == 0
    assert sum(round_volume(DAILY_MAX, 3) for _ in range(3)) >= DAILY_MAX


def test_the_answer_draw_is_stable_and_near_its_share() -> None:
    ids = [f"<{n}@x.test>" for n in range(4000)]
    assert [answers(i) for i in ids] == [answers(i) for i in ids]
    assert 0.25 < sum(map(answers, ids)) / len(ids) < 0.35


def test_the_score_rewards_engagement_and_penalises_spam_placement() -> None:
    assert reputation_score(0, 0, 0, 0) == 0
    assert reputation_score(10, 10, 3, 0) == 100
    assert reputation_score(10, 0, 0, 0) == 60  # delivered to the inbox, nobody engaged
    assert reputation_score(10, 10, 3, 5) < reputation_score(10, 10, 3, 0)
    assert reputation_score(10, 10, 3, 10) == 40
