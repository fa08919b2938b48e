import httpx

from tests.api.conftest import Tenant, key_for_member


async def test_company_crud(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    h = tenant_a.auth
    created = await api.post(
        "/v1/companies", json={"name": "Sales EU", "domain": "eu.example.com"}, headers=h
    )
    assert created.status_code == 201, created.text
    company = created.json()
    assert company["status"] == "active" and company["is_default"] is False

    got = await api.get(f"/v1/companies/{company['id']}", headers=h)
    assert got.json()["name"] == "Sales EU"

    patched = await api.patch(
        f"/v1/companies/{company['id']}", json={"status": "archived", "industry": "SaaS"}, headers=h
    )
    assert patched.status_code == 200
    assert patched.json()["status"] == "archived" and patched.json()["industry"] == "SaaS"
    assert patched.json()["domain"] == "eu.example.com"  # untouched fields stay

    deleted = await api.delete(f"/v1/companies/{company['id']}", headers=h)
    assert deleted.status_code == 204
    assert (await api.get(f"/v1/companies/{company['id']}", headers=h)).status_code == 404


async def test_list_is_cursor_paginated(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    h = tenant_a.auth
    names = {f"Workspace {i}" for i in range(7)}
    for name in sorted(names):
        assert (await api.post("/v1/companies", json={"name": name}, headers=h)).status_code == 201
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = (await api.get("/v1/companies", params=params, headers=h)).json()
        seen += [c["name"] for c in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # 7 created + the default workspace (if provisioning already ran), no repeats.
    assert names <= set(seen)
    assert len(seen) == len(set(seen))
    assert pages == -(-len(seen) // 3)


async def test_bad_cursor_and_limit(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    h = tenant_a.auth
    r = await api.get("/v1/companies", params={"cursor": "%%%"}, headers=h)
    assert r.status_code == 400
    r = await api.get("/v1/companies", params={"limit": 0}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "query.limit"


async def test_other_tenants_company_is_404_like_a_missing_one(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    theirs = await api.post("/v1/companies", json={"name": "Secret"}, headers=tenant_b.auth)
    cid = theirs.json()["id"]
    missing = "00000000-0000-4000-8000-000000000000"
    for path in (f"/v1/companies/{cid}", f"/v1/companies/{missing}"):
        r = await api.get(path, headers=tenant_a.auth)
        assert r.status_code == 404
        assert r.json() == {
            "error": {"code": "not_found", "message": "company not found", "details": None}
        }
        assert (await api.patch(path, json={"name": "x"}, headers=tenant_a.auth)).status_code == 404
        assert (await api.delete(path, headers=tenant_a.auth)).status_code == 404
    listed = (await api.get("/v1/companies", headers=tenant_a.auth)).json()["items"]
    assert cid not in {c["id"] for c in listed}
    # B's company is untouched.
    assert (await api.get(f"/v1/companies/{cid}", headers=tenant_b.auth)).json()["name"] == "Secret"


async def test_members_read_but_cannot_write(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    invited = await api.post(
        "/v1/users",
        json={"email": "member-co@example.com", "roles": ["member"]},
        headers=tenant_a.auth,
    )
    assert invited.status_code == 201
    member_key = await key_for_member(api, tenant_a, invited.json()["id"])
    h = {"Authorization": f"Bearer {member_key}"}
    assert (await api.get("/v1/companies", headers=h)).status_code == 200
    r = await api.post("/v1/companies", json={"name": "Nope"}, headers=h)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
