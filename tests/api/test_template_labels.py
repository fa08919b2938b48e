"""Template folders and tags as resources: CRUD, cursor pages, 409 on a duplicate name,
404 for another tenant's ids, members read and cannot write, templates listed by folder
and tag, a deleted folder or tag unlinks its templates and keeps them."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.api.conftest import Tenant, key_for_member

TEMPLATE = {"name": "T", "subject": "Hi", "body": "<p>Hello</p>"}


@pytest.mark.parametrize("resource", ["template-folders", "tags"])
async def test_crud_pages_and_conflicts(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, resource: str
) -> None:
    url = f"/v1/{resource}"
    ids = []
    for i in range(5):
        r = await api.post(url, json={"name": f"  Label {i} "}, headers=tenant_a.auth)
        assert r.status_code == 201, r.text
        assert r.json()["name"] == f"Label {i}" and r.json()["template_count"] == 0
        ids.append(r.json()["id"])

    # Duplicate name: 409 (another tenant may use the same name).
    r = await api.post(url, json={"name": "Label 1"}, headers=tenant_a.auth)
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    r = await api.post(url, json={"name": "Label 1"}, headers=tenant_b.auth)
    assert r.status_code == 201
    other_tenant_id = r.json()["id"]

    # Cursor pages.
    seen, cursor = [], None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await api.get(url, params=params, headers=tenant_a.auth)
        assert r.status_code == 200
        seen += [i["id"] for i in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    # Rename; renaming onto another's name is a 409; onto its own name is fine.
    r = await api.patch(f"{url}/{ids[0]}", json={"name": "Renamed"}, headers=tenant_a.auth)
    assert r.status_code == 200 and r.json()["name"] == "Renamed"
    r = await api.patch(f"{url}/{ids[0]}", json={"name": "Label 2"}, headers=tenant_a.auth)
    assert r.status_code == 409
    r = await api.patch(f"{url}/{ids[0]}", json={"name": "Renamed"}, headers=tenant_a.auth)
    assert r.status_code == 200
    r = await api.post(url, json={"name": ""}, headers=tenant_a.auth)
    assert r.status_code == 422
    r = await api.post(url, json={"name": "x" * 101}, headers=tenant_a.auth)
    assert r.status_code == 422

    # Another tenant's id answers exactly as a missing one, for every verb.
    for method, body in (("GET", None), ("PATCH", {"name": "Stolen"}), ("DELETE", None)):
        r = await api.request(method, f"{url}/{other_tenant_id}", json=body, headers=tenant_a.auth)
        assert r.status_code == 404, (method, r.text)
        assert r.json()["error"]["code"] == "not_found"
    r = await api.get(f"{url}/{other_tenant_id}", headers=tenant_b.auth)
    assert r.status_code == 200 and r.json()["name"] == "Label 1"

    r = await api.delete(f"{url}/{ids[4]}", headers=tenant_a.auth)
    assert r.status_code == 204
    assert (await api.get(f"{url}/{ids[4]}", headers=tenant_a.auth)).status_code == 404


async def test_templates_by_folder_and_tag(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    folder = (
        await api.post("/v1/template-folders", json={"name": "Outbound"}, headers=tenant_a.auth)
    ).json()
    tag = (
        await api.post(
            "/v1/tags", json={"name": "intro", "description": "First touch"}, headers=tenant_a.auth
        )
    ).json()
    assert tag["description"] == "First touch"
    # Templates join the existing folder and tag by name (no second "Outbound" folder).
    one = (
        await api.post(
            "/v1/templates",
            json={**TEMPLATE, "folders": ["Outbound"], "tags": ["intro"]},
            headers=tenant_a.auth,
        )
    ).json()
    two = (
        await api.post(
            "/v1/templates", json={**TEMPLATE, "folders": ["Outbound"]}, headers=tenant_a.auth
        )
    ).json()
    await api.post("/v1/templates", json=TEMPLATE, headers=tenant_a.auth)
    r = await api.get("/v1/template-folders", headers=tenant_a.auth)
    assert [(f["name"], f["template_count"]) for f in r.json()["items"]] == [("Outbound", 2)]
    r = await api.get(f"/v1/tags/{tag['id']}", headers=tenant_a.auth)
    assert r.json()["template_count"] == 1

    r = await api.get("/v1/templates", params={"folder_id": folder["id"]}, headers=tenant_a.auth)
    assert sorted(t["id"] for t in r.json()["items"]) == sorted([one["id"], two["id"]])
    r = await api.get("/v1/templates", params={"tag_id": tag["id"]}, headers=tenant_a.auth)
    assert [t["id"] for t in r.json()["items"]] == [one["id"]]

    # A renamed folder shows under its new name on the template; a deleted template does
    # not count.
    await api.patch(
        f"/v1/template-folders/{folder['id']}", json={"name": "Cold"}, headers=tenant_a.auth
    )
    r = await api.get(f"/v1/templates/{one['id']}", headers=tenant_a.auth)
    assert r.json()["folders"] == ["Cold"] and r.json()["tags"] == ["intro"]
    await api.delete(f"/v1/templates/{two['id']}", headers=tenant_a.auth)
    r = await api.get(f"/v1/template-folders/{folder['id']}", headers=tenant_a.auth)
    assert r.json()["template_count"] == 1

    # Deleting the folder and the tag unlinks the template and keeps it.
    assert (
        await api.delete(f"/v1/template-folders/{folder['id']}", headers=tenant_a.auth)
    ).status_code == 204
    assert (await api.delete(f"/v1/tags/{tag['id']}", headers=tenant_a.auth)).status_code == 204
    r = await api.get(f"/v1/templates/{one['id']}", headers=tenant_a.auth)
    assert r.status_code == 200 and r.json()["folders"] == [] and r.json()["tags"] == []


async def test_concurrent_folder_creates_keep_names_unique(
    api: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    async def create() -> int:
        r = await api.post("/v1/template-folders", json={"name": "Race"}, headers=tenant_a.auth)
        return r.status_code

    async def template() -> int:
        r = await api.post(
            "/v1/templates", json={**TEMPLATE, "folders": ["Race"]}, headers=tenant_a.auth
        )
        return r.status_code

    codes = await asyncio.gather(*(create() for _ in range(4)), *(template() for _ in range(2)))
    assert sorted(codes[:4]) in ([201, 409, 409, 409], [409, 409, 409, 409])
    assert codes[4:] == [201, 201]
    r = await api.get("/v1/template-folders", headers=tenant_a.auth)
    assert [f["name"] for f in r.json()["items"]] == ["Race"]


async def test_members_read_but_cannot_write(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    invited = await api.post(
        "/v1/users",
        json={"email": "member-labels@example.com", "roles": ["member"]},
        headers=tenant_a.auth,
    )
    assert invited.status_code == 201, invited.text
    h = {"Authorization": f"Bearer {await key_for_member(api, tenant_a, invited.json()['id'])}"}
    for resource in ("template-folders", "tags"):
        created = await api.post(f"/v1/{resource}", json={"name": "Owned"}, headers=tenant_a.auth)
        rid = created.json()["id"]
        assert (await api.get(f"/v1/{resource}", headers=h)).status_code == 200
        assert (await api.get(f"/v1/{resource}/{rid}", headers=h)).status_code == 200
        r = await api.post(f"/v1/{resource}", json={"name": "Nope"}, headers=h)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert (
            await api.patch(f"/v1/{resource}/{rid}", json={"name": "N"}, headers=h)
        ).status_code == 403
        assert (await api.delete(f"/v1/{resource}/{rid}", headers=h)).status_code == 403
    assert (await api.get("/v1/tags")).status_code == 401
