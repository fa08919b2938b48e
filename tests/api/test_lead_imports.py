"""CSV upload through the API to a clean lead list: the real workflow and activities on
the dev server, the real Postgres."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import httpx

from api.services import Services
from tests.api.conftest import Tenant
from workflows.names import LEAD_IMPORT, workflow_id

MESSY = (
    "\ufeffE-mail;First Name;LastName;Company Name;Time Zone;City;Notes\r\n"
    'Alice@Example.COM ;Alice;Liddell;Wonder Inc;Europe/Paris;Paris;"likes; semicolons"\r\n'
    "\r\n"
    'bob@example.com;Bob;;Acme;+05:30;Mumbai;"multi\nline ""quoted"" note"\r\n'
    "not-an-email;Nobody;;;;;\r\n"
    "alice@example.com;Alice again;;;;;duplicate in the file\r\n"
    "carol@example.org;Carol;;;Mars/Olympus;;bad zone\r\n"
    "dave@blocked.example;Dave;;;;;suppressed domain\r\n"
    "info@example.net;Info;;;UTC;;role account\r\n"
    "zoë@exämple.de;Zoë;;;;;IDN\r\n"
)


async def create_list(api: httpx.AsyncClient, tenant: Tenant, name: str = "Leads") -> str:
    r = await api.post("/v1/lead-lists", json={"name": name}, headers=tenant.auth)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def upload(
    api: httpx.AsyncClient,
    tenant: Tenant,
    list_id: str,
    data: bytes,
    **form: str,
) -> httpx.Response:
    return await api.post(
        f"/v1/lead-lists/{list_id}/imports",
        files={"file": ("leads.csv", data, "text/csv")},
        data=form,
        headers=tenant.auth,
    )


async def run_import(
    api: httpx.AsyncClient,
    services: Services,
    tenant: Tenant,
    list_id: str,
    data: bytes,
    **form: str,
) -> dict[str, Any]:
    r = await upload(api, tenant, list_id, data, **form)
    assert r.status_code == 202, r.text
    import_id = r.json()["id"]
    handle = services.temporal.get_workflow_handle(
        workflow_id(LEAD_IMPORT, tenant.tenant_id, import_id)
    )
    await handle.result()
    r = await api.get(f"/v1/imports/{import_id}", headers=tenant.auth)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def invariant(body: dict[str, Any]) -> None:
    assert (
        body["accepted"] + body["rejected"] + body["duplicates"] + body["suppressed"]
        == body["rows_total"]
    ), body


async def leads_of(api: httpx.AsyncClient, tenant: Tenant, list_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"list_id": list_id, "limit": 200}
        if cursor:
            params["cursor"] = cursor
        r = await api.get("/v1/leads", params=params, headers=tenant.auth)
        assert r.status_code == 200, r.text
        page = r.json()
        out.update({lead["email"]: lead for lead in page["items"]})
        cursor = page["next_cursor"]
        if not cursor:
            return out


async def test_messy_csv_ends_with_exactly_the_right_leads(
    api: httpx.AsyncClient, services: Services, tenant_a: Tenant
) -> None:
    r = await api.post(
        "/v1/suppressions",
        json={"domain": "Blocked.Example", "reason": "manual"},
        headers=tenant_a.auth,
    )
    assert r.status_code == 201, r.text
    list_id = await create_list(api, tenant_a)
    body = await run_import(api, services, tenant_a, list_id, MESSY.encode("utf-8"))

    assert body["status"] == "completed" and body["percent"] == 100.0
    assert body["rows_total"] == 8
    assert (body["accepted"], body["rejected"], body["duplicates"], body["suppressed"]) == (
        4,
        2,
        1,
        1,
    )
    invariant(body)

    leads = await leads_of(api, tenant_a, list_id)
    assert set(leads) == {
        "Alice@example.com",
        "bob@example.com",
        "info@example.net",
        "zoë@exämple.de",
    }
    alice = leads["Alice@example.com"]
    assert (alice["first_name"], alice["last_name"], alice["company"]) == (
        "Alice",
        "Liddell",
        "Wonder Inc",
    )
    assert alice["timezone"] == "Europe/Paris"
    assert alice["custom_fields"] == {"City": "Paris", "Notes": "likes; semicolons"}
    bob = leads["bob@example.com"]
    assert bob["custom_fields"]["Notes"] == 'multi\nline "quoted" note'
    assert bob["timezone"] == "+05:30" and bob["last_name"] is None
    assert leads["info@example.net"]["role_account"] is True
    assert leads["info@example.net"]["timezone"] == "UTC"
    # New leads get version-7 ids in file order (a bulk load appends to the key indexes).
    ids = [uuid.UUID(leads[e]["id"]) for e in ("Alice@example.com", "bob@example.com")]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert ids[0] < ids[1]

    r = await api.get(f"/v1/imports/{body['id']}/rejected.csv", headers=tenant_a.auth)
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][-2:] == ["line", "reason"]
    by_line = {row[-2]: row for row in rows[1:]}
    assert set(by_line) == {"6", "8"}
    assert by_line["6"][0] == "not-an-email" and "invalid e-mail" in by_line["6"][-1]
    assert "time zone" in by_line["8"][-1] and by_line["8"][0] == "carol@example.org"

    r = await api.get(f"/v1/lead-lists/{list_id}", headers=tenant_a.auth)
    assert r.json()["row_count"] == 4 and r.json()["status"] == "ready"


async def test_reimport_skip_and_update(
    api: httpx.AsyncClient, services: Services, tenant_a: Tenant
) -> None:
    list_id = await create_list(api, tenant_a)
    first = "email,first name,plan\na@x.com,A,free\nb@x.com,B,free\n"
    body = await run_import(api, services, tenant_a, list_id, first.encode())
    assert (body["accepted"], body["existing"]) == (2, 0)

    again = "email,first name,plan\nA@x.com,Changed,pro\nc@x.com,C,pro\na@x.com,dup,pro\n"
    other = await create_list(api, tenant_a, "Other")
    body = await run_import(api, services, tenant_a, other, again.encode())
    assert (body["accepted"], body["existing"], body["duplicates"]) == (2, 1, 1)
    invariant(body)
    leads = await leads_of(api, tenant_a, other)
    assert leads["a@x.com"]["first_name"] == "A"  # skip keeps what the lead had
    assert set(leads) == {"a@x.com", "c@x.com"}

    body = await run_import(api, services, tenant_a, other, again.encode(), on_duplicate="update")
    assert (body["accepted"], body["existing"], body["duplicates"]) == (2, 2, 1)
    leads = await leads_of(api, tenant_a, other)
    assert leads["a@x.com"]["first_name"] == "Changed"
    assert leads["a@x.com"]["custom_fields"] == {"plan": "pro"}
    # One lead, in both lists.
    first_list = await leads_of(api, tenant_a, list_id)
    assert first_list["a@x.com"]["id"] == leads["a@x.com"]["id"]


async def test_encodings_and_delimiters(
    api: httpx.AsyncClient, services: Services, tenant_a: Tenant
) -> None:
    cases = {
        "utf16": "Email\tName\r\nü1@x.de\tJürgen\r\n".encode("utf-16"),
        "cp1252": "Email|Name\nw1@x.fr|Hélène\n".encode("cp1252"),
        "pipe-lf": b"EMAIL ADDRESS|first_name\nP1@X.COM|P\n",
    }
    for name, data in cases.items():
        list_id = await create_list(api, tenant_a, name)
        body = await run_import(api, services, tenant_a, list_id, data)
        assert body["accepted"] == 1, (name, body)
        leads = await leads_of(api, tenant_a, list_id)
        if name == "utf16":
            assert leads["ü1@x.de"]["custom_fields"] == {"Name": "Jürgen"}
        if name == "cp1252":
            assert leads["w1@x.fr"]["custom_fields"] == {"Name": "Hélène"}
        if name == "pipe-lf":
            assert leads["P1@x.com"]["first_name"] == "P"


async def test_mapping_overrides_aliases(
    api: httpx.AsyncClient, services: Services, tenant_a: Tenant
) -> None:
    list_id = await create_list(api, tenant_a)
    data = b"contact,given,email,secret\nm@x.com,Mo,ignored,s3\n"
    body = await run_import(
        api,
        services,
        tenant_a,
        list_id,
        data,
        mapping=json.dumps(
            {"contact": "email", "given": "first_name", "email": None, "secret": None}
        ),
    )
    assert body["accepted"] == 1, body
    lead = (await leads_of(api, tenant_a, list_id))["m@x.com"]
    assert lead["first_name"] == "Mo" and lead["custom_fields"] == {}


async def test_bad_files_answer_422(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    list_id = await create_list(api, tenant_a)
    for data, expected in (
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"email,name\n", "no rows"),
        (b"name,phone\nBob,123\n", "headers seen: name, phone"),
    ):
        r = await upload(api, tenant_a, list_id, data)
        assert r.status_code == 422, (data, r.text)
        assert expected in r.json()["error"]["message"], r.text
    r = await upload(api, tenant_a, list_id, b"name,phone\nBob,123\n")
    assert r.json()["error"]["details"] == {"headers": ["name", "phone"]}


async def test_wrong_or_foreign_list_is_404(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    list_id = await create_list(api, tenant_a)
    r = await upload(api, tenant_b, list_id, b"email\na@b.com\n")
    assert r.status_code == 404
    r = await upload(api, tenant_a, "00000000-0000-4000-8000-000000000000", b"email\na@b.com\n")
    assert r.status_code == 404
    r = await api.get(f"/v1/lead-lists/{list_id}", headers=tenant_b.auth)
    assert r.status_code == 404


async def test_huge_row_and_field_are_rejected_and_the_import_goes_on(
    api: httpx.AsyncClient, services: Services, tenant_a: Tenant
) -> None:
    list_id = await create_list(api, tenant_a)
    wide = ",".join(["x"] * 5000)
    big = "y" * (1024 * 1024 + 10)
    data = f"email,note\nok1@x.com,a\nw@x.com,{wide}\nbig@x.com,{big}\nok2@x.com,b\n".encode()
    body = await run_import(api, services, tenant_a, list_id, data)
    invariant(body)
    assert (body["accepted"], body["rejected"]) == (2, 2), body
    assert set(await leads_of(api, tenant_a, list_id)) == {"ok1@x.com", "ok2@x.com"}


async def test_mx_check_through_the_configured_resolver(
    api: httpx.AsyncClient, services: Services, tenant_a: Tenant, dns_zone: Any
) -> None:
    dns_zone.add("mail-ok.example", "MX", "mx.mail-ok.example")
    dns_zone.add("a-only.example", "A", "192.0.2.10")
    list_id = await create_list(api, tenant_a)
    data = b"email\nx@mail-ok.example\ny@a-only.example\nz@nowhere.example\n"
    body = await run_import(api, services, tenant_a, list_id, data, check_mx="true")
    assert (body["accepted"], body["rejected"]) == (2, 1), body
    invariant(body)
    r = await api.get(f"/v1/imports/{body['id']}/rejected.csv", headers=tenant_a.auth)
    assert "z@nowhere.example" in r.text and "no MX record" in r.text
    # Off by default: the same file without the check accepts all three.
    other = await create_list(api, tenant_a, "no check")
    body = await run_import(api, services, tenant_a, other, data)
    assert (body["accepted"], body["rejected"]) == (3, 0)


async def test_exports_neutralise_formulas_and_keep_the_stored_values(
    api: httpx.AsyncClient, services: Services, tenant_a: Tenant
) -> None:
    data = (
        b'email,first_name,last_name,company,position,=HYPERLINK("http://x.example")\r\n'
        b"eve@formula.example,=1+2,-2,+33 1 23,@SUM(A1),plain\r\n"
        b'"=cmd|\' /C calc\'!A0",@x,,,,"-1"\r\n'
    )
    list_id = await create_list(api, tenant_a)
    body = await run_import(api, services, tenant_a, list_id, data)
    assert (body["accepted"], body["rejected"]) == (1, 1), body

    # Stored as uploaded.
    eve = (await leads_of(api, tenant_a, list_id))["eve@formula.example"]
    assert (eve["first_name"], eve["last_name"], eve["company"], eve["position"]) == (
        "=1+2",
        "-2",
        "+33 1 23",
        "@SUM(A1)",
    )

    r = await api.get(f"/v1/lead-lists/{list_id}/export.csv", headers=tenant_a.auth)
    assert r.status_code == 200
    assert '"\'=1+2","\'-2","\'+33 1 23","\'@SUM(A1)"' in r.text
    (row,) = list(csv.DictReader(io.StringIO(r.text)))
    assert (row["first_name"], row["last_name"], row["company"], row["position"]) == (
        "'=1+2",
        "'-2",
        "'+33 1 23",
        "'@SUM(A1)",
    )
    assert row["email"] == "eve@formula.example"

    r = await api.get(f"/v1/imports/{body['id']}/rejected.csv", headers=tenant_a.auth)
    assert r.status_code == 200
    head, rejected = list(csv.reader(io.StringIO(r.text)))
    assert head[5] == '\'=HYPERLINK("http://x.example")' and head[-2:] == ["line", "reason"]
    assert rejected[:6] == ["'=cmd|' /C calc'!A0", "'@x", "", "", "", "'-1"]
    assert rejected[6] == "3" and "e-mail" in rejected[7]
    assert r.text.splitlines()[1].startswith("\"'=cmd|' /C calc'!A0\",\"'@x\",")
