"""Reachability checks run before a process relies on a service.

Each check raises `ServiceUnavailable`, whose message is one line naming the service and its
URL (password removed), so `penguinmails dev`, the API and the worker can print it and exit 1
instead of dumping a traceback from deep inside a driver.
"""

from __future__ import annotations

import asyncio
import os
import re
from urllib.parse import urlsplit, urlunsplit

DEFAULT_TIMEOUT = 5.0


class ServiceUnavailable(Exception):
    def __init__(self, service: str, url: str, reason: str) -> None:
        self.service = service
        self.url = redact_url(url)
        self.reason = _one_line(reason)
        super().__init__(f"{service} is not reachable at {self.url}: {self.reason}")


def redact_url(url: str) -> str:
    """The URL without its password: these lines end up in terminals and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(
        (parts.scheme, f"{user}:***@{netloc}", parts.path, parts.query, parts.fragment)
    )


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    # A socket error somewhere in the chain says it best ("Connection refused").
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno:
            # Negative numbers are resolver (getaddrinfo) errors, unknown to strerror().
            return os.strerror(seen.errno) if seen.errno > 0 else str(seen.strerror)
        seen = seen.__cause__ or seen.__context__
    text = str(exc) or type(exc).__name__
    coded = re.match(r"Error (\d+) connecting", text)  # redis-py's wording
    if coded:
        return os.strerror(int(coded.group(1)))
    # Rust-side errors (Temporal's core) nest the useful part as `message: "..."`.
    found: list[str] = re.findall(r'(?:message|error): "([^"]+)"', text)
    if found:
        return found[-1]
    # urllib3 wraps the socket error in three layers of repr().
    errno: list[str] = re.findall(r"\[Errno -?\d+\] ([^'\")]+)", text)
    return errno[-1] if errno else text


async def check_postgres(url: str | None, connect_timeout: float = DEFAULT_TIMEOUT) -> None:
    if not url:
        raise ServiceUnavailable("Postgres", "(unset)", "DATABASE_URL is not set")
    import asyncpg

    from penguinmails.settings import asyncpg_dsn

    try:
        conn = await asyncpg.connect(asyncpg_dsn(url), timeout=connect_timeout)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()
    except Exception as exc:
        raise ServiceUnavailable("Postgres", url, _reason(exc)) from None


async def check_redis(url: str | None, connect_timeout: float = DEFAULT_TIMEOUT) -> None:
    if not url:
        raise ServiceUnavailable("Redis", "(unset)", "REDIS_URL is not set")
    from redis.asyncio import Redis

    client = Redis.from_url(
        url, socket_connect_timeout=connect_timeout, socket_timeout=connect_timeout
    )
    try:
        await asyncio.wait_for(client.ping(), connect_timeout)
    except Exception as exc:
        raise ServiceUnavailable("Redis", url, _reason(exc)) from None
    finally:
        await client.aclose()


async def check_temporal(
    address: str | None, namespace: str = "default", connect_timeout: float = DEFAULT_TIMEOUT
) -> None:
    if not address:
        raise ServiceUnavailable("Temporal", "(unset)", "TEMPORAL_ADDRESS is not set")
    from temporalio.client import Client

    try:
        await asyncio.wait_for(Client.connect(address, namespace=namespace), connect_timeout)
    except Exception as exc:
        raise ServiceUnavailable("Temporal", address, _reason(exc)) from None


async def check_vault(address: str | None, connect_timeout: float = DEFAULT_TIMEOUT) -> None:
    """Reachable, initialised and unsealed (a token is checked by `SecretStore.ping`)."""
    if not address:
        raise ServiceUnavailable("Vault", "(unset)", "VAULT_ADDR is not set")
    import requests  # hvac's own HTTP client: no extra runtime dependency

    try:
        # 200 active, 429 standby, 472/473 performance/DR standby: all can serve reads.
        response = await asyncio.to_thread(
            requests.get, f"{address.rstrip('/')}/v1/sys/health", timeout=connect_timeout
        )
    except Exception as exc:
        raise ServiceUnavailable("Vault", address, _reason(exc)) from None
    if response.status_code == 501:
        raise ServiceUnavailable("Vault", address, "not initialised")
    if response.status_code == 503:
        raise ServiceUnavailable("Vault", address, "sealed")
    if response.status_code not in (200, 429, 472, 473):
        raise ServiceUnavailable("Vault", address, f"health check answered {response.status_code}")
