"""The API's own middleware, as one pure ASGI layer: request id and the request's log line,
CORS, unexpected errors, the body size limit, the per-IP rate limit and unstorable text.

One layer rather than one per concern: each layer costs every request a coroutine frame and
a wrapper around `send`, and these run on every request whatever it is. The order of the
checks is the order the separate layers had (outermost first, as listed above).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import STATUS_CODES, envelope, log_unhandled
from api.validation import bad_fields_of_json, bad_fields_of_query, is_json, refusal
from penguinmails.logging import request_id_var

log = logging.getLogger("penguinmails.api")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# The codec endpoint may carry a staff key in its path (for the Temporal UI): never log it.
_REDACT = re.compile(r"^(/staff/codec/)(?!decode$|encode$)[^/]+")
# The signed public links (unsubscribe, tracking) are capabilities: keep them out of logs too.
_REDACT_TOKEN = re.compile(r"^(/u/|/t/[oc]/)[^/]+")
EXEMPT_PATHS = ("/healthz", "/readyz")
# Public signed links answered for mailbox providers' proxies and scanners, which share
# addresses: no per-IP limit (the tracking paths never reach this layer at all).
EXEMPT_PREFIXES = ("/u/",)
# The client address whose per-IP hit is left to the API-key dependency (request state).
IP_PENDING = "ip_limit_pending"
# Paths whose log line hides a part (above); any other path is logged as it is.
_REDACTED_PREFIXES = ("/staff/codec/", "/u/", "/t/")


class _RequestIds:
    """Ids for requests that bring none: 32 hex digits, a random half per process and a
    counter (a uuid4 per request cost a getrandom system call each). Unique across
    processes by the random half, which a fork renews."""

    def __init__(self) -> None:
        self._renew()
        os.register_at_fork(after_in_child=self._renew)

    def _renew(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFFFFFF:016x}"


_request_ids = _RequestIds()


def _log_path(path: str) -> str:
    if not path.startswith(_REDACTED_PREFIXES):
        return path
    return _REDACT_TOKEN.sub(r"\1<redacted>", _REDACT.sub(r"\1<redacted>", path))


def _has_bearer(scope: Scope) -> bool:
    # The first Authorization header, the one the API-key dependency reads.
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


# File uploads (lead CSVs, do-not-contact lists) stream to the content store: their own
# body limit (`upload_max_bytes`) instead of the JSON one.
UPLOAD_PATHS = re.compile(r"^/v1/(lead-lists/[^/]+/imports|suppressions/imports)$")
# Raw MIME from a mail relay: its own limit, and no per-IP limit (one relay posts every
# message; the shared secret authenticates it).
INBOUND_PATH = "/webhooks/inbound"
_BODY_METHODS = ("POST", "PUT", "PATCH")


class ApiMiddleware:
    """Outermost first:

    - request id: a well-formed `X-Request-ID` is taken, else one is made; every log line of
      the request carries it, the response too, and the request ends with one log line;
    - CORS (Starlette's), for a request with an `Origin`; one without gets `Vary: Origin`
      as CORS would answer it;
    - unexpected errors: an exception out of the app is logged once (parameters hidden) and
      answered with the 500 envelope, then swallowed (Starlette's outermost layer would
      answer too but raise it again for the server to log: every traceback twice);
    - body size: 413 for a declared Content-Length over the limit, and for a streamed body
      that grows past it (chunked uploads declare nothing);
    - per-IP rate limit, before authentication spends any work: a request with a bearer key
      leaves its address to the API-key dependency (one Redis round trip for both, see
      api/deps.py), and one that never reaches it is counted once it answers;
    - unstorable text (api/validation.py): 422 for a NUL or a lone surrogate in a query
      parameter or in any string (or key) of a JSON body.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        upload_max_bytes: int | None = None,
        inbound_max_bytes: int | None = None,
        cors_origins: list[str],
    ) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes or max_bytes
        self.inbound_max_bytes = inbound_max_bytes or max_bytes
        self.cors = CORSMiddleware(
            self._guarded,
            allow_origins=cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace", "X-Request-ID"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        cors = False
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if not incoming:
                    incoming = value.decode("latin-1")
            elif name == b"origin":
                cors = True
        request_id = incoming if incoming and _SAFE_ID.match(incoming) else _request_ids.next()
        token = request_id_var.set(request_id)
        id_header = (b"x-request-id", request_id.encode())

        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [id_header] if cors else [id_header, *_vary_origin(message)]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            if cors:
                await self.cors(scope, receive, send_with_id)
            else:
                await self._guarded(scope, receive, send_with_id)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s %s %.1fms", scope["method"], _log_path(scope["path"]), status, elapsed)
            request_id_var.reset(token)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False
        rejected = False  # the body grew past the limit: the 413 is on the wire

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and state.pop(IP_PENDING, None):
                await services.limiter.hit("ip", ip, ip_limit)
            if rejected:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        state: dict[str, Any] = {}
        services: Any = None
        ip = ""
        ip_limit = 0
        try:
            headers = dict(scope["headers"])
            method = scope["method"]
            path = scope["path"]
            upload = method == "POST" and UPLOAD_PATHS.match(path)
            max_bytes = self.upload_max_bytes if upload else self.default_max_bytes
            if method == "POST" and path == INBOUND_PATH:
                max_bytes = self.inbound_max_bytes
            declared = headers.get(b"content-length")
            if declared is not None:
                try:
                    too_big = int(declared) > max_bytes
                except ValueError:
                    started = True
                    await _send_error(send, 400, "invalid Content-Length")
                    return
                if too_big:
                    started = True
                    await _send_error(send, 413, f"body exceeds {max_bytes} bytes")
                    return
            seen = 0

            async def limited_receive() -> Message:
                # Frameworks turn any error raised while reading the body into their own
                # 400, so an overflow answers 413 right here and tells the app the client
                # went away.
                nonlocal seen, rejected, started
                if rejected:
                    return {"type": "http.disconnect"}
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > max_bytes:
                        rejected = True
                        if not started:
                            started = True
                            await _send_error(send, 413, f"body exceeds {max_bytes} bytes")
                        return {"type": "http.disconnect"}
                return message

            services = getattr(scope["app"].state, "services", None)
            if (
                services is not None
                and path not in EXEMPT_PATHS
                and not path.startswith(EXEMPT_PREFIXES)
                and path != INBOUND_PATH
            ):
                client = scope.get("client")
                ip = client[0] if client else "unknown"
                ip_limit = services.settings.rate_limit_per_ip_per_minute
                if _has_bearer(scope):
                    state = scope.setdefault("state", {})
                    state[IP_PENDING] = ip
                else:
                    decision = await services.limiter.hit("ip", ip, ip_limit)
                    if not decision.allowed:
                        started = True
                        await _send_error(
                            send,
                            429,
                            "too many requests from this address",
                            {"Retry-After": str(decision.retry_after)},
                        )
                        return

            fields = bad_fields_of_query(scope.get("query_string", b""))
            if fields:
                await refusal(fields)(scope, limited_receive, guarded_send)
                return
            if method not in _BODY_METHODS or not is_json(headers):
                await self.app(scope, limited_receive, guarded_send)
                return
            # The size limit above bounds what is buffered here.
            chunks: list[bytes] = []
            more = True
            while more:
                message = await limited_receive()
                if message["type"] != "http.request":  # the client went away
                    return
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            body = b"".join(chunks)
            fields = bad_fields_of_json(body)
            if fields:
                await refusal(fields)(scope, limited_receive, guarded_send)
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await limited_receive()

            await self.app(scope, replay, guarded_send)
        except Exception as exc:
            if rejected:
                return
            log_unhandled(exc)
            if not started:  # else the server closes the half-sent response
                started = True
                await _send_error(send, 500, "internal server error")


def _vary_origin(message: Message) -> list[tuple[bytes, bytes]]:
    """What CORS adds to a response to a request without an `Origin`: `Vary` with `Origin`
    appended (the response's own `Vary` values folded into that one header)."""
    own = [v for k, v in message.get("headers", ()) if k.lower() == b"vary"]
    if own:
        message["headers"] = [(k, v) for k, v in message["headers"] if k.lower() != b"vary"]
    return [(b"vary", b", ".join([*own, b"Origin"]))]
