"""The inbound classifier (`penguinmails.mail.inbound.classify`) on the test samples (five
MTAs' bounces, a complaint, auto-replies, human replies) and on hostile shapes (thousands
of boundaries, a 9 MB body), against a bare parse of the same bytes with the standard
library (`message_from_bytes` and a walk over the parts), in the same run. One JSON line
per case, the median of `--runs` runs:

    python bench/classify.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from penguinmails.mail.inbound import classify  # noqa: E402
from tests.fixtures import inbound_samples as samples  # noqa: E402

ORIGINAL, LEAD, OURS = "<o.1@ours.example>", "lee@lead.example", "sam@ours.example"
MIX = [
    samples.postfix_dsn(ORIGINAL, LEAD, OURS),
    samples.exim_dsn(ORIGINAL, LEAD, OURS),
    samples.gmail_dsn(ORIGINAL, LEAD, OURS),
    samples.exchange_dsn(ORIGINAL, LEAD, OURS),
    samples.qmail_bounce(ORIGINAL, LEAD, OURS),
    samples.arf_complaint(ORIGINAL, LEAD, OURS),
    samples.out_of_office(ORIGINAL, LEAD, OURS),
    samples.exchange_auto_reply(ORIGINAL, LEAD, OURS),
    samples.human_reply(ORIGINAL, LEAD, OURS, "Sounds interesting, tell me more."),
    samples.human_reply(ORIGINAL, LEAD, OURS, "Please remove me from your list."),
]
HOSTILE = {
    "boundaries_20000": b"Content-Type: multipart/mixed; boundary=z\r\n\r\n" + b"--z\r\n" * 20_000,
    "body_9mb": samples.human_reply(ORIGINAL, LEAD, OURS, ("x" * 76 + "\n") * 120_000),
}


def bare(raw: bytes) -> None:
    for _ in message_from_bytes(raw, policy=compat32).walk():
        pass


def timed(fn: Callable[[bytes], object], messages: list[bytes], runs: int) -> float:
    """Seconds per message, the median of `runs` passes over `messages`."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        for raw in messages:
            fn(raw)
        times.append((time.perf_counter() - started) / len(messages))
    return statistics.median(times)


def line(metric: str, value: float, baseline: float, unit: str) -> None:
    ratio = round(value / baseline, 3) if baseline else None
    print(
        json.dumps(
            {
                "bench": "classify",
                "metric": metric,
                "value": round(value, 3),
                "baseline": round(baseline, 3),
                "ratio": ratio,
                "unit": unit,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    mix = MIX * 50
    ours, base = timed(classify, mix, runs), timed(bare, mix, runs)
    line("samples_messages_per_s", 1 / ours, 1 / base, "messages/s")
    for name, raw in HOSTILE.items():
        ours, base = timed(classify, [raw], runs), timed(bare, [raw], runs)
        line(f"{name}_ms", ours * 1000, base * 1000, "ms")


if __name__ == "__main__":
    main()
