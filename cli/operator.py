"""What operator commands share: the settings of the stack they talk to, and the services
(database, Temporal) opened for one command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from cli.console import fail

if TYPE_CHECKING:
    from temporalio.client import Client

    from penguinmails.db import Database
    from penguinmails.settings import Settings

T = TypeVar("T")


def operator_settings(require_database: bool = True) -> Settings:
    """Settings from the environment and `.env`, else those of the running `penguinmails dev`:
    it leaves the resolved URLs in `<DATA_DIR>/dev.env` while it runs, and DATA_DIR's default
    does not depend on the working directory, so this works from anywhere."""
    from devstack.apps import ENV_FILE
    from penguinmails.settings import Settings

    settings = Settings()
    dev_env = settings.data_dir.resolve() / ENV_FILE
    if settings.database_url is None and dev_env.exists():
        settings = Settings(_env_file=(".env", dev_env))  # type: ignore[call-arg]
    if require_database and settings.database_url is None:
        fail(
            f"no DATABASE_URL, and no running `penguinmails dev` in {dev_env.parent} "
            f"(it writes {ENV_FILE} there): start it, set DATA_DIR to the folder it runs "
            "with, or set DATABASE_URL, ANALYTICS_DATABASE_URL, TEMPORAL_ADDRESS, VAULT_ADDR "
            "and VAULT_TOKEN"
        )
    return settings


async def _with_services(work: Callable[[Database, Client], Awaitable[T]]) -> T:
    from penguinmails.checks import check_postgres, check_temporal
    from penguinmails.db import Database
    from penguinmails.runtime import secret_store, temporal_client

    settings = operator_settings()
    await check_postgres(settings.app_database_url())
    await check_temporal(settings.temporal_address)
    db = Database(settings)
    try:
        client = await temporal_client(settings, secret_store(settings))
        return await work(db, client)
    finally:
        await db.dispose()


def run_with_services(work: Callable[[Database, Client], Awaitable[T]]) -> T:
    import asyncio

    from penguinmails.checks import ServiceUnavailable
    from penguinmails.secrets import SecretStoreUnavailable

    try:
        return asyncio.run(_with_services(work))
    except (ServiceUnavailable, SecretStoreUnavailable) as exc:
        fail(str(exc))
