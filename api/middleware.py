"""Pure ASGI middleware: request id, unexpected errors, body size limit, per-IP rate limit."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import STATUS_CODES, envelope, log_unhandled
from penguinmails.logging import request_id_var

log = logging.getLogger("penguinmails.api")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# The codec endpoint may carry a staff key in its path (for the Temporal UI): never log it.
_REDACT = re.compile(r"^(/staff/codec/)(?!decode$|encode$)[^/]+")
# The signed public links (unsubscribe, tracking) are capabilities: keep them out of logs too.
_REDACT_TOKEN = re.compile(r"^(/u/|/t/[oc]/)[^/]+")
EXEMPT_PATHS = ("/healthz", "/readyz")
# The client address whose per-IP hit is left to the API-key dependency (request state).
IP_PENDING = "ip_limit_pending"


def _has_bearer(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return value[:7].lower() == b"bearer "
    return False


async def _send_error(
    send: Send, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    """The API's error envelope (api/errors.py), sent from below the framework."""
    response = envelope(status, STATUS_CODES[status], message, headers=headers)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


class RequestIdMiddleware:
    """Takes a well-formed `X-Request-ID` or makes one; every log line of the request has it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)

        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = _REDACT_TOKEN.sub(r"\1<redacted>", _REDACT.sub(r"\1<redacted>", scope["path"]))
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s %s %.1fms", scope["method"], path, status, elapsed)
            request_id_var.reset(token)


class UnhandledErrorMiddleware:
    """An exception out of the app: logged once (parameters hidden) and answered with the
    500 envelope, then swallowed. Starlette's outermost layer would answer too but raise it
    again for the server to log, which wrote every traceback twice."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception as exc:
            log_unhandled(exc)
            if not started:  # else the server closes the half-sent response
                await _send_error(send, 500, "internal server error")


class BodySizeLimitMiddleware:
    """413 for a declared Content-Length over the limit, and for a streamed body that
    grows past it (chunked uploads declare nothing)."""

    # File uploads (lead CSVs, do-not-contact lists) stream to the content store: their own
    # limit (`upload_max_bytes`) instead of the JSON one.
    UPLOAD_PATHS = re.compile(r"^/v1/(lead-lists/[^/]+/imports|suppressions/imports)$")

    def __init__(self, app: ASGIApp, max_bytes: int, upload_max_bytes: int | None = None) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["method"] == "POST" and self.UPLOAD_PATHS.match(scope["path"])
        await self._limited(
            scope, receive, send, self.upload_max_bytes if upload else self.default_max_bytes
        )

    async def _limited(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        too_large = f"body exceeds {max_bytes} bytes"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > max_bytes
            except ValueError:
                await _send_error(send, 400, "invalid Content-Length")
                return
            if too_big:
                await _send_error(send, 413, too_large)
                return

        seen = 0
        started = False
        rejected = False

        async def limited_receive() -> Message:
            # Frameworks turn any error raised while reading the body into their own 400, so
            # an overflow answers 413 right here and tells the app the client went away.
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    rejected = True
                    if not started:
                        await _send_error(send, 413, too_large)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 is already on the wire
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:
                raise


class IpRateLimitMiddleware:
    """Per-client-IP limit for every request, before authentication spends any work."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        app: Any = scope["app"]
        services = getattr(app.state, "services", None)
        if services is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        limit = services.settings.rate_limit_per_ip_per_minute
        if _has_bearer(scope):
            # The API-key dependency counts the address and the key in one Redis round trip
            # (api/deps.py). A request that never reaches it (a route without a key, a
            # malformed one) is counted here once it answers.
            state = scope.setdefault("state", {})
            state[IP_PENDING] = ip

            async def send_counted(message: Message) -> None:
                if message["type"] == "http.response.start" and state.pop(IP_PENDING, None):
                    await services.limiter.hit("ip", ip, limit)
                await send(message)

            await self.app(scope, receive, send_counted)
            return
        decision = await services.limiter.hit("ip", ip, limit)
        if not decision.allowed:
            await _send_error(
                send,
                429,
                "too many requests from this address",
                {"Retry-After": str(decision.retry_after)},
            )
            return
        await self.app(scope, receive, send)
