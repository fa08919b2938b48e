"""`penguinmails plans`: the catalogue from the database, retired plans with --all."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from typer.testing import CliRunner

from cli.main import app
from penguinmails.settings import Settings


async def test_plans_lists_the_catalogue(
    settings: Settings, admin_conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"old-{uuid.uuid4().hex[:6]}"
    await admin_conn.execute(
        "INSERT INTO plans (plan_name, price, is_active, limits) "
        "VALUES ($1, 5, false, '{\"mailboxes\": 1}'::jsonb)",
        name,
    )
    assert settings.database_url and settings.analytics_database_url
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ANALYTICS_DATABASE_URL", settings.analytics_database_url)
    runner = CliRunner()
    result = await _invoke(runner, ["plans"])
    assert result.exit_code == 0, result.output
    for plan in ("trial", "starter", "growth", "scale"):
        assert plan in result.output
    assert name not in result.output
    result = await _invoke(runner, ["plans", "--all"])
    assert result.exit_code == 0, result.output
    assert name in result.output and "retired" in result.output


async def _invoke(runner: CliRunner, args: list[str]) -> object:
    import asyncio

    # The command runs its own event loop: in a thread, beside the test's.
    return await asyncio.to_thread(runner.invoke, app, args, env={"COLUMNS": "250"})
