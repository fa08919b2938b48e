"""`penguinmails leads import`: the HTTP core against the app in-process, and the command's
wiring."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from api.services import Services
from cli.api_client import ImportFailed, upload_and_follow
from cli.main import app
from devstack.ports import free_port
from tests.api.conftest import Tenant, client_for

CONSOLE_SCRIPT = Path(sys.executable).with_name("penguinmails")


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


async def _list_names(client: httpx.AsyncClient) -> list[str]:
    return [x["name"] for x in (await client.get("/v1/lead-lists")).json()["items"]]


async def test_upload_errors_are_reported_and_a_new_list_removed(
    services: Services, tenant_a: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "nothing.csv"
    path.write_text("name\nBob\n")
    async with _client(services, tenant_a) as client:
        with pytest.raises(ImportFailed) as failed:
            await upload_and_follow(client, path, "Broken")
        assert "422" in str(failed.value) and "headers seen: name" in str(failed.value)
        # The import could not start: the list this call created is gone again.
        assert "Broken" not in await _list_names(client)
        # A list that was there before stays.
        r = await client.post("/v1/lead-lists", json={"name": "Kept"})
        assert r.status_code == 201
        with pytest.raises(ImportFailed):
            await upload_and_follow(client, path, "Kept")
        assert "Kept" in await _list_names(client)


@pytest.mark.parametrize(
    ("mapping", "on_duplicate", "readable", "message"),
    [
        ('{"Mail": "email"', "skip", True, "--mapping is not JSON"),
        ('["email"]', "skip", True, "--mapping must be a JSON object"),
        ('{"Mail": 3}', "skip", True, "--mapping must be a JSON object"),
        (None, "replace", True, "--on-duplicate must be skip or update, not 'replace'"),
        (None, "skip", False, "cannot read"),
    ],
)
async def test_options_are_checked_before_anything_is_sent(
    services: Services,
    tenant_a: Tenant,
    tmp_path: Path,
    mapping: str | None,
    on_duplicate: str,
    readable: bool,
    message: str,
) -> None:
    path = tmp_path / "leads.csv"
    if readable:
        path.write_text("Mail\nopt@x.example\n")
    else:
        path.mkdir()  # exists, but is no file to read
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    async with _client(services, tenant_a) as client:
        client.event_hooks["request"].append(record)
        with pytest.raises(ImportFailed) as failed:
            await upload_and_follow(
                client, path, "Never made", mapping=mapping, on_duplicate=on_duplicate
            )
        assert message in str(failed.value)
        assert sent == []
        assert "Never made" not in await _list_names(client)


async def test_an_unreachable_api_is_named(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("email\na@x.example\n")
    url = f"http://127.0.0.1:{free_port()}"
    async with httpx.AsyncClient(base_url=url) as client:
        with pytest.raises(ImportFailed) as failed:
            await upload_and_follow(client, path, "Anywhere")
    assert str(failed.value).startswith(f"cannot reach the API at {url}: ")


def test_piped_errors_are_one_line_with_the_whole_url(tmp_path: Path) -> None:
    """Output that is not a terminal is never wrapped: a long URL stays whole."""
    path = tmp_path / "leads.csv"
    path.write_text("email\na@x.example\n")
    url = f"http://127.0.0.1:{free_port()}/" + "long-path-segment/" * 20
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "leads", "import", str(path), "--list", "L", "--api-url", url],
        env={**os.environ, "PENGUINMAILS_API_KEY": "pm_x", "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: cannot reach the API at {url}: ")
    assert len(lines[0]) > 400
    assert "uploading" not in result.stderr  # no progress bar outside a terminal


def test_command_is_wired() -> None:
    result = CliRunner().invoke(app, ["leads", "import", "--help"])
    assert result.exit_code == 0
    assert "--list" in result.output and "PENGUINMAILS_API_KEY" in result.output
