"""The OpenAPI document declares every status an operation can answer, and the bearer key.

FastAPI documents a route's success response and its validation errors (in its own shape, not
ours). Clients generated from the document need the rest: which errors an operation can answer,
in the envelope of api/errors.py, and which operations take the key. Both are derived here from
each route's metadata (its dependencies, parameters, body and response class), so a new route is
documented without anyone listing it:

- 401: the route depends on the principal (api/deps.py `get_principal`);
- 403: the route depends on the principal (a suspended tenant's key answers `tenant_suspended`;
  besides, a role dependency, `require_roles` or `require_staff`, refuses a role, and a
  member is refused any write the route does not open to members);
- 404: the path has parameters;
- 400: the route pages with a cursor, or takes a body (an unreadable `Content-Length`);
- 413: the route takes a body;
- 422: the route takes any input (path, query, header, body);
- 429: every path the per-IP limiter sees (all but the probes), and the per-key limit;
- 503: the route uses the services (Postgres, Redis, Temporal, Vault), which may be down.

What metadata cannot say, a route says itself with FastAPI's `responses=` (for instance
`responses={409: {"description": "the name is taken"}}`: an error status declared without a
body gets the envelope), or, until it does, `DECLARED` below says for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from api.deps import get_principal, get_services, get_tenant_session, require_roles
from api.errors import STATUS_CODES
from api.middleware import EXEMPT_PATHS

SERVICE_USERS = {get_services, get_principal, get_tenant_session}

ERROR_SCHEMA = "ErrorEnvelope"
BEARER = "bearer"

DESCRIPTIONS = {
    400: "Malformed request (an invalid cursor, an unreadable body)",
    401: "Missing or invalid API key",
    402: "Over the plan's limit (`plan_limit`: `details` names the limit, allowed and used)",
    403: "The key's roles do not allow this action, or its tenant is suspended "
    "(`tenant_suspended`)",
    404: "Not found (or another tenant's)",
    409: "Conflicts with the current state",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Validation failed; `details` lists each field",
    429: "Rate limited; retry after `Retry-After` seconds",
    503: "A service the operation needs is unavailable; retry later",
}

_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "title": ERROR_SCHEMA,
    "description": "Every error answer of the API.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable and machine-readable: "
                    + ", ".join(
                        f"`{c}`" for c in sorted({*STATUS_CODES.values(), "internal_error"})
                    )
                    + ", or a route's own (e.g. `email_taken`)",
                },
                "message": {"type": "string"},
                "details": {
                    "description": "Status-specific: for 422 a list of "
                    "`{field, message, type}`, else an object or null"
                },
            },
        }
    },
}


def _csv_upload(**fields: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the CSV"},
                        **fields,
                    },
                }
            }
        },
    }
    return body


_PAYLOADS_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "payloads": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "metadata": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                                "data": {"type": "string"},
                            },
                        },
                    }
                },
            }
        }
    },
}


_READINESS: dict[str, Any] = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "not_ready"]},
        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


@dataclass(frozen=True)
class Declared:
    """What a route's metadata cannot say about it: extra error statuses, a request body it
    reads itself, a success body that is not JSON, whether it takes the key without depending
    on the principal."""

    statuses: tuple[int, ...] = ()
    request_body: dict[str, Any] | None = None
    success_media: str | None = None
    bearer: bool = False
    responses: dict[int, dict[str, Any]] = field(default_factory=dict)


# Keyed by (METHOD, path). Move an entry's statuses to the route's `responses=` when the route
# is next edited; the request bodies stay here (the routes read the stream themselves).
DECLARED: dict[tuple[str, str], Declared] = {
    ("POST", "/v1/tenants"): Declared(statuses=(409,)),
    # 404 for an id in the body (the key's user, the domain's company).
    ("POST", "/v1/api-keys"): Declared(statuses=(404,)),
    ("POST", "/v1/users"): Declared(statuses=(409,)),
    ("PATCH", "/v1/users/{user_id}"): Declared(statuses=(409,)),
    ("DELETE", "/v1/users/{user_id}"): Declared(statuses=(409,)),
    ("POST", "/v1/domains"): Declared(statuses=(404, 409)),
    ("POST", "/v1/email-accounts"): Declared(statuses=(409,)),
    ("POST", "/v1/tags"): Declared(statuses=(409,)),
    ("PATCH", "/v1/tags/{tag_id}"): Declared(statuses=(409,)),
    ("POST", "/v1/template-folders"): Declared(statuses=(409,)),
    ("PATCH", "/v1/template-folders/{folder_id}"): Declared(statuses=(409,)),
    ("DELETE", "/v1/suppressions/{suppression_id}"): Declared(statuses=(409,)),
    ("POST", "/v1/lead-lists/{list_id}/imports"): Declared(
        statuses=(400, 413),
        request_body=_csv_upload(
            mapping={
                "type": "string",
                "description": "JSON object: CSV header -> lead field, or null to drop a column",
            },
            on_duplicate={"type": "string", "enum": ["skip", "update"], "default": "skip"},
            check_mx={"type": "string", "enum": ["true", "false", "1", "0"]},
        ),
    ),
    ("POST", "/v1/suppressions/imports"): Declared(
        statuses=(400, 413),
        request_body=_csv_upload(
            reason={
                "type": "string",
                "enum": ["unsubscribed", "bounced", "complained", "manual"],
                "default": "manual",
            }
        ),
    ),
    ("GET", "/v1/lead-lists/{list_id}/export.csv"): Declared(success_media="text/csv"),
    ("GET", "/v1/imports/{import_id}/rejected.csv"): Declared(success_media="text/csv"),
    ("GET", "/v1/campaigns/{campaign_id}/stats.csv"): Declared(success_media="text/csv"),
    ("GET", "/v1/analytics/timeseries.csv"): Declared(statuses=(422,), success_media="text/csv"),
    # Staff only; the key is checked in the handler (it may also come in the path).
    ("POST", "/staff/codec/decode"): Declared(
        statuses=(400, 401, 403, 413, 422), bearer=True, request_body=_PAYLOADS_BODY
    ),
    ("POST", "/staff/codec/encode"): Declared(
        statuses=(400, 401, 403, 413, 422), bearer=True, request_body=_PAYLOADS_BODY
    ),
    ("GET", "/v1/tenants/me"): Declared(statuses=(404,)),
    # The relay's shared secret (401), the secret store (503), the raw message it reads itself.
    ("POST", "/webhooks/inbound"): Declared(
        statuses=(401, 413, 422, 503),
        request_body={
            "required": True,
            "content": {
                # Any content type is read as the raw message (message/rfc822 is usual);
                # octet-stream here so generated clients can send bytes.
                "application/octet-stream": {
                    "schema": {"type": "string", "format": "binary"},
                },
            },
        },
    ),  # the tenant was just deleted
    # The probe answers its own body, not the envelope.
    ("GET", "/readyz"): Declared(
        responses={
            code: {
                "description": description,
                "content": {"application/json": {"schema": _READINESS}},
            }
            for code, description in ((200, "Ready"), (503, "A service is unavailable"))
        }
    ),
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _calls(dep)


# Every role dependency is a closure made by `require_roles`: they share its code object.
_ROLE_CHECK_CODE = getattr(require_roles("owner").dependency, "__code__", None)  # type: ignore[attr-defined]


def _is_role_check(call: Callable[..., Any]) -> bool:
    # A `require_roles` closure, or another check that says which roles it admits (the
    # staff permission checks of `require_staff`).
    return getattr(call, "__code__", None) is _ROLE_CHECK_CODE or hasattr(call, "roles")


def _takes_cursor(dependant: Dependant) -> bool:
    return any(p.name == "cursor" for p in dependant.query_params) or any(
        _takes_cursor(d) for d in dependant.dependencies
    )


def statuses_of(route: Any, has_body: bool) -> set[int]:
    """The error statuses a route can answer, from its metadata alone."""
    calls = list(_calls(route.dependant))
    d = route.dependant
    has_input = bool(d.path_params or d.query_params or d.header_params or has_body)
    out: set[int] = set()
    if get_principal in calls or get_tenant_session in calls:  # the session authenticates
        out |= {401, 403, 429}  # 403: a suspended tenant's key, whatever the route
    if any(_is_role_check(c) for c in calls):
        out.add(403)
    if d.path_params:
        out.add(404)
    if _takes_cursor(d) or has_body:  # an invalid cursor: 400 (api/pagination.py)
        out.add(400)
    if has_body:
        out.add(413)
    if has_input:
        out.add(422)
    if route.path_format not in EXEMPT_PATHS:
        out.add(429)
    # The key's lookup and the tenant transaction reach Postgres even without the services
    # dependency itself (they read the services from the app's state).
    if SERVICE_USERS.intersection(calls) and route.path_format not in EXEMPT_PATHS:
        out.add(503)
    return out


def _error_response(status: int, html: bool, description: str | None = None) -> dict[str, Any]:
    content: dict[str, Any]
    if html:
        content = {"text/html": {"schema": {"type": "string"}}}
    else:
        content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}}
    return {"description": description or DESCRIPTIONS.get(status, "Error"), "content": content}


def _document_operation(route: Any, method: str, operation: dict[str, Any]) -> None:
    declared = DECLARED.get((method, route.path_format), Declared())
    if declared.request_body is not None:
        operation["requestBody"] = declared.request_body
    has_body = "requestBody" in operation
    responses: dict[str, Any] = operation.setdefault("responses", {})
    response_class = getattr(route.response_class, "value", route.response_class)  # a Default()
    html = isinstance(response_class, type) and issubclass(response_class, HTMLResponse)

    statuses = statuses_of(route, has_body) | set(declared.statuses)
    # Statuses the route declares itself (`responses=`), error ones without a body included.
    statuses |= {int(code) for code in responses if code.isdigit() and int(code) >= 400}
    for status in sorted(statuses):
        existing = responses.get(str(status), {})
        if status == 422 or "content" not in existing:
            # FastAPI's own 422 body is not what the API answers: the envelope replaces it.
            # A page route answers its own errors as pages; validation (422) and the
            # limiter (429) answer below it, with the envelope.
            page = html and status not in (422, 429)
            description = existing.get("description") if status != 422 else None
            responses[str(status)] = _error_response(status, page, description)
    for status, response in declared.responses.items():
        responses[str(status)] = response
    operation["responses"] = dict(sorted(responses.items()))

    if declared.success_media:
        for code, success in responses.items():
            if code.startswith("2"):
                success["content"] = {declared.success_media: {"schema": {"type": "string"}}}

    if declared.bearer or 401 in statuses:
        operation["security"] = [{BEARER: []}]


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """Every API route with its effective path (included routers resolved)."""
    contexts = getattr(routing, "iter_route_contexts", None)
    if contexts is None:  # FastAPI before included routers were kept as such
        yield from (r for r in app.routes if isinstance(r, APIRoute))
        return
    for context in contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def build_openapi(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers,
    )
    paths: dict[str, Any] = document.get("paths", {})
    for route in _api_routes(app):
        if not route.include_in_schema:
            continue
        operations = paths.get(route.path_format, {})
        for method in route.methods:
            operation = operations.get(method.lower())
            if operation is not None:
                _document_operation(route, method, operation)

    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = _ENVELOPE
    # FastAPI's validation-error schemas describe bodies the API never sends.
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer pm_...`",
        }
    }
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the document built above (once, on first request of /openapi.json)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
