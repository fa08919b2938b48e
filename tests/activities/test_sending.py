"""The sending activity against real servers: an aiosmtpd server with STARTTLS + AUTH
(connection reuse, 4xx and 5xx surfaced with their codes, a refused login) and the dev
sink, where a built message arrives with a DKIM signature that verifies against the
record the loopback DNS serves."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.interfaces.sending import SendMessageInput
from activities.sending import SendingActivities, render_failure
from devstack.dns import DnsServer, Zone
from devstack.smtp_sink import SmtpSink
from penguinmails.db import Database
from penguinmails.domains import add_domain, read_dkim_private_key
from penguinmails.mail import dkim_keys
from penguinmails.mail.message import DkimKey, MessageSpec, build_message, outbound_message_id
from penguinmails.mail.personalize import RenderBudget, TemplateRenderError, context_for, render
from penguinmails.mailboxes import add_mailbox
from penguinmails.models.infra import Domain
from penguinmails.repositories.content import ContentRepository
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.resolver import dkim_dnsfunc
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from tests.fixtures.campaigns import assign_loopback_ip
from tests.fixtures.mail import AuthSmtpServer

TOKEN_KEY = os.urandom(32)


async def _setup(
    db: Database, store: SecretStore, settings: Settings, smtp: dict[str, Any], password: str
) -> tuple[str, str, str, Domain]:
    async with db.admin_session() as session:
        tenant = await TenantRepository(session).create("Sender Co")
    name = f"s{uuid.uuid4().hex[:10]}.example.test"
    domain = await add_domain(db, store, settings, tenant.id, name)
    email = f"ada@{name}"
    account = await add_mailbox(
        db,
        store,
        tenant.id,
        email=email,
        smtp_password=password,
        imap_password=password,
        smtp_settings=smtp,
        imap_settings={"host": "127.0.0.1", "port": 1, "security": "none"},
    )
    return str(tenant.id), str(account.id), email, domain


async def _store(db: Database, tenant_id: str, raw: bytes) -> str:
    async with db.tenant_session(tenant_id) as session:
        return await ContentRepository(session).put(uuid.UUID(tenant_id), raw, "message/rfc822")


def _message(tenant_id: str, sender: str, to: str, step: str = "s1", **kw: Any) -> MessageSpec:
    domain = sender.rsplit("@", 1)[1]
    return MessageSpec(
        tenant_id=tenant_id,
        message_id=outbound_message_id(tenant_id, "c1", "l1", step, domain),
        from_email=sender,
        to_email=to,
        subject="Hello",
        html="<p>Hi there, <a href='https://acme.test/x'>see this</a>.</p>",
        date=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
        tracking_base_url=f"https://track.{domain}",
        **kw,
    )


async def test_starttls_auth_server_reuse_and_error_codes(
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    smtp_auth_server: AuthSmtpServer,
) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    smtp = {"host": smtp_auth_server.host, "port": smtp_auth_server.port,
            "security": "starttls", "verify_tls": False}  # fmt: skip
    tenant_id, account_id, email, _ = await _setup(db, secret_store, settings, smtp, password)
    smtp_auth_server.users[email] = password
    acts = SendingActivities(db, secret_store)
    env = ActivityEnvironment()
    sessions_before = len(smtp_auth_server.sessions)
    try:
        for step in ("s1", "s2", "s3"):
            raw = build_message(
                _message(tenant_id, email, "grace@example.org", step), TOKEN_KEY
            ).raw
            key = await _store(db, tenant_id, raw)
            out = await env.run(acts.send_message, SendMessageInput(tenant_id, account_id, key))
            assert (out.code, out.message) == (250, "2.0.0 Queued as test")
            assert out.message_id == outbound_message_id(tenant_id, "c1", "l1", step,
                                                         email.rsplit("@", 1)[1])  # fmt: skip
        # Three messages over one connection (one session on the server).
        assert acts.connections.opened == 1
        assert len(smtp_auth_server.sessions) - sessions_before == 1
        mail_from, rcpts, _ = smtp_auth_server.messages[-1]
        assert (mail_from, rcpts) == (email, ["grace@example.org"])

        # 4xx: retryable, with its code; 5xx: not retryable (a bounce), with its code.
        for to, kind, code, retryable in (
            ("tempfail@example.org", "SmtpTransientError", 451, True),
            ("reject@example.org", "SmtpPermanentError", 550, False),
        ):
            raw = build_message(_message(tenant_id, email, to, f"x-{to}"), TOKEN_KEY).raw
            key = await _store(db, tenant_id, raw)
            with pytest.raises(ApplicationError) as err:
                await env.run(acts.send_message, SendMessageInput(tenant_id, account_id, key))
            assert err.value.type == kind
            assert err.value.non_retryable is not retryable
            assert err.value.details[0]["code"] == code
            assert err.value.details[0]["stage"] == "rcpt"
        # The connection is still good after the refusals.
        raw = build_message(_message(tenant_id, email, "x@example.org", "s9"), TOKEN_KEY).raw
        out = await env.run(
            acts.send_message,
            SendMessageInput(tenant_id, account_id, await _store(db, tenant_id, raw)),
        )
        assert out.code == 250 and acts.connections.opened == 1

        # A changed password on the server: the next connection's login is refused.
        await acts.close()
        smtp_auth_server.users[email] = "rotated"
        with pytest.raises(ApplicationError) as err:
            await env.run(
                acts.send_message,
                SendMessageInput(tenant_id, account_id, await _store(db, tenant_id, raw)),
            )
        assert err.value.type == "SmtpAuthenticationFailed" and err.value.non_retryable
        assert err.value.details[0]["code"] == 535
    finally:
        await acts.close()


async def test_dkim_signed_message_through_the_sink(
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    smtp_sink: SmtpSink,
    dns_server: DnsServer,
    dns_zone: Zone,
) -> None:
    smtp = {"host": smtp_sink.host, "port": smtp_sink.port, "security": "none"}
    tenant_id, account_id, email, domain = await _setup(db, secret_store, settings, smtp, "x")
    for r in domain.dns_records["records"]:  # publish what the domain asks for
        dns_zone.add(r["name"], r["type"], r["value"])
    private = await read_dkim_private_key(secret_store, domain)
    assert domain.dkim_selector
    first = outbound_message_id(tenant_id, "c1", "l1", "s1", domain.domain)
    built = build_message(
        _message(tenant_id, email, "grace@example.org", "s2", thread=(first,)),
        TOKEN_KEY,
        DkimKey(domain.domain, domain.dkim_selector, private),
    )
    key = await _store(db, tenant_id, built.raw)
    acts = SendingActivities(db, secret_store)
    try:
        out = await ActivityEnvironment().run(
            acts.send_message, SendMessageInput(tenant_id, account_id, key)
        )
    finally:
        await acts.close()
    assert out.code == 250
    files = smtp_sink.messages(built.message_id)
    assert len(files) == 1
    received = files[0].read_bytes()
    assert dkim_keys.verify(received, dkim_dnsfunc(dns_server.address))
    assert {"list-unsubscribe", "list-unsubscribe-post", "in-reply-to", "references"} <= set(
        dkim_keys.signed_headers(received)
    )
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in received
    assert f"In-Reply-To: {first}".encode() in received


def test_a_template_over_its_budget_is_not_retried() -> None:
    runaway = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    settings = Settings(template_render_max_steps=1000)
    with pytest.raises(TemplateRenderError) as caught:
        render(runaway, context_for({}), "l:s", html=True, budget=RenderBudget.of(settings))
    error = render_failure(caught.value)
    assert (error.type, error.non_retryable) == ("TemplateTooExpensive", True)
    assert "more than 1000 steps" in str(error)
    with pytest.raises(TemplateRenderError) as caught:
        render("{{ 1 / 0 }}", context_for({}), "l:s", html=True)
    error = render_failure(caught.value)
    assert (error.type, error.non_retryable) == ("TemplateInvalid", True)


async def test_a_mailbox_on_a_server_s_ip_is_sent_by_that_server_s_worker_from_the_ip(
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    smtp_auth_server: AuthSmtpServer,
    admin_conn: asyncpg.Connection,
) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    smtp = {"host": smtp_auth_server.host, "port": smtp_auth_server.port,
            "security": "starttls", "verify_tls": False}  # fmt: skip
    tenant_id, account_id, email, domain = await _setup(db, secret_store, settings, smtp, password)
    smtp_auth_server.users[email] = password
    vps, address, ptr = await assign_loopback_ip(admin_conn, uuid.UUID(tenant_id), domain.domain)
    raw = build_message(_message(tenant_id, email, "grace@example.org"), TOKEN_KEY).raw
    key = await _store(db, tenant_id, raw)
    data = SendMessageInput(tenant_id, account_id, key)
    env = ActivityEnvironment()
    shared = SendingActivities(db, secret_store)
    on_host = SendingActivities(db, secret_store, vps_id=str(vps))
    try:
        routed = await env.run(shared.send_message, data)
        assert (routed.other_host, routed.host_vps_id, routed.code) == (True, str(vps), 0)
        assert shared.connections.opened == 0  # nothing sent from here
        out = await env.run(on_host.send_message, data)
        assert (out.code, out.other_host) == (250, False)
        assert (address, ptr) in smtp_auth_server.greetings
    finally:
        await shared.close()
        await on_host.close()
