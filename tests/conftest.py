"""Session fixtures: real services, started once per test session.

Postgres: the server behind DATABASE_URL when set, else an embedded one; either way each
session migrates two fresh databases of its own and drops them at the end.
Redis: REDIS_URL when set, else the embedded server.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from penguinmails import migrate
from penguinmails.db import Database
from penguinmails.settings import Settings, asyncpg_dsn
from penguinmails.stack.ports import free_port

# Vault, Temporal and SMTP fixtures live in their own module.
pytest_plugins = ["tests.fixtures.services"]


def _replace_db(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pm")


@pytest.fixture(scope="session")
def pg_admin_url(tmp_root: Path) -> Iterator[str]:
    """An admin URL of a running server (its `postgres` database)."""
    env = os.environ.get("DATABASE_URL")
    if env:
        yield _replace_db(env, "postgres")
        return
    from penguinmails.stack.postgres import start_postgres

    server = start_postgres(tmp_root / "pgdata", free_port())
    yield server.url("postgres")
    server.stop()


async def _admin_exec(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def redis_url(tmp_root: Path) -> Iterator[str]:
    env = os.environ.get("REDIS_URL")
    if env:
        yield env
        return
    from penguinmails.stack.redis import start_redis

    server = start_redis(tmp_root / "redis", free_port(), persist=False)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
async def settings(pg_admin_url: str, redis_url: str, tmp_root: Path) -> AsyncIterator[Settings]:
    name = f"pm_test_{uuid.uuid4().hex[:10]}"
    for db in (name, f"{name}_analytics"):
        await _admin_exec(pg_admin_url, f'CREATE DATABASE "{db}"')
    s = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_root / "data",
        database_url=_replace_db(pg_admin_url, name),
        analytics_database_url=_replace_db(pg_admin_url, f"{name}_analytics"),
        redis_url=redis_url,
    )
    await asyncio.to_thread(migrate.upgrade, s)  # alembic runs its own loop
    yield s
    for db in (name, f"{name}_analytics"):
        await _admin_exec(pg_admin_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings)
    yield database
    await database.dispose()


@pytest.fixture
async def admin_conn(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection to the OLTP test database, for assertions on the catalog."""
    assert settings.database_url
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    yield conn
    await conn.close()
