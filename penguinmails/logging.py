"""Logging with the request id on every line (API requests set it; workers leave '-')."""

from __future__ import annotations

import logging
import threading
import time
from contextvars import ContextVar
from typing import TextIO

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


class BatchingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes its lines in batches: every `interval` seconds, when
    `max_lines` wait, and at once for a warning or worse. The API logs a line per request,
    and one write (one system call) per line cost it more than the rest of the line;
    what is lost on a crash is at most `interval` of info lines, never a warning."""

    def __init__(
        self, stream: TextIO | None = None, interval: float = 0.5, max_lines: int = 256
    ) -> None:
        super().__init__(stream)
        self.interval = interval
        self.max_lines = max_lines
        self._lines: list[str] = []
        self._flusher = threading.Thread(target=self._run, name="log-flush", daemon=True)
        self._flusher.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING or len(self._lines) >= self.max_lines:
                self._write()
        except Exception:
            self.handleError(record)

    def _write(self) -> None:
        """Called with the handler's lock held."""
        if self._lines:
            text = "".join(self._lines)
            self._lines.clear()
            self.stream.write(text)
            self.stream.flush()

    def flush(self) -> None:
        self.acquire()
        try:
            self._write()
        finally:
            self.release()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            self.flush()


def configure_logging(level: str = "INFO") -> None:
    # FORMAT names no source line, thread or process: skip gathering them for every record
    # (the logging HOWTO's "Optimization"; the caller's frame walk was most of a record's
    # cost on the API's one line per request).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = BatchingHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # uvicorn's own lines go through the same handler so they carry the id too. Its access
    # log stays as uvicorn set it (off: the API logs each request itself, key redacted).
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
