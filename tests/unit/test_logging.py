"""The log handler's batches: info lines wait (at most `interval`) and leave in one write; a
warning leaves at once with everything before it, in order."""

from __future__ import annotations

import io
import logging
import time

from penguinmails.logging import BatchingHandler


class Stream(io.StringIO):
    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"test.batching.{id(handler)}")
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    return logger


def test_info_lines_leave_together_and_a_warning_at_once() -> None:
    stream = Stream()
    handler = BatchingHandler(stream, interval=60)  # the timer stays out of this test
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = _logger(handler)
    for n in range(5):
        log.info("request %d", n)
    assert stream.writes == 0 and stream.getvalue() == ""
    log.warning("something odd")
    assert stream.writes == 1
    assert stream.getvalue().splitlines() == [
        *(f"INFO request {n}" for n in range(5)),
        "WARNING something odd",
    ]


def test_waiting_lines_leave_within_the_interval_and_at_a_full_batch() -> None:
    stream = Stream()
    handler = BatchingHandler(stream, interval=0.05, max_lines=3)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = _logger(handler)
    log.info("one")
    deadline = time.monotonic() + 5
    while "one" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.getvalue() == "one\n"
    full = BatchingHandler(Stream(), interval=60, max_lines=3)
    log = _logger(full)
    for n in range(3):
        log.info("%d", n)
    assert full.stream.writes == 1
