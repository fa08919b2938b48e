"""The tenant transaction's check-out and check-in (penguinmails/db.py): every way a
transaction ends leaves its connection back in the pool with nothing open, and a clean one
is taken again as it was (checked in without a round trip)."""

from __future__ import annotations

from uuid import uuid4

import pytest
from sqlalchemy import text

from penguinmails.db import Database, DatabaseUnavailable


def _checked_out(db: Database) -> int:
    return db.engine.sync_engine.pool.checkedout()  # type: ignore[attr-defined]


async def test_every_ending_returns_the_connection_with_nothing_open(db: Database) -> None:
    tenant = uuid4()
    before = _checked_out(db)

    async with db.tenant_session(tenant) as session:  # unused: no ORM work at all
        driver = session.info["driver"]
    assert _checked_out(db) == before and not driver.is_in_transaction()

    async with db.tenant_session(tenant) as session:  # ORM work, committed
        assert (await session.execute(text("SELECT 1"))).scalar() == 1
    assert _checked_out(db) == before

    with pytest.raises(ZeroDivisionError):
        async with db.tenant_session(tenant) as session:  # the route raises
            await session.execute(text("SELECT 1"))
            1 / 0  # noqa: B018
    assert _checked_out(db) == before

    with pytest.raises(Exception, match=r"division by zero"):
        async with db.tenant_session(tenant) as session:  # the database refuses
            await session.execute(text("SELECT 1 / 0"))
    assert _checked_out(db) == before

    # The pooled connections left are idle, outside any transaction, tenant unset.
    async with db.tenant_session(tenant) as session:
        driver = session.info["driver"]
        assert driver.is_in_transaction()
        setting = await driver.fetchval("SELECT current_setting('app.current_tenant_id')")
        assert setting == str(tenant)
    assert not driver.is_in_transaction()


async def test_a_clean_connection_is_taken_again_as_it_was(db: Database) -> None:
    async with db.tenant_session(uuid4()) as session:
        first = session.info["driver"]
    # The pool hands idle connections out in turn: going round all of them reaches the
    # one just returned, unchanged and usable (three rounds at most, should a worker of
    # the test session borrow one meanwhile).
    idle = db.engine.sync_engine.pool.checkedin()  # type: ignore[attr-defined]
    seen = set()
    for _ in range(3 * (idle + 1)):
        async with db.tenant_session(uuid4()) as session:
            seen.add(id(session.info["driver"]))
            assert await session.info["driver"].fetchval("SELECT 1") == 1
        if id(first) in seen:
            break
    assert id(first) in seen
    assert not first.is_closed()


async def test_a_connection_closed_under_the_route_is_discarded(db: Database) -> None:
    before = _checked_out(db)
    with pytest.raises(DatabaseUnavailable):
        async with db.tenant_session(uuid4()) as session:
            driver = session.info["driver"]
            driver.terminate()
            await driver.fetchval("SELECT 1")
    assert _checked_out(db) == before
    async with db.tenant_session(uuid4()) as session:
        assert session.info["driver"] is not driver
        assert await session.info["driver"].fetchval("SELECT 1") == 1
