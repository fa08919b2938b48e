import httpx

from api.services import Services
from tests.api.conftest import Tenant, key_for_member, set_plan


async def _invite(
    api: httpx.AsyncClient, by: Tenant, email: str, roles: list[str]
) -> httpx.Response:
    return await api.post("/v1/users", json={"email": email, "roles": roles}, headers=by.auth)


async def test_owner_invites_lists_and_changes_roles(
    api: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    r = await _invite(api, tenant_a, "ann@example.com", ["admin"])
    assert r.status_code == 201
    ann = r.json()
    assert ann["roles"] == ["admin"]
    listed = (await api.get("/v1/users", headers=tenant_a.auth)).json()["items"]
    assert {u["email"] for u in listed} >= {"ann@example.com"}
    assert any(u["id"] == tenant_a.user_id and u["roles"] == ["owner"] for u in listed)
    again = await _invite(api, tenant_a, "ann@example.com", ["member"])
    assert again.status_code == 409

    r = await api.patch(f"/v1/users/{ann['id']}", json={"roles": ["member"]}, headers=tenant_a.auth)
    assert r.status_code == 200 and r.json()["roles"] == ["member"]
    r = await api.patch(f"/v1/users/{ann['id']}", json={"roles": ["god"]}, headers=tenant_a.auth)
    assert r.status_code == 422


async def test_one_person_in_two_tenants_sees_only_each_tenant(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    a = await _invite(api, tenant_a, "shared@example.com", ["member"])
    b = await _invite(api, tenant_b, "shared@example.com", ["admin"])
    assert a.json()["id"] == b.json()["id"]  # the same global user
    assert a.json()["roles"] == ["member"] and b.json()["roles"] == ["admin"]
    a_users = {u["id"] for u in (await api.get("/v1/users", headers=tenant_a.auth)).json()["items"]}
    assert tenant_b.user_id not in a_users
    # B's owner is invisible to A: 404 exactly like a missing id.
    assert (
        await api.get(f"/v1/users/{tenant_b.user_id}", headers=tenant_a.auth)
    ).status_code == 404


async def test_a_tenant_never_sees_what_another_wrote_about_a_person(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    address = f"person-{tenant_a.tenant_id[:8]}@example.com"
    by_a = await api.post(
        "/v1/users", json={"email": address, "name": "Ann from A"}, headers=tenant_a.auth
    )
    assert by_a.status_code == 201 and by_a.json()["name"] == "Ann from A"
    # B invites the same person with the address in other case and no name: it learns the
    # global id (to address its member) and nothing A wrote.
    sent = address.split("@")[0].upper() + "@example.com"
    by_b = await api.post("/v1/users", json={"email": sent}, headers=tenant_b.auth)
    assert by_b.status_code == 201, by_b.text
    person = by_b.json()
    assert person["id"] == by_a.json()["id"]
    assert person["name"] is None and person["email"] == sent
    assert person["created"] > by_a.json()["created"]  # B's membership, not the user's time
    for read in (
        await api.get(f"/v1/users/{person['id']}", headers=tenant_b.auth),
        await api.get("/v1/users", params={"limit": 100}, headers=tenant_b.auth),
    ):
        assert read.status_code == 200
        assert "Ann from A" not in read.text
    # A name B gives stays B's; A still sees its own.
    other = f"other-{tenant_a.tenant_id[:8]}@example.com"
    await api.post("/v1/users", json={"email": other, "name": "Bo by A"}, headers=tenant_a.auth)
    r = await api.post("/v1/users", json={"email": other, "name": "Bo by B"}, headers=tenant_b.auth)
    assert r.json()["name"] == "Bo by B"
    seen_by_a = await api.get(f"/v1/users/{r.json()['id']}", headers=tenant_a.auth)
    assert seen_by_a.json()["name"] == "Bo by A" and seen_by_a.json()["email"] == other
    listed_by_a = (await api.get("/v1/users", headers=tenant_a.auth)).json()["items"]
    assert "Bo by B" not in str(listed_by_a) and "Ann from A" in str(listed_by_a)


async def test_members_page_in_the_order_they_joined(
    api: httpx.AsyncClient, tenant_a: Tenant, services: Services
) -> None:
    await set_plan(services, tenant_a.tenant_id, "growth")  # more members than the trial's
    emails = [f"p{i}-{tenant_a.tenant_id[:8]}@example.com" for i in range(5)]
    for email in emails:
        assert (await _invite(api, tenant_a, email, ["member"])).status_code == 201
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = (await api.get("/v1/users", params=params, headers=tenant_a.auth)).json()
        seen += [u["email"] for u in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen[1:] == emails and len(seen) == len(set(seen))


async def test_roles_are_enforced_on_writes(
    api: httpx.AsyncClient, tenant_a: Tenant, services: Services
) -> None:
    await set_plan(services, tenant_a.tenant_id, "growth")  # more members than the trial's
    admin = (await _invite(api, tenant_a, "adm@example.com", ["admin"])).json()
    member = (await _invite(api, tenant_a, "mem@example.com", ["member"])).json()
    admin_h = {"Authorization": f"Bearer {await key_for_member(api, tenant_a, admin['id'])}"}
    member_h = {"Authorization": f"Bearer {await key_for_member(api, tenant_a, member['id'])}"}

    # member: reads only
    assert (await api.get("/v1/users", headers=member_h)).status_code == 200
    assert (
        await _invite(
            api, Tenant("", "", member_h["Authorization"][7:]), "x@example.com", ["member"]
        )
    ).status_code == 403
    assert (await api.post("/v1/api-keys", json={"name": "k"}, headers=member_h)).status_code == 403
    # admin: may invite members, not owners; may not change roles (owner only)
    admin_t = Tenant("", "", admin_h["Authorization"][7:])
    assert (await _invite(api, admin_t, "new@example.com", ["member"])).status_code == 201
    assert (await _invite(api, admin_t, "boss@example.com", ["owner"])).status_code == 403
    r = await api.patch(f"/v1/users/{member['id']}", json={"roles": ["admin"]}, headers=admin_h)
    assert r.status_code == 403
    # admin cannot mint a key that acts as the owner
    r = await api.post(
        "/v1/api-keys", json={"name": "k", "user_id": tenant_a.user_id}, headers=admin_h
    )
    assert r.status_code == 403


async def test_last_owner_stays_and_removal_revokes_keys(
    api: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    r = await api.patch(
        f"/v1/users/{tenant_a.user_id}", json={"roles": ["admin"]}, headers=tenant_a.auth
    )
    assert r.status_code == 409
    assert (
        await api.delete(f"/v1/users/{tenant_a.user_id}", headers=tenant_a.auth)
    ).status_code == 409

    member = (await _invite(api, tenant_a, "leaver@example.com", ["member"])).json()
    key = await key_for_member(api, tenant_a, member["id"])
    h = {"Authorization": f"Bearer {key}"}
    assert (await api.get("/v1/users", headers=h)).status_code == 200
    assert (await api.delete(f"/v1/users/{member['id']}", headers=tenant_a.auth)).status_code == 204
    assert (await api.get("/v1/users", headers=h)).status_code == 401
    assert (await api.get(f"/v1/users/{member['id']}", headers=tenant_a.auth)).status_code == 404

    # Invited again later: the membership comes back with the new roles, old keys stay dead.
    back = await _invite(api, tenant_a, "leaver@example.com", ["admin"])
    assert back.status_code == 201 and back.json()["id"] == member["id"]
    assert back.json()["roles"] == ["admin"]
    assert (await api.get("/v1/users", headers=h)).status_code == 401
