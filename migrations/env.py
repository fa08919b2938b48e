"""Alembic environment for both databases (OLTP and analytics), async through asyncpg."""

from __future__ import annotations

import asyncio
import sys
from logging.config import fileConfig
from pathlib import Path

# Revisions import `migrations.rls`: make the project root importable however alembic was
# started (the `penguinmails` console script does not put the working directory on the path).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from penguinmails.settings import get_settings, sqlalchemy_async_url

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

database = config.get_main_option("database", "oltp")


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        settings = get_settings()
        url = settings.analytics_database_url if database == "analytics" else settings.database_url
    if not url:
        raise RuntimeError("set DATABASE_URL / ANALYTICS_DATABASE_URL to migrate")
    return sqlalchemy_async_url(url)


def _do_run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_do_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
