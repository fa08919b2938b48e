"""One error envelope for every failure: `{"error": {"code", "message", "details"}}`.

Nothing leaks a stack trace; an id of another tenant answers exactly as a missing one.
An unexpected error is logged once (`log_unhandled`: its frames and a description that
leaves out SQL parameters and database error details, which hold personal data) by
`ApiMiddleware` (api/middleware.py), and not raised further, so the server logs nothing more.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from penguinmails.billing import PlanLimitExceeded
from penguinmails.db import DatabaseUnavailable

log = logging.getLogger("penguinmails.api")

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    402: "payment_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or STATUS_CODES.get(status, "error")
        self.message = message
        self.details = details
        self.headers = headers


# A creation the plan may refuse (`responses=` of its route): 402 `plan_limit`.
PLAN_LIMIT: dict[int | str, dict[str, Any]] = {
    402: {"description": "Over the plan's limit: `details` names the limit, allowed and used"}
}


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, f"{what} not found")


def envelope(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def describe_error(exc: BaseException) -> str:
    """`Type: message`, except for a database error: its SQL and its driver's error class and
    SQLSTATE, never the parameters or the server's message (`Key (email)=(...)`)."""
    from sqlalchemy.exc import StatementError

    if isinstance(exc, StatementError):
        orig = exc.orig
        state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        cause = type(orig).__name__ + (f" (SQLSTATE {state})" if state else "")
        return f"{type(exc).__name__}: {cause} [SQL: {exc.statement}] [parameters hidden]"
    return f"{type(exc).__name__}: {exc}"


def log_unhandled(exc: BaseException) -> None:
    """One record: the frames of `exc` and of the exceptions it chains, each described by
    `describe_error`; below a database error only by their type (a driver's message quotes
    the values it could not use)."""
    parts: list[str] = []
    seen: set[int] = set()
    hide = False
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__))
        about = type(current).__name__ + " (message hidden)" if hide else describe_error(current)
        parts.append(f"Traceback (most recent call last):\n{frames}{about}")
        hide = hide or _is_database_error(current)
        current = current.__cause__ or current.__context__
    log.error("unhandled error: %s\n%s", describe_error(exc), "\n\nwhile handling:\n".join(parts))


def _is_database_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import StatementError

    return isinstance(exc, StatementError)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return envelope(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [_detail(err) for err in exc.errors()]
        return envelope(422, "validation_error", "request validation failed", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, "error")
        headers = getattr(exc, "headers", None)
        return envelope(exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(PlanLimitExceeded)
    async def _plan_limit(_: Request, exc: PlanLimitExceeded) -> JSONResponse:
        details = {"limit": exc.limit, "allowed": exc.allowed, "used": exc.used}
        return envelope(402, "plan_limit", str(exc), details)

    @app.exception_handler(DatabaseUnavailable)
    async def _database(_: Request, exc: DatabaseUnavailable) -> JSONResponse:
        return envelope(503, "service_unavailable", "the database is unavailable; try again")

    # Only reached by an error of the outermost middleware: ApiMiddleware (api/middleware.py) takes
    # every other one first.
    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log_unhandled(exc)
        return envelope(500, "internal_error", "internal server error")


def _detail(err: Any) -> dict[str, Any]:
    loc = tuple(err.get("loc", ()))
    if err.get("type") == "json_invalid" and len(loc) == 2 and isinstance(loc[1], int):
        # FastAPI puts the character offset in the location, where a field name would be.
        reason = (err.get("ctx") or {}).get("error") or "not JSON"
        return {
            "field": "body",
            "message": f"invalid JSON at character {loc[1]}: {reason}",
            "type": "json_invalid",
        }
    return {
        "field": ".".join(str(p) for p in loc),
        "message": err.get("msg", ""),
        "type": err.get("type", ""),
    }
