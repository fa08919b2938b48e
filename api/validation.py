"""Text no column can hold, refused with 422 before it reaches a route.

Postgres stores no NUL character: not in `text`, not in `jsonb` (keys included). Nor can a
lone UTF-16 surrogate (JSON can escape one, `"\ud800"`; Python decodes it; no UTF-8 encoder
takes it). Either in a query parameter or anywhere in a JSON body is answered 422 naming the
field, before any validation or query runs, so no route has to think about it. Whatever still
carries a NUL to the database (a multipart field, a file name) is answered 422 by the handler
below instead of 500. Files themselves are not looked at: a CSV with NUL bytes is the
import's to reject, row by row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import envelope

MESSAGE = "must not contain the NUL character (\\u0000) or a lone surrogate (\\ud800-\\udfff)"
_UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
# The SQLSTATEs of a character the database cannot store: 22021 for text, 22P05 for jsonb.
_UNSTORABLE = frozenset({"22021", "22P05"})


def unstorable(text: str) -> bool:
    return _UNSTORABLE_TEXT.search(text) is not None


def _printable(key: str) -> str:
    return _UNSTORABLE_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", key)


def _bad_paths(value: Any, path: tuple[str, ...]) -> Iterator[str]:
    if isinstance(value, str):
        if unstorable(value):
            yield ".".join(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            if unstorable(key):
                yield ".".join((*path, _printable(key)))
            yield from _bad_paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _bad_paths(item, (*path, str(i)))


def bad_fields_of_query(query_string: bytes) -> list[str]:
    # Undecodable bytes become U+FFFD here (and in the framework): only a NUL can remain.
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8")
    return ["query." + _printable(name) for name, value in pairs if unstorable(name + value)]


_ESCAPE = re.compile(rb"\\u(0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def bad_fields_of_json(body: bytes) -> list[str]:
    # Both can only be written as escapes in JSON (a raw NUL or lone surrogate is not valid
    # UTF-8 JSON): the common case costs one scan of the bytes.
    if _ESCAPE.search(body) is None:
        return []
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return []  # not JSON, or nested past parsing: the framework answers it
    return list(_bad_paths(document, ("body",)))


def _is_json(scope: Scope) -> bool:
    content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1").lower()
    media = content_type.split(";", 1)[0].strip()
    # FastAPI reads a body without a Content-Type as JSON too.
    return media in ("", "application/json") or media.endswith("+json")


def _refusal(fields: list[str]) -> JSONResponse:
    details = [{"field": f, "message": MESSAGE, "type": "unstorable_character"} for f in fields]
    return envelope(422, "validation_error", "request validation failed", details)


class UnstorableTextMiddleware:
    """422 for a NUL or a lone surrogate in a query parameter or in any string (or key) of a
    JSON body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fields = bad_fields_of_query(scope.get("query_string", b""))
        if fields:
            await _refusal(fields)(scope, receive, send)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH") or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        # The size limit (outside this middleware) bounds what is buffered here.
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        fields = bad_fields_of_json(body)
        if fields:
            await _refusal(fields)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _sqlstate(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    while seen is not None:
        state = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if state:
            return str(state)
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def install_unstorable_handler(app: FastAPI) -> None:
    """A value the database refuses to store (a NUL that came in some other way): 422."""

    @app.exception_handler(DBAPIError)
    async def _unstorable(_: Request, exc: DBAPIError) -> JSONResponse:
        if _sqlstate(exc) not in _UNSTORABLE:
            raise exc  # the unexpected-error handler answers (and logs) it
        return envelope(
            422, "validation_error", "a value contains a character that cannot be stored (NUL)"
        )
