"""`python -m api` and the worker as processes: a service they cannot reach is one line
and exit status 1; a running API believes forwarded headers from configured proxies only,
and answers a request its HTTP server cannot parse with the error envelope."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from devstack.ports import free_port
from penguinmails.settings import Settings
from tests.fixtures.services import VaultServer

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    environ = {
        **os.environ,
        "DATABASE_URL": f"postgresql://postgres@{dead}/x",
        "ANALYTICS_DATABASE_URL": f"postgresql://postgres@{dead}/y",
        "REDIS_URL": f"redis://{dead}/0",
        "TEMPORAL_ADDRESS": dead,
        "VAULT_ADDR": f"http://{dead}",
        "VAULT_TOKEN": "x",
        **env,
    }
    return subprocess.run(args, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)


def test_api_names_the_unreachable_service_without_a_traceback() -> None:
    # Two workers: the launcher checks the services once, before starting any.
    result = _run([sys.executable, "-m", "api"], API_PORT=str(free_port()), API_WORKERS="2")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "not reachable" in line]
    assert len(errors) == 1 and "Postgres" in errors[0] and "127.0.0.1" in errors[0], output
    assert "penguinmails_app:***@" in errors[0] or "penguinmails_app@" in errors[0]


def test_worker_names_the_unreachable_service_without_a_traceback() -> None:
    result = _run([sys.executable, "worker.py"])
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert output.strip().splitlines()[-1].startswith("Postgres is not reachable at ")


@asynccontextmanager
async def serving(
    settings: Settings,
    vault: VaultServer,
    temporal: WorkflowEnvironment,
    log_dir: Path,
    **env: str,
) -> AsyncIterator[tuple[str, int]]:
    """`python -m api` on the session's services; (host, port) once /healthz answers."""
    port = free_port()
    environ = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "ANALYTICS_DATABASE_URL": settings.analytics_database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": temporal.client.namespace,
        "VAULT_ADDR": vault.addr,
        "VAULT_TOKEN": vault.token,
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "API_WORKERS": "1",
        **env,
    }
    if "FORWARDED_ALLOW_IPS" not in env:  # Settings' default, not an empty variable
        environ.pop("FORWARDED_ALLOW_IPS", None)
    output = log_dir / f"api-{port}.log"
    with output.open("w") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "api", cwd=ROOT, env=environ, stdout=sink, stderr=sink
        )
    try:
        async with httpx.AsyncClient() as client:
            while process.returncode is None:
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        if process.returncode is not None:
            pytest.fail(f"the API exited with {process.returncode}: {output.read_text()}")
        yield "127.0.0.1", port
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


def _addresses(n: int) -> list[str]:
    """n distinct addresses of the benchmarking range, random so runs do not share counts."""
    base = random.randrange(0, 2**17 - n)
    return [
        f"198.{18 + (base + i) // 65536}.{(base + i) // 256 % 256}.{(base + i) % 256}"
        for i in range(n)
    ]


async def _statuses(base: str, forwarded: list[str]) -> list[int]:
    async with httpx.AsyncClient(base_url=base) as client:
        return [
            (await client.get("/v1/no-such-page", headers={"X-Forwarded-For": ip})).status_code
            for ip in forwarded
        ]


@pytest.fixture(scope="module")
async def default_api(
    settings: Settings,
    vault: VaultServer,
    temporal_dev_server: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[str, int]]:
    logs = tmp_path_factory.mktemp("api")
    async with serving(settings, vault, temporal_dev_server, logs) as address:
        yield address


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    default_api: tuple[str, int], settings: Settings
) -> None:
    host, port = default_api
    # 700 requests from loopback, each claiming another client: one address to the limiter.
    statuses = await _statuses(f"http://{host}:{port}", _addresses(700))
    assert 429 in statuses
    assert statuses.count(404) <= settings.rate_limit_per_ip_per_minute


async def test_forwarded_for_from_a_configured_proxy_is_the_client(
    settings: Settings,
    vault: VaultServer,
    temporal_dev_server: WorkflowEnvironment,
    tmp_path: Path,
) -> None:
    trusted = {"FORWARDED_ALLOW_IPS": "127.0.0.1"}
    async with serving(settings, vault, temporal_dev_server, tmp_path, **trusted) as (host, port):
        base = f"http://{host}:{port}"
        assert set(await _statuses(base, _addresses(700))) == {404}  # 700 clients
        one = _addresses(1) * (settings.rate_limit_per_ip_per_minute + 10)
        assert 429 in await _statuses(base, one)  # one client, over its limit


def _raw(host: str, port: int, request: bytes) -> bytes:
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_an_unparsable_request_gets_the_error_envelope(
    default_api: tuple[str, int],
) -> None:
    host, port = default_api
    answer = await asyncio.to_thread(
        _raw,
        host,
        port,
        b"POST /v1/tenants HTTP/1.1\r\nHost: api\r\nContent-Length: abc\r\n\r\n{}",
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert b"content-type: application/json" in head.lower()
    error: dict[str, Any] = httpx.Response(400, content=body).json()["error"]
    assert error == {"code": "bad_request", "message": "invalid HTTP request", "details": None}
