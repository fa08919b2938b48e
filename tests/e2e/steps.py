"""Steps the dev-stack walkthroughs share: waiting on a condition, checking an answer, a
domain verified through the dev DNS and a mailbox that passed its login test."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


def until(
    check: Callable[[], bool], what: str, timeout: float = 180, interval: float = 1.0
) -> None:
    """`check` every `interval` seconds until it holds (the API allows an address 120
    requests a minute: a check of one request at 1 s stays well within it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.request.url, response.text)
    return response.json() if response.content else None


def verified_domain(api: httpx.Client, name: str) -> dict[str, Any]:
    """The domain added and verified (the dev DNS publishes its records)."""
    domain: dict[str, Any] = ok(api.post("/v1/domains", json={"domain": name}), 201)

    def verified() -> bool:
        api.post(f"/v1/domains/{domain['id']}/verify")
        got = ok(api.get(f"/v1/domains/{domain['id']}"))
        return bool(got["verification_status"] == "verified")

    until(verified, "the domain's verification")
    return domain


def active_mailbox(
    api: httpx.Client, ports: dict[str, str], email: str, **settings: Any
) -> dict[str, Any]:
    """A mailbox on the dev mail system (the sink and Dovecot, no TLS) with `settings`
    (daily cap, gaps, window), once its login test found it active."""
    server = {"host": "127.0.0.1", "security": "none"}
    body = {
        "email": email,
        "password": "dev-password",
        "smtp": {**server, "port": int(ports["PM_DEV_SMTP_PORT"])},
        "imap": {**server, "port": int(ports["PM_DEV_IMAP_PORT"])},
        **settings,
    }
    mailbox: dict[str, Any] = ok(api.post("/v1/email-accounts", json=body), 201)

    def active() -> bool:
        tested = api.post(f"/v1/email-accounts/{mailbox['id']}/test", json={}).json()
        return bool(tested.get("status") == "active")

    until(active, "the mailbox's login test")
    return mailbox
