"""`penguinmails vps` and `penguinmails warmup` against the app in-process (their async
cores take the HTTP client), and the refusals they make before sending anything."""

from __future__ import annotations

import asyncpg
import pytest
from typer.testing import CliRunner

from api.services import Services
from cli.infra_api import ApiRefused, call
from cli.main import app
from cli.vps import list_servers, servers_table
from cli.warmup import list_warmups, warmup_body
from tests.api.conftest import Tenant, client_for
from tests.api.test_warmups import _ip


async def test_the_commands_cores_through_the_api(
    services: Services, tenant_a: Tenant, admin_conn: asyncpg.Connection
) -> None:
    async with client_for(services) as client:
        client.headers.update(tenant_a.auth)
        ordered = await call(client, "POST", "/v1/vps-instances", {"region": "local"})
        servers = await list_servers(client)
        assert [s["id"] for s in servers] == [ordered["id"]]
        assert servers_table(servers).row_count == 1
        with pytest.raises(ApiRefused, match="VPS instance not found"):
            await call(
                client,
                "POST",
                "/v1/vps-instances/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12 + "/decommission",
            )

        ip = await _ip(admin_conn, tenant_a)
        body = warmup_body(None, ip, 5, 20.0, 40, False)
        started = await call(client, "POST", "/v1/warmups", body)
        assert [w["id"] for w in await list_warmups(client)] == [started["id"]]
        paused = await call(client, "POST", f"/v1/warmups/{started['id']}/pause")
        assert paused["status"] == "paused"
        with pytest.raises(ApiRefused, match="cannot be paused"):
            await call(client, "POST", f"/v1/warmups/{started['id']}/pause")
        await call(client, "POST", f"/v1/warmups/{started['id']}/stop")
        with pytest.raises(ApiRefused, match="target"):
            await call(client, "POST", "/v1/warmups", warmup_body(None, ip, 5, 20.0, 0, False))


def test_warmup_start_needs_exactly_one_target() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        warmup_body("a", "b", 5, 20.0, 40, False)
    result = CliRunner().invoke(app, ["warmup", "start", "--api-key", "k"])
    assert result.exit_code != 0
    assert "exactly one of --mailbox and --ip" in result.output
    assert "pause" in CliRunner().invoke(app, ["warmup", "--help"]).output
    assert "decommission" in CliRunner().invoke(app, ["vps", "--help"]).output


def test_an_unreachable_api_is_a_clear_error() -> None:
    result = CliRunner().invoke(
        app, ["vps", "list", "--api-key", "k", "--api-url", "http://127.0.0.1:9"]
    )
    assert result.exit_code != 0 and "the API at http://127.0.0.1:9" in result.output
