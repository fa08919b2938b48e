"""Templates through the API: validation with line and column, folders and tags, bodies in
the content store de-duplicated by hash, preview with sample data and with a lead."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from api.services import Services
from penguinmails.db import Database
from penguinmails.models.content import Template
from penguinmails.models.leads import Lead
from penguinmails.repositories.content import ContentRepository
from penguinmails.repositories.templates import TemplateRepository
from tests.api.conftest import Tenant, client_for, make_services

BODY = (
    "<p>{Hi|Hello|Hey} {{ first_name | default('there', true) }},</p>\n"
    "<p>How is {{ company }} doing in {{ custom.industry | default('your field') }}?</p>"
)


async def test_crud_folders_tags_and_dedup(
    api: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, admin_conn: asyncpg.Connection
) -> None:
    r = await api.post(
        "/v1/templates",
        json={
            "name": "Intro",
            "subject": "Quick question, {{ first_name }}",
            "body": BODY,
            "folders": ["Outbound", "Q4"],
            "tags": ["intro", "cold"],
        },
        headers=tenant_a.auth,
    )
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["folders"] == ["Outbound", "Q4"] and first["tags"] == ["cold", "intro"]
    assert first["variables"] == ["company", "custom", "first_name"]
    assert first["content_storage_key"].startswith("sha256/")

    # The same body again: one object in the content store.
    r = await api.post(
        "/v1/templates",
        json={"name": "Intro copy", "subject": "Hi", "body": BODY, "folders": ["Q4"]},
        headers=tenant_a.auth,
    )
    second = r.json()
    assert second["content_storage_key"] == first["content_storage_key"]
    count = await admin_conn.fetchval(
        "SELECT count(*) FROM content_objects WHERE tenant_id = $1 AND content_storage_key = $2",
        uuid.UUID(tenant_a.tenant_id),
        first["content_storage_key"],
    )
    assert count == 1
    folders = await admin_conn.fetchval(
        "SELECT count(*) FROM folders WHERE tenant_id = $1 AND name = 'Q4'",
        uuid.UUID(tenant_a.tenant_id),
    )
    assert folders == 1

    got = (await api.get(f"/v1/templates/{first['id']}", headers=tenant_a.auth)).json()
    assert got["body"] == BODY
    r = await api.patch(
        f"/v1/templates/{first['id']}",
        json={"body": "<p>New {{ last_name }}</p>", "tags": ["new"], "folders": []},
        headers=tenant_a.auth,
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["content_storage_key"] != first["content_storage_key"]
    assert updated["variables"] == ["first_name", "last_name"]  # subject + body
    assert (updated["tags"], updated["folders"]) == (["new"], [])

    listed = (await api.get("/v1/templates", headers=tenant_a.auth)).json()
    assert {t["id"] for t in listed["items"]} >= {first["id"], second["id"]}
    assert all(t["body"] is None for t in listed["items"])
    for method in ("GET", "DELETE"):
        r = await api.request(method, f"/v1/templates/{first['id']}", headers=tenant_b.auth)
        assert r.status_code == 404
    r = await api.post(f"/v1/templates/{first['id']}/preview", json={}, headers=tenant_b.auth)
    assert r.status_code == 404
    assert (
        await api.delete(f"/v1/templates/{first['id']}", headers=tenant_a.auth)
    ).status_code == 204
    assert (await api.get(f"/v1/templates/{first['id']}", headers=tenant_a.auth)).status_code == 404


async def test_errors_with_line_and_column(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    r = await api.post(
        "/v1/templates",
        json={
            "name": "Bad",
            "subject": "Hi {{ frist_name }}",
            "body": "<p>ok</p>\n<p>{% if first_name %}no end</p>",
        },
        headers=tenant_a.auth,
    )
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert {(d["field"], d["kind"], d["line"], d["column"]) for d in details} == {
        ("subject", "unknown_variable", 1, 7),
        ("body", "syntax", 2, 4),
    }
    for payload in ("{% import os %}", "{% include '/etc/passwd' %}"):
        r = await api.post(
            "/v1/templates", json={"name": "x", "subject": "x", "body": payload},
            headers=tenant_a.auth,
        )  # fmt: skip
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["kind"] in ("forbidden", "syntax")


async def test_preview_with_sample_data_and_a_lead(
    api: httpx.AsyncClient, tenant_a: Tenant, db: Database
) -> None:
    r = await api.post(
        "/v1/templates",
        json={"name": "P", "subject": "{Hi|Hello} {{ first_name }}", "body": BODY},
        headers=tenant_a.auth,
    )
    template_id = r.json()["id"]
    r = await api.post(f"/v1/templates/{template_id}/preview", json={}, headers=tenant_a.auth)
    assert r.status_code == 200, r.text
    sample = r.json()
    assert sample["sample"] is True and "Ada" in sample["html"] and "Computing" in sample["html"]
    assert sample["subject"] in ("Hi Ada", "Hello Ada")
    assert "How is Analytical Engines Ltd doing" in sample["text"]

    async with db.tenant_session(tenant_a.tenant_id) as session:
        lead = Lead(
            tenant_id=uuid.UUID(tenant_a.tenant_id),
            email=f"g{uuid.uuid4().hex[:6]}@navy.example",
            first_name="Grace",
            company="Navy <R&D>",
            custom_fields={"industry": "Compilers"},
        )
        session.add(lead)
        await session.flush()
        lead_id = str(lead.id)
    step = str(uuid.uuid4())
    body = {"lead_id": lead_id, "step_id": step}
    one = (
        await api.post(f"/v1/templates/{template_id}/preview", json=body, headers=tenant_a.auth)
    ).json()
    again = (
        await api.post(f"/v1/templates/{template_id}/preview", json=body, headers=tenant_a.auth)
    ).json()
    assert one == again  # spintax: the same lead and step, the same choice
    assert one["sample"] is False
    assert "Grace," in one["html"] and "Navy &lt;R&amp;D&gt;" in one["html"]
    assert "Compilers" in one["html"]
    r = await api.post(
        f"/v1/templates/{template_id}/preview", json={"lead_id": str(uuid.uuid4())},
        headers=tenant_a.auth,
    )  # fmt: skip
    assert r.status_code == 404


async def _saved_unchecked(db: Database, tenant: Tenant, subject: str, body: str) -> str:
    """A template stored without the API's validation (as one saved before a rule existed)."""
    tenant_id = uuid.UUID(tenant.tenant_id)
    async with db.tenant_session(tenant_id) as session:
        key = await ContentRepository(session).put(tenant_id, body.encode(), "text/html")
        template = await TemplateRepository(session).create(
            Template(
                tenant_id=tenant_id, name="unchecked", subject=subject, content_storage_key=key
            )
        )
        return str(template.id)


@pytest.mark.parametrize("depth", [74, 10_000])
async def test_deep_nesting_is_refused_on_save_and_preview(
    api: httpx.AsyncClient, tenant_a: Tenant, db: Database, depth: int
) -> None:
    deep = "{" * depth
    r = await api.post(
        "/v1/templates", json={"name": "ok", "subject": "Hi", "body": "ok"}, headers=tenant_a.auth
    )
    template_id = r.json()["id"]
    subject = deep if depth < 998 else "{" * 990  # a subject is at most 998 characters
    for fields in ({"subject": subject, "body": "ok"}, {"subject": "Hi", "body": deep}):
        which = "subject" if fields["subject"] != "Hi" else "body"
        for method, url in (("POST", "/v1/templates"), ("PATCH", f"/v1/templates/{template_id}")):
            r = await api.request(method, url, json={"name": "n", **fields}, headers=tenant_a.auth)
            assert r.status_code == 422, r.text
            error = r.json()["error"]
            assert error["code"] == "template_invalid"
            (detail,) = error["details"]
            assert detail["field"] == which and detail["kind"] == "syntax"
            assert "nested deeper than" in detail["message"]
            assert detail["line"] == 1 and detail["column"] >= 1
    r = await api.post(
        "/v1/templates", json={"name": "n", "subject": "{" * 999, "body": "ok"},
        headers=tenant_a.auth,
    )  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"

    for subject, body in ((deep, "ok"), ("Hi", deep)):
        template_id = await _saved_unchecked(db, tenant_a, subject, body)
        r = await api.post(f"/v1/templates/{template_id}/preview", json={}, headers=tenant_a.auth)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "template_invalid"
        assert "nested deeper than" in r.json()["error"]["message"]


RUNAWAY = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"


async def test_a_runaway_preview_is_refused_within_its_budget(
    api: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    # Nested loops are valid: their cost shows when rendering.
    r = await api.post(
        "/v1/templates", json={"name": "loop", "subject": "Hi", "body": RUNAWAY},
        headers=tenant_a.auth,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = await api.post(f"/v1/templates/{r.json()['id']}/preview", json={}, headers=tenant_a.auth)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "template_too_expensive"
    assert "more than 1000000 steps" in error["message"]


async def test_the_event_loop_serves_while_a_preview_renders(
    services: Services, db: Database, tenant_a: Tenant, codec_key: bytes
) -> None:
    # Only the time budget stops this one (1e8 steps allowed): the render runs for its
    # whole second, in a thread, while /healthz is asked and answered.
    settings = services.settings.model_copy(
        update={"template_render_max_steps": 10**9, "template_render_timeout_seconds": 1.0}
    )
    slow = make_services(settings, db, services.temporal, codec_key, services.secrets)
    template_id = await _saved_unchecked(db, tenant_a, "Hi", RUNAWAY)
    try:
        async with client_for(slow) as api:
            preview = asyncio.create_task(
                api.post(f"/v1/templates/{template_id}/preview", json={}, headers=tenant_a.auth)
            )
            done, _ = await asyncio.wait({preview}, timeout=0.2)
            assert not done  # rendering (with the loop blocked, this wait would end late)
            health = await api.get("/healthz")
            assert health.status_code == 200
            assert not preview.done()  # answered while the render went on
            r = await preview
    finally:
        await slow.redis.aclose()
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "template_too_expensive"
    assert "longer than 1 s" in r.json()["error"]["message"]
