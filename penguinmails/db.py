"""Async engines and the ways to open a session.

`tenant_session(tenant_id)` is the normal path: the application role, one transaction, the
tenant set transaction-locally with `set_config(..., true)` so a pooled connection never
carries it into the next checkout. Row-level security does the filtering.

`admin_session()` is the narrow cross-tenant path (sign-up, routing before the tenant is
known): a separate role with BYPASSRLS that still is not a superuser and owns nothing.

Neither commits inside a repository: the context manager commits when the block ends and
rolls back when it raises.

A tenant transaction costs one round trip before its first statement and one for its
COMMIT. SQLAlchemy would send `BEGIN ISOLATION LEVEL …` and then `set_config` as two; here
the connection runs in SQLAlchemy's autocommit mode and the transaction is opened below it,
with `BEGIN …; SELECT set_config(…)` as one simple-protocol message (the tenant id is a
validated UUID, never client text), and ended with a plain COMMIT or ROLLBACK.

No pre-ping (it cost a round trip per checkout): connections are recycled after
`database_pool_recycle_seconds`, and a connection found dead by the first round trip of a
transaction, before any statement of the caller ran, is discarded and the transaction
opened once more on a fresh one. Nothing is retried after that point (a COMMIT that was
sent may have been applied): the caller gets the error. `DatabaseUnavailable` says the
database could not be reached at all.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.settings import Settings, sqlalchemy_async_url

log = logging.getLogger(__name__)

SET_TENANT = text("SELECT set_config('app.current_tenant_id', :tenant_id, true)")
T = TypeVar("T")


class DatabaseUnavailable(Exception):
    """The database could not be reached, or the connection dropped (after the one retry
    where a retry was safe)."""


def make_engine(
    url: str,
    pool_size: int = 5,
    max_overflow: int | None = None,
    recycle_seconds: int = 1800,
    connect_timeout: float = 5.0,
    **options: Any,
) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_recycle=recycle_seconds,
        # A dead database answers within the connect timeout instead of asyncpg's minute.
        connect_args={"timeout": connect_timeout},
        # Statement parameters may carry personal data (addresses, names): never in logs
        # or exception messages.
        hide_parameters=True,
        **options,
    )


def begin_sql(tenant_id: UUID | str) -> str:
    """BEGIN and the tenant, as one simple-protocol message. The id goes through UUID():
    only a well-formed UUID is ever written into the SQL text."""
    tenant = UUID(str(tenant_id))
    return (
        "BEGIN ISOLATION LEVEL READ COMMITTED; "
        f"SELECT set_config('app.current_tenant_id', '{tenant}', true)"
    )


def _is_disconnect(error: BaseException, driver: asyncpg.Connection | None = None) -> bool:
    """Whether `error` means the connection is gone (as opposed to an SQL error)."""
    if driver is not None and driver.is_closed():
        return True
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(
            cause,
            OSError
            | TimeoutError
            | asyncpg.ConnectionDoesNotExistError
            | asyncpg.PostgresConnectionError
            | asyncpg.AdminShutdownError
            | asyncpg.CannotConnectNowError,
        ):
            return True
        cause = cause.__cause__
    return False


async def driver_of(conn: AsyncConnection) -> asyncpg.Connection:
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    return driver


def _driver_now(conn: AsyncConnection) -> asyncpg.Connection:
    """`driver_of` without its greenlet hop, for a connection just checked out (its pool
    connection is in place, so reading it cannot reconnect)."""
    sync = conn.sync_connection
    assert sync is not None
    driver: asyncpg.Connection = sync.connection.driver_connection
    return driver


async def _release(conn: AsyncConnection, driver: asyncpg.Connection | None = None) -> None:
    """Back to the pool with no transaction open, or discarded when it is broken."""
    clean = False
    try:
        if driver is None:
            driver = await driver_of(conn)
        if driver.is_closed():
            await conn.invalidate()
        elif driver.is_in_transaction():
            try:
                await driver.execute("ROLLBACK")
            except Exception:
                await conn.invalidate()
        else:
            clean = True
    finally:
        if clean and conn.sync_connection is not None:
            # Checked in without a greenlet hop: the engine runs in autocommit mode, so
            # SQLAlchemy never opened a driver transaction and the pool's reset sends
            # nothing (tests/repositories/test_db_pool.py holds this).
            conn.sync_connection.close()
        else:
            await conn.close()


class Database:
    """Holds the engines of one process (the API lifespan or a worker)."""

    def __init__(self, settings: Settings) -> None:
        recycle = settings.database_pool_recycle_seconds
        timeout = settings.database_connect_timeout_seconds
        # In SQLAlchemy's autocommit mode for good (nothing to switch at each checkout):
        # tenant transactions are opened and ended by hand (see the module's docstring),
        # the API-key lookup needs none.
        self.engine = make_engine(
            settings.app_database_url(),
            settings.database_pool_size,
            settings.database_max_overflow,
            recycle,
            timeout,
            isolation_level="AUTOCOMMIT",
        )
        self.system_engine = make_engine(
            settings.system_database_url(),
            settings.database_system_pool_size,
            settings.database_system_max_overflow,
            recycle,
            timeout,
        )
        self.analytics_engine = make_engine(
            settings.app_database_url(analytics=True),
            settings.database_analytics_pool_size,
            settings.database_analytics_max_overflow,
            recycle,
            timeout,
        )

    async def _open(
        self, first: Callable[[asyncpg.Connection], Awaitable[T]]
    ) -> tuple[AsyncConnection, asyncpg.Connection, T]:
        """A pooled autocommit connection of the application role on which `first` (the
        caller's first round trip, which must be safe to repeat) succeeded. A connection
        that turns out dead is discarded and `first` runs once more on a fresh one; then
        `DatabaseUnavailable`."""
        for attempt in (1, 2):
            conn: AsyncConnection | None = None
            driver: asyncpg.Connection | None = None
            try:
                try:
                    conn = await self.engine.connect()
                except sa_exc.TimeoutError as error:  # every pooled connection busy
                    raise DatabaseUnavailable("no database connection free") from error
                driver = _driver_now(conn)
                return conn, driver, await first(driver)
            except Exception as error:
                if conn is not None:
                    if _is_disconnect(error, driver):
                        await conn.invalidate()
                    await _release(conn, driver)
                if not _is_disconnect(error, driver):
                    raise
                if attempt == 2:
                    raise DatabaseUnavailable("the database is unreachable") from error
                log.warning("database connection lost before the transaction began; retrying")
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def connection(
        self, first: Callable[[asyncpg.Connection], Awaitable[T]]
    ) -> AsyncIterator[tuple[AsyncConnection, T]]:
        """`_open`'s connection and `first`'s result, released with any transaction left
        open rolled back."""
        conn, driver, result = await self._open(first)
        try:
            yield conn, result
        finally:
            await _release(conn, driver)

    def tenant_session(self, tenant_id: UUID | str, prelude: str = "") -> TenantTransaction:
        """One transaction of the tenant: BEGIN and set_config in one round trip, COMMIT in
        one. `prelude`: SQL of the caller sent in that same message ahead of the BEGIN (its
        own complete transactions; built from validated values only). Used as
        `async with db.tenant_session(tenant_id) as session`."""
        return TenantTransaction(self, prelude + begin_sql(tenant_id))

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


class TenantTransaction:
    """The tenant transaction's context manager (`Database.tenant_session`): a session on a
    connection whose transaction was opened by hand; the session flushes, the COMMIT or
    ROLLBACK goes straight to the server. `session.info["driver"]` is the asyncpg
    connection, for the few reads that skip SQLAlchemy (`page_rows`).

    A class rather than generator-based context managers nested three deep: every API
    request that touches the tenant's rows enters and leaves one."""

    __slots__ = ("_conn", "_db", "_driver", "_opening", "_session")

    def __init__(self, db: Database, opening: str) -> None:
        self._db = db
        self._opening = opening

    async def _begin(self, driver: asyncpg.Connection) -> None:
        await driver.execute(self._opening)

    async def __aenter__(self) -> AsyncSession:
        conn, driver, _ = await self._db._open(self._begin)
        session = AsyncSession(bind=conn, expire_on_commit=False)
        session.info["driver"] = driver
        self._conn, self._driver, self._session = conn, driver, session
        return session

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        session, driver = self._session, self._driver
        try:
            if exc is not None:
                await self._abandon(exc)
                return  # the route's own exception goes on
            try:
                if session.in_transaction() or session.new or session.dirty or session.deleted:
                    await session.commit()  # flushes; in autocommit mode no COMMIT is sent
                await driver.execute("COMMIT")
            except BaseException as error:
                await self._abandon(error)
                raise
        finally:
            # A session the route never used (a list read on the driver) holds nothing to
            # release: its close would only cost a greenlet hop.
            try:
                if session.in_transaction() or session.identity_map:
                    await session.close()
            finally:
                await _release(self._conn, driver)

    async def _abandon(self, error: BaseException) -> None:
        """Roll back after `error`; a connection lost with statements run (or a COMMIT
        sent) is not retried: the caller is told (`DatabaseUnavailable`)."""
        session, driver, conn = self._session, self._driver, self._conn
        if session.in_transaction():
            await session.rollback()
        if driver.is_closed():
            await conn.invalidate()
            if isinstance(error, Exception):
                raise DatabaseUnavailable("the database connection was lost") from error
        elif driver.is_in_transaction():
            try:
                await driver.execute("ROLLBACK")
            except Exception:
                await conn.invalidate()


@asynccontextmanager
async def _session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        yield session


__all__ = [
    "Database",
    "DatabaseUnavailable",
    "TenantTransaction",
    "begin_sql",
    "driver_of",
    "make_engine",
]
