"""A NUL or a lone surrogate, which no column can hold, is refused with 422 naming the field."""

from __future__ import annotations

import json

import httpx

from tests.api.conftest import Tenant


def _fields(r: httpx.Response) -> list[str]:
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    return [d["field"] for d in r.json()["error"]["details"]]


async def _post_raw(api: httpx.AsyncClient, t: Tenant, path: str, raw: str) -> httpx.Response:
    # Sent as escapes, the way a JSON client writes them.
    headers = {**t.auth, "Content-Type": "application/json"}
    return await api.post(path, content=raw.encode(), headers=headers)


async def test_nul_in_a_query_parameter(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    r = await api.get("/v1/leads", params={"email_prefix": "a\x00"}, headers=tenant_a.auth)
    assert _fields(r) == ["query.email_prefix"]
    r = await api.get("/v1/leads?email_prefix=ok", headers=tenant_a.auth)
    assert r.status_code == 200, r.text


async def test_nul_anywhere_in_a_json_body(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    r = await _post_raw(api, tenant_a, "/v1/companies", '{"name": "Acme\\u0000", "size": "1"}')
    assert _fields(r) == ["body.name"]
    body = '{"name": "T", "subject": "S", "body": "B", "tags": ["ok", "b\\u0000d"]}'
    assert _fields(await _post_raw(api, tenant_a, "/v1/templates", body)) == ["body.tags.1"]
    # Checked before validation: an unknown key is named too, its NUL shown escaped.
    r = await _post_raw(api, tenant_a, "/v1/companies", '{"name": "A", "x\\u0000": 1}')
    assert _fields(r) == ["body.x\\u0000"]


async def test_lone_surrogate_refused_pair_kept(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    r = await _post_raw(api, tenant_a, "/v1/companies", '{"name": "a\\ud800b"}')
    assert _fields(r) == ["body.name"]
    r = await _post_raw(api, tenant_a, "/v1/companies", '{"name": "a\\ud83d\\ude00b"}')
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "a\U0001f600b"


async def test_an_escaped_backslash_is_not_a_nul(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    r = await _post_raw(api, tenant_a, "/v1/companies", json.dumps({"name": "C:\\u0000"}))
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "C:\\u0000"


async def test_nul_reaching_the_database_another_way(
    api: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    """A multipart file name is not JSON: the database refuses the NUL, the API answers 422."""
    r = await api.post("/v1/lead-lists", json={"name": "L"}, headers=tenant_a.auth)
    list_id = r.json()["id"]
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="le\x00ads.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\nemail\na@example.com\n\r\n--b--\r\n"
    )
    r = await api.post(
        f"/v1/lead-lists/{list_id}/imports",
        content=body,
        headers={**tenant_a.auth, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"] == (
        "a value contains a character that cannot be stored (NUL)"
    )
