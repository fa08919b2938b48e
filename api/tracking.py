"""`/t/o/{token}` (open pixel) and `/t/c/{token}` (click redirect): a raw ASGI handler in
front of FastAPI (DESIGN "Events"; measured, a route behind the framework and its middleware
reached a small fraction of a bare endpoint's rate).

Per hit: the token's length and shape, then its MAC over the raw text in constant time,
before anything in it is decoded (`penguinmails.tokens.verify`) — a garbled, forged,
oversized or nested token costs one HMAC and answers 404; the message it names (cached per
process after the first lookup; a message that does not exist answers 404); one event
appended to the stream through the batching appender (the answer goes out once Redis holds
it); the answer: a 1x1 GIF, or a 302 to the URL sealed in the token and nowhere else.

No per-IP rate limit (mailbox providers' image proxies share addresses) and no log line per
hit. HEAD requests, known proxies and scanners, and hits within seconds of the send are
recorded with `bot` set (`penguinmails.bots`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
import uuid
from collections import OrderedDict
from functools import lru_cache
from typing import Any
from uuid import UUID

from starlette.types import Receive, Scope, Send

from penguinmails import events, tokens
from penguinmails.bots import BotRules, load_rules
from penguinmails.repositories.tracking import TrackedMessage, TrackingRepository
from penguinmails.tokens import InvalidToken, TokenKind

log = logging.getLogger("penguinmails.api")

PREFIXES = {"/t/o/": TokenKind.OPEN, "/t/c/": TokenKind.CLICK}
# The smallest transparent GIF (1x1, one colour, transparent).
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_COMMON = [
    (b"cache-control", b"no-store, no-cache, must-revalidate, private"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-robots-tag", b"noindex, nofollow"),
    (b"x-content-type-options", b"nosniff"),
]
_GIF_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(GIF)).encode()),
    *_COMMON,
]
_NOT_FOUND = b"not found"
_NOT_FOUND_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(_NOT_FOUND)).encode()),
    *_COMMON,
]
_EMPTY_HEADERS = [(b"content-length", b"0"), *_COMMON]
# A message that does not exist is remembered this long (the token is genuine, so only a
# message deleted since, or a preview, lands here).
MISSING_TTL = 60.0


def is_tracking_path(path: str) -> bool:
    return path[:5] in PREFIXES


class MessageCache:
    """Message-ID -> what a hit needs, per process, least recently used out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._found: OrderedDict[tuple[str, str], TrackedMessage] = OrderedDict()
        self._missing: dict[tuple[str, str], float] = {}

    def get(self, key: tuple[str, str]) -> TrackedMessage | bool | None:
        """The message, None when known missing, False when unknown."""
        found = self._found.get(key)
        if found is not None:
            self._found.move_to_end(key)
            return found
        expires = self._missing.get(key)
        if expires is not None:
            if expires > time.monotonic():
                return None
            del self._missing[key]
        return False

    def put(self, key: tuple[str, str], message: TrackedMessage | None) -> None:
        if message is None:
            if len(self._missing) >= self.size:
                self._missing.clear()
            self._missing[key] = time.monotonic() + MISSING_TTL
            return
        self._found[key] = message
        if len(self._found) > self.size:
            self._found.popitem(last=False)


class TrackingHandler:
    """Serves the tracking paths of one API process; `services` is the app's Services."""

    def __init__(self, state: Any) -> None:
        self.state = state  # the app's state: services, once the lifespan has run
        self._key: bytes | None = None
        self._appender: events.EventAppender | None = None
        self._cache: MessageCache | None = None
        self._rules: BotRules | None = None
        self._setup_lock = asyncio.Lock()

    async def _setup(self) -> None:
        services = self.state.services
        settings = services.settings
        key = getattr(self.state, "tracking_key", None)
        if key is None:
            if services.secrets is None:
                raise RuntimeError("no secret store configured")
            key = await tokens.tracking_key(services.secrets, settings)
            self.state.tracking_key = key
        self._rules = load_rules(settings.bot_rules_path)
        self._cache = MessageCache(settings.tracking_cache_size)
        self._appender = events.EventAppender(services.redis, settings.events_stream)
        self._key = key

    async def close(self) -> None:
        if self._appender is not None:
            await self._appender.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await _answer(send, 405, [(b"allow", b"GET, HEAD"), *_EMPTY_HEADERS], b"")
            return
        if self._key is None:
            async with self._setup_lock:
                if self._key is None:
                    await self._setup()
        assert self._key is not None and self._cache is not None
        path: str = scope["path"]
        kind = PREFIXES[path[:5]]
        token = path[5:]
        try:
            claims = tokens.verify(self._key, token, kind)
            UUID(claims.tenant_id)
        except (InvalidToken, ValueError):
            await _not_found(send, method)
            return
        if kind is TokenKind.CLICK and not (claims.url or "").startswith(("https://", "http://")):
            await _not_found(send, method)
            return
        cache_key = (claims.tenant_id, claims.message_id)
        message = self._cache.get(cache_key)
        if message is False:
            async with self.state.services.db.tenant_session(claims.tenant_id) as session:
                message = await TrackingRepository(session).message(claims.message_id)
            self._cache.put(cache_key, message)
        if not isinstance(message, TrackedMessage):
            await _not_found(send, method)
            return
        if not message.is_test:  # a test send's hits count nowhere
            try:
                await self._record(scope, method, kind, claims, message)
            except Exception:
                # Not stored: say so instead of answering as if it were (the client or
                # the image proxy asks again).
                log.exception("tracking: the event could not be stored")
                await _answer(send, 503, [(b"retry-after", b"1"), *_EMPTY_HEADERS], b"")
                return
        if kind is TokenKind.OPEN:
            await _answer(send, 200, _GIF_HEADERS, b"" if method == "HEAD" else GIF)
        else:
            location = (claims.url or "").encode("utf-8")
            await _answer(send, 302, [(b"location", location), *_EMPTY_HEADERS], b"")

    async def _record(
        self,
        scope: Scope,
        method: str,
        kind: TokenKind,
        claims: tokens.TokenClaims,
        message: TrackedMessage,
    ) -> None:
        assert self._appender is not None and self._rules is not None
        user_agent = ""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value.decode("latin-1")[:512]
                break
        client = scope.get("client")
        ip = client[0] if client else ""
        now = dt.datetime.now(dt.UTC)
        reason = self._rules.classify(method, user_agent, ip, message.sent_at, now)
        fields = _base_fields(claims.tenant_id, message)
        fields["id"] = _event_id()
        fields["type"] = events.OPEN if kind is TokenKind.OPEN else events.CLICK
        fields["at"] = now.isoformat()
        fields["ip"] = ip
        fields["ua"] = user_agent
        fields["bot"] = reason or ""
        if kind is TokenKind.CLICK:
            fields["url"] = claims.url or ""
        await self._appender.append(fields)


def _text(value: UUID | None) -> str:
    return str(value) if value is not None else ""


def _event_id() -> str:
    """A random 128-bit id in UUID form (the consumer stores each id once)."""
    return str(uuid.UUID(bytes=os.urandom(16), version=4))


@lru_cache(maxsize=65_536)
def _message_fields(tenant_id: str, message: TrackedMessage) -> tuple[tuple[str, str], ...]:
    # The message's part of every event of its hits, as text once per message.
    return (
        ("tenant", tenant_id),
        ("email", str(message.email_id)),
        ("campaign", _text(message.campaign_id)),
        ("step", _text(message.step_id)),
        ("variant", _text(message.variant_id)),
        ("mailbox", str(message.mailbox_id)),
        ("lead", _text(message.lead_id)),
        ("sent_at", message.sent_at.isoformat() if message.sent_at else ""),
    )


def _base_fields(tenant_id: str, message: TrackedMessage) -> dict[str, str]:
    return dict(_message_fields(tenant_id, message))


async def _not_found(send: Send, method: str) -> None:
    await _answer(send, 404, _NOT_FOUND_HEADERS, b"" if method == "HEAD" else _NOT_FOUND)


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


__all__ = ["GIF", "MessageCache", "TrackingHandler", "is_tracking_path"]
