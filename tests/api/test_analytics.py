"""`GET /v1/analytics/timeseries` (per send day, filterable, bad ranges refused with the
field) and `GET /v1/leads/{id}/events` (the lead's timeline from both databases; another
tenant's lead answers 404)."""

from __future__ import annotations

import csv
import io
import uuid

import httpx

from api.services import Services
from penguinmails import tokens
from penguinmails.db import Database
from penguinmails.tokens import TokenClaims, TokenKind
from tests.api.conftest import Tenant
from tests.api.test_engagement_events import PERSON, consumer, drain, sent_event, tkey  # noqa: F401
from tests.api.test_tracking import outbox_id
from tests.api.test_unsubscribe import send_to_lead


async def test_timeseries_and_lead_timeline(
    api: httpx.AsyncClient,
    services: Services,
    db: Database,
    tenant_a: Tenant,
    tenant_b: Tenant,
    tkey: bytes,  # noqa: F811
) -> None:
    sent = await send_to_lead(db, tenant_a, tkey, f"ts.{uuid.uuid4().hex[:6]}@example.com")
    email_id = await outbox_id(db, sent)
    fields = await sent_event(services, sent, email_id)
    url = "https://example.com/x"
    click = tokens.sign(
        tkey, TokenClaims(str(sent.tenant_id), sent.message_id, TokenKind.CLICK, url)
    )
    assert (await api.get(f"/t/c/{click}", headers=PERSON)).status_code == 302
    await drain(consumer(services))

    day = fields["at"][:10]
    r = await api.get(
        "/v1/analytics/timeseries",
        params={"start": day, "end": day, "campaign_id": fields["campaign"]},
        headers=tenant_a.auth,
    )
    assert r.status_code == 200, r.text
    [point] = r.json()["items"]
    assert point["date"] == day
    assert (point["counts"]["sent"], point["counts"]["clicked"]) == (1, 1)
    assert point["rates"]["click_rate"] == 100.0
    # The same series as CSV: a header row, then each day's counts and rates as in the JSON.
    params = {"start": day, "end": day, "campaign_id": fields["campaign"]}
    r = await api.get("/v1/analytics/timeseries.csv", params=params, headers=tenant_a.auth)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == (
        f'attachment; filename="timeseries-{day}-{day}.csv"'
    )
    [row] = list(csv.DictReader(io.StringIO(r.text)))
    assert row["date"] == day
    for name, value in [*point["counts"].items(), *point["rates"].items()]:
        assert float(row[name]) == value, name
    header = r.text.splitlines()[0].split(",")
    assert header == ["date", *point["counts"], *point["rates"]]
    # Tenant B sees none of it.
    r = await api.get(
        "/v1/analytics/timeseries", params={"start": day, "end": day}, headers=tenant_b.auth
    )
    assert r.status_code == 200 and r.json()["items"] == []
    r = await api.get(
        "/v1/analytics/timeseries.csv", params={"start": day, "end": day}, headers=tenant_b.auth
    )
    assert r.status_code == 200 and len(r.text.splitlines()) == 1  # the header alone

    r = await api.get(f"/v1/leads/{sent.lead_id}/events", headers=tenant_a.auth)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(e["type"], e["detail"]) for e in items] == [("clicked", url), ("sent", None)]
    assert all(e["email_id"] == email_id for e in items)
    assert (
        await api.get(f"/v1/leads/{sent.lead_id}/events", headers=tenant_b.auth)
    ).status_code == 404
    r = await api.get(f"/v1/leads/{uuid.uuid4()}/events", headers=tenant_a.auth)
    assert r.status_code == 404


async def test_timeseries_bad_ranges(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    auth = tenant_a.auth
    r = await api.get(
        "/v1/analytics/timeseries",
        params={"start": "2026-02-01", "end": "2026-01-01"},
        headers=auth,
    )
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "start"
    r = await api.get(
        "/v1/analytics/timeseries",
        params={"start": "2024-01-01", "end": "2026-01-01"},
        headers=auth,
    )
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "end"
    r = await api.get("/v1/analytics/timeseries", params={"start": "yesterday"}, headers=auth)
    assert r.status_code == 422 and "start" in r.text
    r = await api.get("/v1/analytics/timeseries", params={"campaign_id": "nope"}, headers=auth)
    assert r.status_code == 422 and "campaign_id" in r.text
    # The CSV refuses the same ranges the same way, before any row is written.
    r = await api.get(
        "/v1/analytics/timeseries.csv",
        params={"start": "2026-02-01", "end": "2026-01-01"},
        headers=auth,
    )
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "start"
