"""The tracking endpoints in front of the API: an open answers the GIF and appends one
event, a click answers a 302 to the sealed URL only; anything forged, garbled, oversized,
nested, of the other kind or naming no message answers 404 and appends nothing; HEAD is a
bot's; no per-IP limit on `/t/` and `/u/`; no log line per hit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import uuid

import httpx
import pytest

from api.services import Services
from api.tracking import GIF
from penguinmails import tokens
from penguinmails.db import Database
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from penguinmails.tokens import TokenClaims, TokenKind
from tests.api.conftest import Tenant, client_for
from tests.api.test_unsubscribe import Sent, send_to_lead


async def events_of(
    services: Services, email_id: str | None = None, tenant: str = ""
) -> list[dict[str, str]]:
    entries = await services.redis.xrange(services.settings.events_stream, "-", "+")
    out = []
    for _, raw in entries:
        entry = {k.decode(): v.decode() for k, v in raw.items()}
        if tenant and entry.get("tenant") != tenant:
            continue
        if email_id and entry.get("email") != email_id:
            continue
        out.append(entry)
    return out


async def outbox_id(db: Database, sent: Sent) -> str:
    from sqlalchemy import text

    async with db.tenant_session(sent.tenant_id) as session:
        row = (
            await session.execute(
                text("SELECT id FROM inbox_message_refs WHERE message_id = :m"),
                {"m": sent.message_id},
            )
        ).one()
    return str(row[0])


@pytest.fixture
async def tkey(secret_store: SecretStore, settings: Settings) -> bytes:
    return await tokens.tracking_key(secret_store, settings)


@pytest.fixture
async def sent(db: Database, tenant_a: Tenant, tkey: bytes) -> Sent:
    return await send_to_lead(db, tenant_a, tkey, f"t.{uuid.uuid4().hex[:6]}@example.com")


def _sign(key: bytes, sent: Sent, kind: TokenKind, url: str | None = None) -> str:
    return tokens.sign(key, TokenClaims(str(sent.tenant_id), sent.message_id, kind, url))


async def test_open_pixel_appends_one_event(
    api: httpx.AsyncClient,
    services: Services,
    sent: Sent,
    tkey: bytes,
    db: Database,
) -> None:
    token = _sign(tkey, sent, TokenKind.OPEN)
    r = await api.get(f"/t/o/{token}", headers={"User-Agent": "Mozilla/5.0 Thunderbird/128"})
    assert r.status_code == 200
    assert r.content == GIF and r.headers["content-type"] == "image/gif"
    assert "no-store" in r.headers["cache-control"]
    email = await outbox_id(db, sent)
    found = await events_of(services, email)
    assert len(found) == 1
    event = found[0]
    assert event["type"] == "open" and event["tenant"] == str(sent.tenant_id)
    assert event["lead"] == str(sent.lead_id) and event.get("bot", "") == ""
    uuid.UUID(event["id"])

    # HEAD: the same answer without a body, recorded as a bot's.
    r = await api.head(f"/t/o/{token}", headers={"User-Agent": "Mozilla/5.0"})
    assert r.status_code == 200 and r.content == b""
    found = await events_of(services, email)
    assert [e.get("bot", "") for e in found] == ["", "head_request"]

    # A known image proxy: stored, flagged.
    await api.get(
        f"/t/o/{token}", headers={"User-Agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"}
    )
    assert (await events_of(services, email))[-1]["bot"] == "known_agent"


async def test_click_redirects_only_to_the_sealed_url(
    api: httpx.AsyncClient,
    services: Services,
    sent: Sent,
    tkey: bytes,
    db: Database,
) -> None:
    url = "https://example.com/pricing?plan=pro&x=%2F"
    token = _sign(tkey, sent, TokenKind.CLICK, url)
    r = await api.get(
        f"/t/c/{token}?next=https://evil.example/", headers={"User-Agent": "Mozilla/5.0"}
    )
    assert r.status_code == 302 and r.headers["location"] == url
    found = await events_of(services, await outbox_id(db, sent))
    assert [(e["type"], e["url"]) for e in found] == [("click", url)]


async def test_bad_tokens_answer_404_and_append_nothing(
    api: httpx.AsyncClient,
    services: Services,
    sent: Sent,
    tkey: bytes,
) -> None:
    open_token = _sign(tkey, sent, TokenKind.OPEN)
    payload, mac = open_token.split(".")
    altered = payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + mac
    forged_key = tokens.sign(
        b"x" * 32, TokenClaims(str(sent.tenant_id), sent.message_id, TokenKind.OPEN)
    )
    # Deeply nested JSON under a MAC made with a wrong key: refused before any decoding.
    nested = (
        base64.urlsafe_b64encode(json.dumps([[[[[[]]]]]] * 2).encode() * 200).rstrip(b"=").decode()
    )
    nested_token = f"{nested}.{base64.urlsafe_b64encode(hmac.new(b'y' * 32, nested.encode(), hashlib.sha256).digest()).rstrip(b'=').decode()}"
    missing = tokens.sign(
        tkey,
        TokenClaims(str(sent.tenant_id), f"<{uuid.uuid4()}@nowhere.example>", TokenKind.OPEN),
    )
    before = await services.redis.xlen(services.settings.events_stream)
    for path in (
        f"/t/o/{altered}",
        f"/t/o/{forged_key}",
        f"/t/o/{nested_token}",
        f"/t/o/{'A' * 5000}.{'B' * 43}",  # oversized
        f"/t/o/{open_token}/extra",
        "/t/o/",
        "/t/o/%00%ff",
        f"/t/c/{open_token}",  # an open token on the click path
        f"/t/o/{missing}",  # genuine, but no such message
    ):
        r = await api.get(path)
        assert r.status_code == 404, path
        assert r.headers.get("location") is None
    assert await services.redis.xlen(services.settings.events_stream) == before
    r = await api.post(f"/t/o/{open_token}")
    assert r.status_code == 405


async def test_no_per_ip_limit_and_no_log_line(
    services: Services,
    sent: Sent,
    tkey: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = _sign(tkey, sent, TokenKind.OPEN)
    limit = services.settings.rate_limit_per_ip_per_minute
    async with client_for(services, ip="192.0.2.77") as client:
        with caplog.at_level(logging.INFO, logger="penguinmails.api"):
            for _ in range(limit + 5):
                r = await client.get(f"/t/o/{token}", headers={"User-Agent": "Mozilla/5.0"})
                assert r.status_code == 200
            tracking_lines = [rec for rec in caplog.records if "/t/o/" in rec.getMessage()]
            assert tracking_lines == []
            # The unsubscribe page is exempt from the per-IP limit too.
            for _ in range(limit + 5):
                r = await client.get(f"/u/{sent.token}")
                assert r.status_code == 200
