"""`penguinmails leads import`: the HTTP core against the app in-process, and the command's
wiring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from api.services import Services
from cli.api_client import ImportFailed, upload_and_follow
from cli.main import app
from tests.api.conftest import Tenant, client_for


def _client(services: Services, tenant: Tenant) -> httpx.AsyncClient:
    client = client_for(services)
    client.headers.update(tenant.auth)
    return client


async def test_upload_and_follow_creates_the_list_and_reports(
    services: Services, tenant_a: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("Email;Name\ncli1@x.example;One\ncli2@x.example;Two\nbad;Three\n")
    uploaded: list[int] = []
    seen: list[dict[str, Any]] = []
    async with _client(services, tenant_a) as client:
        result = await upload_and_follow(
            client, path, "From the CLI", on_upload=uploaded.append, on_progress=seen.append
        )
        assert (result["status"], result["accepted"], result["rejected"]) == ("completed", 2, 1)
        assert sum(uploaded) == path.stat().st_size and seen[-1] == result
        # The same name again: the same list, the leads found as existing.
        again = await upload_and_follow(client, path, "From the CLI")
        assert again["lead_list_id"] == result["lead_list_id"] and again["existing"] == 2
        lists = (await client.get("/v1/lead-lists")).json()["items"]
        assert [x["name"] for x in lists].count("From the CLI") == 1


async def test_upload_errors_are_reported(
    services: Services, tenant_a: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "nothing.csv"
    path.write_text("name\nBob\n")
    async with _client(services, tenant_a) as client:
        try:
            await upload_and_follow(client, path, "Broken")
        except ImportFailed as exc:
            assert "422" in str(exc) and "headers seen: name" in str(exc)
        else:
            raise AssertionError("expected ImportFailed")


def test_command_is_wired() -> None:
    result = CliRunner().invoke(app, ["leads", "import", "--help"])
    assert result.exit_code == 0
    assert "--list" in result.output and "PENGUINMAILS_API_KEY" in result.output
