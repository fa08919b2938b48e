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
from typing import TYPE_CHECKING

import asyncpg
import pytest

from devstack.ports import free_port
from penguinmails import migrate
from penguinmails.db import Database
from penguinmails.settings import Settings, asyncpg_dsn

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from devstack.dns import DnsServer
    from devstack.localstripe import LocalStripe
    from devstack.smtp_sink import SmtpSink
    from penguinmails.secrets import SecretStore

# Vault, Temporal and SMTP fixtures live in their own module.
pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.dns",
    "tests.fixtures.mail",
    "tests.fixtures.hostwinds",
    "tests.fixtures.stripe",
]


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
    import shutil
    import tempfile

    from devstack.postgres import start_postgres

    # Not under pytest's tmp root: that folder is 0700 and the server runs as another user.
    root = Path(tempfile.mkdtemp(prefix="pm-test-pg-"))
    root.chmod(0o755)
    server = start_postgres(root / "pgdata", free_port())
    yield server.url("postgres")
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


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
    from devstack.redis import start_redis

    server = start_redis(tmp_root / "redis", free_port(), persist=False)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
async def settings(
    pg_admin_url: str,
    redis_url: str,
    tmp_root: Path,
    dns_server: DnsServer,
    localstripe: LocalStripe,
    smtp_sink: SmtpSink,
) -> AsyncIterator[Settings]:
    name = f"pm_test_{uuid.uuid4().hex[:10]}"
    for db in (name, f"{name}_analytics"):
        await _admin_exec(pg_admin_url, f'CREATE DATABASE "{db}"')
    s = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_root / "data",
        database_url=_replace_db(pg_admin_url, name),
        analytics_database_url=_replace_db(pg_admin_url, f"{name}_analytics"),
        redis_url=redis_url,
        dns_resolver=dns_server.address,
        stripe_api_base=localstripe.url,
        stripe_mode="direct",
        # The platform's own e-mail goes to this session's sink, never to a port another
        # stack on the machine may hold.
        platform_smtp_host=smtp_sink.host,
        platform_smtp_port=smtp_sink.port,
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


# --- Application wiring shared by the API, workflow and end-to-end tests -----------------


@pytest.fixture(scope="session")
async def codec_key(secret_store: SecretStore, settings: Settings) -> bytes:
    return await secret_store.get_or_create_codec_key(settings.codec_key_path)


# The webhook signing secret of the session (tests sign the events localstripe cannot emit).
STRIPE_WEBHOOK_SECRET = "whsec_penguinmails_test"


@pytest.fixture(scope="session")
async def stripe_keys(secret_store: SecretStore, settings: Settings) -> str:
    """Stripe's key and webhook secret in Vault, where the API and the worker read them."""
    from devstack.localstripe import DEV_API_KEY

    await secret_store.write(
        settings.stripe_secret_path,
        {"api_key": DEV_API_KEY, "webhook_secret": STRIPE_WEBHOOK_SECRET},
    )
    return STRIPE_WEBHOOK_SECRET


@pytest.fixture(scope="session")
async def temporal_client(temporal_dev_server: WorkflowEnvironment, codec_key: bytes) -> Client:
    """A client of the dev server with the application's encrypting data converter."""
    from temporalio.client import Client

    from penguinmails.temporal import data_converter

    return await Client.connect(
        temporal_dev_server.client.service_client.config.target_host,
        namespace=temporal_dev_server.client.namespace,
        data_converter=data_converter(codec_key),
    )


@pytest.fixture(scope="session")
async def app_worker(
    temporal_client: Client,
    db: Database,
    settings: Settings,
    secret_store: SecretStore,
    stripe_keys: str,
) -> AsyncIterator[list[Worker]]:
    """The real worker (every task queue, real activities) for the whole session."""
    from worker import build_workers

    workers = build_workers(temporal_client, db, settings, secrets=secret_store)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    yield workers
    await asyncio.gather(*(w.shutdown() for w in workers))
    await asyncio.gather(*tasks, return_exceptions=True)
