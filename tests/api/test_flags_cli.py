"""`penguinmails flags set|list`: the same change as the staff route, audited with the
operator as actor; a percentage outside 0-100 refused."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from click.testing import Result
from typer.testing import CliRunner

from cli.main import app
from penguinmails.settings import Settings


async def _invoke(args: list[str]) -> Result:
    # The command runs its own event loop: in a thread, beside the test's.
    return await asyncio.to_thread(CliRunner().invoke, app, args, env={"COLUMNS": "250"})


async def test_flags_set_and_list(
    settings: Settings, admin_conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.database_url and settings.analytics_database_url
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ANALYTICS_DATABASE_URL", settings.analytics_database_url)
    name = f"cli_{uuid.uuid4().hex[:8]}"

    result = await _invoke(["flags", "set", name, "--percent", "101"])
    assert result.exit_code != 0
    assert await admin_conn.fetchval("SELECT 1 FROM feature_flags WHERE key = $1", name) is None

    result = await _invoke(["flags", "set", name, "--percent", "30"])
    assert result.exit_code == 0, result.output
    result = await _invoke(["flags", "set", name, "--percent", "50", "--off"])
    assert result.exit_code == 0, result.output
    row = await admin_conn.fetchrow(
        "SELECT is_enabled, rollout_percentage FROM feature_flags WHERE key = $1", name
    )
    assert row is not None and (row["is_enabled"], row["rollout_percentage"]) == (False, 50)
    actors = await admin_conn.fetch(
        "SELECT actor_type FROM platform_audit_logs WHERE entity_id = $1", name
    )
    assert [a["actor_type"] for a in actors] == ["system", "system"]

    result = await _invoke(["flags", "list"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if name in line)
    assert "off" in line and "50" in line
