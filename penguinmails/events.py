"""The events stream (DESIGN "Events"): what producers append and how appends are batched.

Every fact that reaches the numbers (a send, a tracking hit, a bounce, a reply, an
unsubscribe) is one entry of the Redis stream `EVENTS_STREAM`, its fields flat strings. The
`id` field is the event's id, set by the producer, and the consumer writes each id once:
appending the same event twice (a retried send, a pipeline resent after a dropped
connection) never counts twice.

`EventAppender` is the batching used on the request path (tracking hits, unsubscribes):
appends queue up while one pipeline is on the wire and go out together in the next one
(group commit), and each caller's `append` returns once Redis has acknowledged its entry. So
an answered hit is stored in Redis, and the delay a hit waits is bounded by one round trip
of the pipeline before it plus its own (no fixed timer). A dropped connection is retried
for `retry_seconds` (a restarting Redis), then the append raises.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

# Event types on the stream.
SENT = "sent"
BOUNCED = "bounced"
OPEN = "open"
CLICK = "click"
REPLY = "reply"
COMPLAINT = "complaint"
UNSUBSCRIBE = "unsubscribe"
EVENT_TYPES = (SENT, BOUNCED, OPEN, CLICK, REPLY, COMPLAINT, UNSUBSCRIBE)

Fields = dict[str, str]


class EventAppender:
    """Batched XADDs to one stream (see the module's docstring)."""

    def __init__(
        self,
        redis: Redis,
        stream: str,
        max_batch: int = 1000,
        retry_seconds: float = 5.0,
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.max_batch = max_batch
        self.retry_seconds = retry_seconds
        encoded = stream.encode()
        self._stream_part = b"$%d\r\n%b\r\n" % (len(encoded), encoded)
        self._pending: list[tuple[Fields, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def append(self, fields: Fields) -> None:
        """Returns once Redis holds the entry; raises when it could not be stored."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((fields, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        self._wake.set()
        await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                try:
                    await self._flush([fields for fields, _ in batch])
                except Exception as exc:  # every waiter hears it; the loop goes on
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)

    async def _flush(self, batch: list[Fields]) -> None:
        # One EVAL appends the whole batch (one command, one reply, atomic) and is packed
        # here: redis-py's per-argument packing and per-reply reading cost more than
        # everything else a tracking hit does.
        packed = _eval_batch(self._stream_part, batch)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_seconds
        delay = 0.05
        while True:
            pool = self.redis.connection_pool
            conn = await pool.get_connection()  # type: ignore[no-untyped-call]
            try:
                await conn.send_packed_command(packed, check_health=False)
                added = await conn.read_response()
                await pool.release(conn)
                if added != len(batch):
                    raise RuntimeError(f"appended {added!r} of {len(batch)} events")
                return
            except (RedisConnectionError, RedisTimeoutError, OSError):
                await conn.disconnect()
                await pool.release(conn)
                # A batch whose reply was lost may be stored already: resending it is
                # safe (the consumer writes each event id once).
                if loop.time() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
            except BaseException:
                await conn.disconnect()  # a reply may be left unread on it
                await pool.release(conn)
                raise


# ARGV: for each entry, its number of field pairs and then the pairs.
_APPEND_BATCH = b"""local i, n = 1, 0
while i <= #ARGV do
  local c = tonumber(ARGV[i])
  redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 1, i + 2 * c))
  i = i + 1 + 2 * c
  n = n + 1
end
return n"""


def _bulk(part: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(part), part)


def _eval_batch(stream_part: bytes, batch: list[Fields]) -> bytes:
    """`EVAL script 1 stream count k v ... count k v ...` in the Redis protocol (RESP);
    empty fields are left out (a reader sees an absent field as empty)."""
    chunks: list[bytes] = []
    argc = 4
    for fields in batch:
        items = [(k.encode(), v.encode()) for k, v in fields.items() if v]
        chunks.append(_bulk(b"%d" % len(items)))
        for name, value in items:
            chunks.append(b"$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(name), name, len(value), value))
        argc += 1 + 2 * len(items)
    head = b"*%d\r\n$4\r\nEVAL\r\n%b$1\r\n1\r\n%b" % (argc, _bulk(_APPEND_BATCH), stream_part)
    return head + b"".join(chunks)


def field(entry: dict[Any, Any], name: str) -> str:
    """A field of a stream entry read with `decode_responses=False`, as text ('' if absent)."""
    value = entry.get(name.encode(), entry.get(name, b""))
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


__all__ = [
    "BOUNCED",
    "CLICK",
    "COMPLAINT",
    "EVENT_TYPES",
    "OPEN",
    "REPLY",
    "SENT",
    "UNSUBSCRIBE",
    "EventAppender",
    "Fields",
    "field",
]
