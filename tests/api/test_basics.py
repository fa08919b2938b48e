"""Envelope, limits, request ids, health, OpenAPI."""

import logging

import httpx
import pytest

from api.app import create_app
from api.services import Services
from tests.api.conftest import Tenant, client_for, make_services


async def test_malformed_json_is_422_with_the_location(api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/v1/tenants", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert r.json()["error"]["details"][0]["field"].startswith("body")
    body = b'{"name": "Acme", "owner_email": "a@b.example",, }'
    r = await api.post("/v1/tenants", content=body, headers={"content-type": "application/json"})
    (detail,) = r.json()["error"]["details"]
    assert detail["field"] == "body" and detail["type"] == "json_invalid"
    assert detail["message"].startswith(f"invalid JSON at character {body.index(b',,') + 1}: ")
    r = await api.post("/v1/tenants", json={"name": 5, "owner_email": ["x"]})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["error"]["details"]} == {"body.name", "body.owner_email"}


async def test_oversized_body_is_413(services: Services) -> None:
    small = services.settings.model_copy(update={"max_body_bytes": 1000})
    svc = Services(**{**services.__dict__, "settings": small})
    async with client_for(svc) as api:
        r = await api.post(
            "/v1/tenants", content=b"x" * 5000, headers={"content-type": "application/json"}
        )
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"

        async def chunks():  # no Content-Length: counted while streaming
            for _ in range(10):
                yield b"y" * 500

        r = await api.post(
            "/v1/tenants", content=chunks(), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413


async def test_per_ip_rate_limit_answers_429_with_retry_after(services: Services) -> None:
    tight = services.settings.model_copy(update={"rate_limit_per_ip_per_minute": 3})
    svc = Services(**{**services.__dict__, "settings": tight})
    async with client_for(svc) as api:
        codes = [(await api.get("/v1/tenants/me")).status_code for _ in range(5)]
        assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]
        r = await api.get("/v1/tenants/me")
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 61
        assert (await api.get("/healthz")).status_code == 200  # probes are exempt


async def test_per_key_rate_limit(
    services: Services, api: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    tight = services.settings.model_copy(update={"rate_limit_per_key_per_minute": 2})
    svc = Services(**{**services.__dict__, "settings": tight})
    codes = []
    for _ in range(3):  # a fresh address each time: only the key's budget is shared
        async with client_for(svc) as c:
            codes.append((await c.get("/v1/tenants/me", headers=tenant_a.auth)).status_code)
    assert codes == [200, 200, 429]


async def test_unexpected_error_leaks_no_trace(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(services=services)

    async def boom() -> None:
        raise RuntimeError("secret internals at /srv/app.py line 3")

    app.add_api_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("10.255.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/boom", headers={"X-Request-ID": "req-123"})
    assert r.status_code == 500
    assert r.json() == {
        "error": {"code": "internal_error", "message": "internal server error", "details": None}
    }
    assert "secret internals" not in r.text


PRIVATE = "ada@private.example"  # not on a line a traceback shows


async def test_an_unexpected_error_is_logged_once_without_its_parameters(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy import text

    app = create_app(services=services)

    async def database_error() -> None:
        async with services.db.admin_session() as session:
            # The server's message quotes the value: `invalid input syntax ...: "ada@..."`.
            query = text("SELECT CAST(CAST(:who AS text) AS integer)")
            await session.execute(query, {"who": PRIVATE})

    app.add_api_route("/database-error", database_error)
    # The app's exceptions are raised to the client here, as they are to uvicorn, which
    # logs each one it sees: none must get out.
    transport = httpx.ASGITransport(app=app, client=("10.255.0.2", 1))
    with caplog.at_level(logging.INFO):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get("/database-error", headers={"X-Request-ID": "req-500"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert r.headers["x-request-id"] == "req-500"
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1, [rec.getMessage()[:200] for rec in errors]
    message = errors[0].getMessage()
    assert message.count("Traceback") >= 1 and "database_error" in message
    assert "[SQL: SELECT CAST(CAST($1 AS text) AS integer)]" in message
    assert "parameters hidden" in message and "SQLSTATE 22P02" in message
    assert PRIVATE not in caplog.text
    assert "GET /database-error 500" in caplog.text  # the request line, once


async def test_request_id_is_echoed_and_logged(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    from penguinmails.logging import RequestIdFilter

    handler_filter = RequestIdFilter()
    caplog.handler.addFilter(handler_filter)
    with caplog.at_level(logging.INFO, logger="penguinmails.api"):
        r = await api.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    lines = [rec for rec in caplog.records if rec.name == "penguinmails.api"]
    assert lines and all(getattr(rec, "request_id", None) == "abc-123" for rec in lines)
    r = await api.get("/healthz", headers={"X-Request-ID": "bad id with spaces\n"})
    assert (
        r.headers["x-request-id"] != "bad id with spaces\n" and len(r.headers["x-request-id"]) == 32
    )


async def test_readyz_checks_every_service(api: httpx.AsyncClient, services: Services) -> None:
    r = await api.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"postgres": "ok", "redis": "ok", "temporal": "ok"}

    broken = services.settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    svc = make_services(broken, services.db, services.temporal, b"k" * 32)
    async with client_for(svc) as c:
        r = await c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["redis"].startswith("unavailable")
    assert r.json()["checks"]["postgres"] == "ok"


async def test_openapi_lists_the_resources(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    for path in (
        "/v1/tenants",
        "/v1/api-keys",
        "/v1/companies",
        "/v1/users",
        "/staff/codec/decode",
    ):
        assert path in spec["paths"]
    assert (await api.get("/docs")).status_code == 200
