"""The public unsubscribe endpoint: a message built for a lead carries a token whose page
shows the masked address and changes nothing; the one-click POST suppresses the address and
flips the lead, idempotently; forged, foreign and deleted-tenant tokens answer 404."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes

import asyncpg
import httpx
import pytest

from penguinmails import tokens
from penguinmails.db import Database
from penguinmails.leads.emails import address_hash
from penguinmails.mail.message import MessageSpec, build_message, outbound_message_id
from penguinmails.models.campaigns import Campaign, InboxMessageRef
from penguinmails.models.infra import Domain, EmailAccount
from penguinmails.models.leads import Lead
from penguinmails.models.tenancy import Company
from penguinmails.repositories.suppressions import SuppressionRepository
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from penguinmails.tokens import TokenClaims, TokenKind
from penguinmails.unsubscribe import mask_address
from tests.api.conftest import Tenant

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@dataclass
class Sent:
    tenant_id: uuid.UUID
    lead_id: uuid.UUID
    email: str
    message_id: str
    token: str
    header: str


@pytest.fixture
async def token_key(secret_store: SecretStore, settings: Settings) -> bytes:
    return await tokens.tracking_key(secret_store, settings)


async def send_to_lead(db: Database, tenant: Tenant, key: bytes, email: str) -> Sent:
    """An outbox row for a lead and the message the real builder makes for it."""
    tenant_id = uuid.UUID(tenant.tenant_id)
    domain = f"d{uuid.uuid4().hex[:10]}.example"
    async with db.tenant_session(tenant_id) as session:
        company = Company(tenant_id=tenant_id, name="Sender Co")
        session.add(company)
        await session.flush()
        dom = Domain(tenant_id=tenant_id, company_id=company.id, domain=domain)
        session.add(dom)
        await session.flush()
        account = EmailAccount(
            tenant_id=tenant_id,
            domain_id=dom.id,
            email=f"sales@{domain}",
            vault_key_path=f"mailboxes/{uuid.uuid4()}",
        )
        campaign = Campaign(tenant_id=tenant_id, company_id=company.id, name="Q4")
        lead = Lead(tenant_id=tenant_id, email=email, first_name="Alice")
        session.add_all([account, campaign, lead])
        await session.flush()
        step_id = uuid.uuid4()
        message_id = outbound_message_id(
            str(tenant_id), str(campaign.id), str(lead.id), str(step_id), domain
        )
        session.add(
            InboxMessageRef(
                tenant_id=tenant_id,
                email_account_id=account.id,
                campaign_id=campaign.id,
                lead_id=lead.id,
                direction="outbound",
                message_id=message_id,
                to_email=email,
                status="sent",
            )
        )
        lead_id = lead.id
    built = build_message(
        MessageSpec(
            tenant_id=str(tenant_id),
            message_id=message_id,
            from_email=f"sales@{domain}",
            to_email=email,
            subject="Hello",
            html="<p>Hi</p>",
            date=datetime.now(UTC),
            tracking_base_url=f"https://track.{domain}",
        ),
        key,
    )
    header = str(message_from_bytes(built.raw)["List-Unsubscribe"])
    token = built.unsubscribe_url.rsplit("/u/", 1)[1]
    return Sent(tenant_id, lead_id, email, message_id, token, header)


async def lead_status(admin_conn: asyncpg.Connection, lead_id: uuid.UUID) -> str:
    return str(await admin_conn.fetchval("SELECT status FROM leads WHERE id = $1", lead_id))


async def suppressions_of(admin_conn: asyncpg.Connection, tenant_id: uuid.UUID) -> list[str]:
    rows = await admin_conn.fetch(
        "SELECT value || ':' || reason FROM suppressions WHERE tenant_id = $1", tenant_id
    )
    return [r[0] for r in rows]


def test_mask_address() -> None:
    assert mask_address("alice@Example.com") == "a***@example.com"
    assert mask_address("x@y.io") == "x***@y.io"
    assert mask_address("nonsense") == "***"


async def test_page_then_one_click(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    db: Database,
    token_key: bytes,
    admin_conn: asyncpg.Connection,
) -> None:
    email = f"alice.{uuid.uuid4().hex[:6]}@example.com"
    sent = await send_to_lead(db, tenant_a, token_key, email)
    assert f"/u/{sent.token}>" in sent.header and "<mailto:" in sent.header

    # GET (what a link scanner does): the masked address, a form, and nothing written.
    r = await api.get(f"/u/{sent.token}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "a***@example.com" in r.text and email not in r.text
    assert '<form method="post"' in r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert await suppressions_of(admin_conn, sent.tenant_id) == []
    assert await lead_status(admin_conn, sent.lead_id) == "active"

    # RFC 8058 one-click: an empty 200, the suppression and the lead's status in place.
    r = await api.post(f"/u/{sent.token}", data=ONE_CLICK)
    assert r.status_code == 200 and r.content == b""
    assert await suppressions_of(admin_conn, sent.tenant_id) == [
        f"{address_hash(email)}:unsubscribed"
    ]
    assert await lead_status(admin_conn, sent.lead_id) == "unsubscribed"
    audit = await admin_conn.fetch(
        "SELECT actor_type, entity_type, entity_id, details->>'via' AS via FROM audit_logs "
        "WHERE tenant_id = $1 AND action = 'lead.unsubscribed'",
        sent.tenant_id,
    )
    assert [dict(a) for a in audit] == [
        {
            "actor_type": "recipient",
            "entity_type": "lead",
            "entity_id": str(sent.lead_id),
            "via": "one_click",
        }
    ]

    # Again, and through the page's form (multipart too): 200, nothing duplicated.
    r = await api.post(f"/u/{sent.token}", data=ONE_CLICK)
    assert r.status_code == 200
    r = await api.post(f"/u/{sent.token}", data={**ONE_CLICK, "source": "page"})
    assert r.status_code == 200 and "Unsubscribed" in r.text
    r = await api.post(f"/u/{sent.token}", files={"List-Unsubscribe": (None, "One-Click")})
    assert r.status_code == 200
    assert len(await suppressions_of(admin_conn, sent.tenant_id)) == 1
    audits = await admin_conn.fetchval(
        "SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND action = 'lead.unsubscribed'",
        sent.tenant_id,
    )
    assert audits == 1

    # The address is suppressed for the send path and shows in the API's list.
    async with db.tenant_session(sent.tenant_id) as session:
        assert await SuppressionRepository(session).is_suppressed(email.upper())
    r = await api.get("/v1/suppressions", params={"email": email}, headers=tenant_a.auth)
    assert [i["reason"] for i in r.json()["items"]] == ["unsubscribed"]


async def test_page_form_post_answers_a_page(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    db: Database,
    token_key: bytes,
    admin_conn: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="penguinmails.api")
    sent = await send_to_lead(db, tenant_a, token_key, f"b{uuid.uuid4().hex[:6]}@example.org")
    r = await api.post(f"/u/{sent.token}", data={**ONE_CLICK, "source": "page"})
    assert r.status_code == 200 and "not receive further messages" in r.text
    # The request log keeps the token out.
    assert "POST /u/<redacted> 200" in caplog.text and sent.token not in caplog.text
    assert await lead_status(admin_conn, sent.lead_id) == "unsubscribed"
    # A POST without the one-click field (not RFC 8058, not our form) changes nothing.
    other = await send_to_lead(db, tenant_a, token_key, f"c{uuid.uuid4().hex[:6]}@example.org")
    r = await api.post(f"/u/{other.token}", data={"foo": "bar"})
    assert r.status_code == 400
    r = await api.post(f"/u/{other.token}", content=b"\x00garbage")
    assert r.status_code == 400
    assert await lead_status(admin_conn, other.lead_id) == "active"


def signed_payload(key: bytes, payload: bytes) -> str:
    """A token whose MAC is genuine over any payload (what only the key's holder can make)."""
    part = tokens._b64(payload)
    return f"{part}.{tokens._b64(tokens._mac(key, part))}"


async def test_invalid_and_foreign_tokens_answer_the_same_404(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    tenant_b: Tenant,
    db: Database,
    token_key: bytes,
    admin_conn: asyncpg.Connection,
) -> None:
    sent_a = await send_to_lead(db, tenant_a, token_key, f"d{uuid.uuid4().hex[:6]}@example.net")
    sent_b = await send_to_lead(db, tenant_b, token_key, f"e{uuid.uuid4().hex[:6]}@example.net")
    payload, _, mac = sent_a.token.partition(".")
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    forged = [
        f"{payload}.{flipped}",  # tampered signature
        f"{payload}.",  # no signature
        "not-a-token",
        "x" * 9000,
        sent_a.token[:-5],  # truncated
        f"{payload[:-3]}.{mac}",
        # 3,000 nested arrays and a MAC part of the right shape: refused unparsed.
        f"{tokens._b64(b'[' * 3000 + b']' * 3000)}.{mac}",
        f"{tokens._b64(b'[' * 1500 + b']' * 1500)}.{mac}",
        # Signed with the real key, but not claims: a list, nesting, a claim of the wrong type.
        signed_payload(token_key, b"[" * 1500 + b"]" * 1500),
        signed_payload(token_key, b'{"t":["a"],"m":"b","k":"u"}'),
        signed_payload(token_key, b"\xff"),
        # Signed with another key.
        tokens.sign(b"k" * 32, TokenClaims(sent_a.tenant_id.hex, sent_a.message_id, TokenKind.UNSUBSCRIBE)),
        # Genuine, but of another kind.
        tokens.sign(token_key, TokenClaims(str(sent_a.tenant_id), sent_a.message_id, TokenKind.OPEN)),
        # Genuine, for tenant A, naming tenant B's message: A's session cannot see it.
        tokens.sign(token_key, TokenClaims(str(sent_a.tenant_id), sent_b.message_id, TokenKind.UNSUBSCRIBE)),
        # Genuine, for tenant B, naming tenant A's message.
        tokens.sign(token_key, TokenClaims(str(sent_b.tenant_id), sent_a.message_id, TokenKind.UNSUBSCRIBE)),
        # A message that was never sent.
        tokens.sign(token_key, TokenClaims(str(sent_a.tenant_id), "<nope@x.example>", TokenKind.UNSUBSCRIBE)),
        # A tenant id that is not one.
        tokens.sign(token_key, TokenClaims("not-a-uuid", sent_a.message_id, TokenKind.UNSUBSCRIBE)),
    ]  # fmt: skip
    bodies = set()
    for token in forged:
        for method in ("GET", "POST"):
            r = await api.request(
                method, f"/u/{token}", data=ONE_CLICK if method == "POST" else None
            )
            assert r.status_code == 404, (token, method, r.text)
            assert sent_a.email not in r.text and sent_b.email not in r.text
            bodies.add(r.text)
    assert len(bodies) == 1  # one page for every failure: nothing tells them apart
    for sent in (sent_a, sent_b):
        assert await suppressions_of(admin_conn, sent.tenant_id) == []
        assert await lead_status(admin_conn, sent.lead_id) == "active"

    # A's genuine token writes into A only.
    r = await api.post(f"/u/{sent_a.token}", data=ONE_CLICK)
    assert r.status_code == 200
    assert len(await suppressions_of(admin_conn, sent_a.tenant_id)) == 1
    assert await suppressions_of(admin_conn, sent_b.tenant_id) == []
    assert await lead_status(admin_conn, sent_b.lead_id) == "active"


async def test_deleted_tenant_and_erased_lead(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    tenant_b: Tenant,
    db: Database,
    token_key: bytes,
    admin_conn: asyncpg.Connection,
) -> None:
    sent = await send_to_lead(db, tenant_a, token_key, f"f{uuid.uuid4().hex[:6]}@example.com")
    r = await api.get(f"/u/{sent.token}")
    assert r.status_code == 200
    await admin_conn.execute("UPDATE tenants SET deleted = now() WHERE id = $1", sent.tenant_id)
    for method in ("GET", "POST"):
        r = await api.request(
            method, f"/u/{sent.token}", data=ONE_CLICK if method == "POST" else None
        )
        assert r.status_code == 404
    assert await suppressions_of(admin_conn, sent.tenant_id) == []

    # An erased lead: the page names no address; the POST keeps the erasure as it is.
    erased = await send_to_lead(db, tenant_b, token_key, f"g{uuid.uuid4().hex[:6]}@example.com")
    await admin_conn.execute(
        "UPDATE leads SET email = 'erased-' || id::text || '@erased.invalid', status = 'erased' "
        "WHERE id = $1",
        erased.lead_id,
    )
    await admin_conn.execute(
        "UPDATE inbox_message_refs SET to_email = NULL WHERE message_id = $1", erased.message_id
    )
    r = await api.get(f"/u/{erased.token}")
    assert r.status_code == 200 and "your address" in r.text and "erased" not in r.text
    r = await api.post(f"/u/{erased.token}", data=ONE_CLICK)
    assert r.status_code == 200
    assert await lead_status(admin_conn, erased.lead_id) == "erased"
    assert await suppressions_of(admin_conn, erased.tenant_id) == []
