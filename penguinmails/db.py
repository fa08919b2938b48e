"""Async engines and the two ways to open a session.

`tenant_session(tenant_id)` is the normal path: the application role, one transaction, the
tenant set transaction-locally with `set_config(..., true)` so a pooled connection never
carries it into the next checkout. Row-level security does the filtering.

`admin_session()` is the narrow cross-tenant path (sign-up, routing before the tenant is
known): a separate role with BYPASSRLS that still is not a superuser and owns nothing.

Neither commits inside a repository: the context manager commits when the block ends and
rolls back when it raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.settings import Settings, sqlalchemy_async_url

SET_TENANT = text("SELECT set_config('app.current_tenant_id', :tenant_id, true)")


def make_engine(url: str, pool_size: int = 5) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )


class Database:
    """Holds the engines of one process (the API lifespan or a worker)."""

    def __init__(self, settings: Settings) -> None:
        self.engine = make_engine(settings.app_database_url(), settings.database_pool_size)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.system_engine = make_engine(settings.system_database_url(), 2)
        self.analytics_engine = make_engine(
            settings.app_database_url(analytics=True), settings.database_pool_size
        )

    @asynccontextmanager
    async def tenant_session(self, tenant_id: UUID | str) -> AsyncIterator[AsyncSession]:
        async with _session(self.engine) as session:
            await session.execute(SET_TENANT, {"tenant_id": str(tenant_id)})
            yield session

    @asynccontextmanager
    async def unscoped_session(self) -> AsyncIterator[AsyncSession]:
        """The application role with no tenant set: row-level security hides every row; only
        the narrow SECURITY DEFINER functions (the API-key lookup) answer."""
        # One statement, no transaction to open and commit: autocommit saves two round trips
        # on every authenticated request.
        async with AsyncSession(self._autocommit, expire_on_commit=False) as session:
            yield session

    @asynccontextmanager
    async def admin_session(self) -> AsyncIterator[AsyncSession]:
        async with _session(self.system_engine) as session:
            yield session

    @asynccontextmanager
    async def analytics_session(self, tenant_id: UUID | str) -> AsyncIterator[AsyncSession]:
        async with _session(self.analytics_engine) as session:
            await session.execute(SET_TENANT, {"tenant_id": str(tenant_id)})
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        for engine in (self.engine, self.system_engine, self.analytics_engine):
            await engine.dispose()


@asynccontextmanager
async def _session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        yield session
