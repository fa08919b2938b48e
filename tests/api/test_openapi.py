"""The OpenAPI document declares every error status with the envelope, and the bearer key."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI

from api.app import create_app
from api.deps import AdminDep, PrincipalDep, ServicesDep
from api.openapi import ERROR_SCHEMA, install_openapi
from api.pagination import PageCursor, PageLimit

ENVELOPE_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return create_app().openapi()


def _statuses(doc: dict[str, Any], method: str, path: str) -> set[int]:
    return {int(c) for c in doc["paths"][path][method]["responses"]}


def test_every_error_answer_is_the_envelope(doc: dict[str, Any]) -> None:
    assert doc["components"]["schemas"][ERROR_SCHEMA]["required"] == ["error"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    seen = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for code, response in op["responses"].items():
                if int(code) < 400 or path == "/readyz":
                    continue
                seen += 1
                content = response["content"]
                if path.startswith("/u/") and code in ("404", "503"):
                    assert list(content) == ["text/html"], (method, path, code)
                else:
                    assert content["application/json"]["schema"] == ENVELOPE_REF, (method, path)
    assert seen > 300


def test_statuses_follow_the_routes_dependencies(doc: dict[str, Any]) -> None:
    # Any keyed route may answer 403 (a suspended tenant's key, besides the role checks).
    assert _statuses(doc, "get", "/v1/companies") == {200, 400, 401, 403, 422, 429, 503}
    assert _statuses(doc, "post", "/v1/companies") == {201, 400, 401, 403, 413, 422, 429, 503}
    assert _statuses(doc, "delete", "/v1/companies/{company_id}") == {
        204, 401, 403, 404, 422, 429, 503,
    }  # fmt: skip
    # Public sign-up: no key, so no 401; still rate limited per address; 409 declared.
    assert _statuses(doc, "post", "/v1/tenants") == {201, 400, 409, 413, 422, 429, 503}
    assert "security" not in doc["paths"]["/v1/tenants"]["post"]
    # The probes are not rate limited.
    assert _statuses(doc, "get", "/healthz") == {200}
    assert _statuses(doc, "get", "/readyz") == {200, 503}


def test_bearer_key_declared_where_it_is_taken(doc: dict[str, Any]) -> None:
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `Authorization: Bearer pm_...`",
    }
    secured = {
        (m, p) for p, ops in doc["paths"].items() for m, op in ops.items() if "security" in op
    }
    assert ("get", "/v1/leads") in secured and ("post", "/staff/codec/decode") in secured
    assert ("get", "/u/{token}") not in secured and ("post", "/v1/tenants") not in secured
    for method, path in secured:
        assert 401 in _statuses(doc, method, path), (method, path)


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/v1/lead-lists/{list_id}/imports", {"file", "mapping", "on_duplicate", "check_mx"}),
        ("/v1/suppressions/imports", {"file", "reason"}),
    ],
)
def test_uploads_declare_their_multipart_body(
    doc: dict[str, Any], path: str, fields: set[str]
) -> None:
    body = doc["paths"][path]["post"]["requestBody"]
    schema = body["content"]["multipart/form-data"]["schema"]
    assert body["required"] is True and schema["required"] == ["file"]
    assert set(schema["properties"]) == fields
    assert schema["properties"]["file"] == {
        "type": "string",
        "format": "binary",
        "description": "the CSV",
    }


def test_a_new_route_is_documented_from_its_metadata() -> None:
    router = APIRouter()

    @router.get("/things")
    async def list_things(
        principal: PrincipalDep, limit: PageLimit = 50, cursor: PageCursor = None
    ) -> dict[str, str]:
        return {}

    @router.post("/things/{thing_id}/rename", responses={409: {"description": "name taken"}})
    async def rename(thing_id: str, body: dict[str, str], principal: AdminDep) -> dict[str, str]:
        return {}

    @router.get("/open")
    async def open_route(services: ServicesDep) -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router)
    install_openapi(app)
    doc = app.openapi()
    assert _statuses(doc, "get", "/things") == {200, 400, 401, 403, 422, 429, 503}
    assert _statuses(doc, "post", "/things/{thing_id}/rename") == {
        200, 400, 401, 403, 404, 409, 413, 422, 429, 503,
    }  # fmt: skip
    conflict = doc["paths"]["/things/{thing_id}/rename"]["post"]["responses"]["409"]
    assert conflict["description"] == "name taken"
    assert conflict["content"]["application/json"]["schema"] == ENVELOPE_REF
    assert _statuses(doc, "get", "/open") == {200, 429, 503}
    assert "security" not in doc["paths"]["/open"]["get"]


def test_routes_added_flat_are_the_routes_include_router_makes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # api/app.py puts every router's routes into the application's own table (cheaper to
    # match than FastAPI's nested branches): the document and the route table must be
    # exactly what `include_router` would have made.
    import api.app

    flat = create_app()
    monkeypatch.setattr(api.app, "add_routes", lambda app, router: app.include_router(router))
    nested = create_app()
    assert flat.openapi() == nested.openapi()

    def table(app: FastAPI) -> list[tuple[str, str, tuple[str, ...]]]:
        from fastapi.routing import iter_route_contexts
        from starlette.routing import Mount

        out = []
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if isinstance(route, Mount):
                out.append(("mount", route.path, ()))
            else:
                methods = tuple(sorted(getattr(route, "methods", None) or ()))
                out.append((type(route).__name__, route.path, methods))
        return sorted(out)

    assert table(flat) == table(nested)
    assert len(table(flat)) > 150
