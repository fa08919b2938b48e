from uuid import uuid4

from sqlalchemy import text

from penguinmails.db import Database


async def test_tenant_session_sets_tenant_transaction_locally(db: Database) -> None:
    tenant = uuid4()
    async with db.tenant_session(tenant) as session:
        value = (
            await session.execute(text("SELECT current_setting('app.current_tenant_id')"))
        ).scalar()
        assert value == str(tenant)
        role = (await session.execute(text("SELECT current_user"))).scalar()
        assert role == "penguinmails_app"
    # Same pool, next checkout: the setting is gone ('' after a transaction-local set).
    async with db.engine.connect() as conn:
        value = (
            await conn.execute(text("SELECT current_setting('app.current_tenant_id', true)"))
        ).scalar()
        assert value in ("", None)
