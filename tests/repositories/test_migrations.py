"""Both migration trees round-trip on a fresh pair of databases: upgrade, downgrade to
base (nothing left but alembic's table, the roles kept), upgrade again to the same schema."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from penguinmails import migrate
from penguinmails.settings import Settings, asyncpg_dsn
from tests.fixtures.catalog import APP_ROLE, SYSTEM_ROLE

# What a migration creates in schema `public`, as comparable text.
SNAPSHOT = {
    "tables": "SELECT relname || ' rls=' || relrowsecurity || ' force=' || relforcerowsecurity "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')",
    "columns": "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable "
    "|| ' ' || coalesce(column_default, '') || ' ' || coalesce(generation_expression, '') "
    "FROM information_schema.columns WHERE table_schema = 'public'",
    "constraints": "SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(c.oid) "
    "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'",
    "indexes": "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "policies": "SELECT tablename || ' ' || policyname || ' ' || cmd || ' ' || coalesce(qual, '') "
    "|| ' ' || coalesce(with_check, '') FROM pg_policies WHERE schemaname = 'public'",
    "functions": "SELECT p.proname || ' ' || pg_get_function_identity_arguments(p.oid) FROM pg_proc p "
    "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'",
    "grants": "SELECT grantee || ' ' || table_name || ' ' || privilege_type "
    "FROM information_schema.role_table_grants WHERE table_schema = 'public' "
    f"AND grantee IN ('{APP_ROLE}', '{SYSTEM_ROLE}')",
}


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture
async def fresh_settings(pg_admin_url: str, settings: Settings) -> AsyncIterator[Settings]:
    """A pair of empty databases of their own (same server and role passwords as the
    session's, since roles are cluster-wide)."""
    name = f"pm_migr_{uuid.uuid4().hex[:10]}"
    names = (name, f"{name}_analytics")
    admin = await asyncpg.connect(asyncpg_dsn(pg_admin_url))
    try:
        for db in names:
            await admin.execute(f'CREATE DATABASE "{db}"')
        yield settings.model_copy(
            update={
                "database_url": _with_db(pg_admin_url, names[0]),
                "analytics_database_url": _with_db(pg_admin_url, names[1]),
            }
        )
    finally:
        for db in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()


async def _snapshot(url: str) -> dict[str, list[str]]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return {k: sorted(r[0] for r in await conn.fetch(q)) for k, q in SNAPSHOT.items()}
    finally:
        await conn.close()


async def test_upgrade_downgrade_upgrade_round_trips(fresh_settings: Settings) -> None:
    urls = {"oltp": fresh_settings.database_url, "analytics": fresh_settings.analytics_database_url}

    await asyncio.to_thread(migrate.upgrade, fresh_settings)  # alembic runs its own loop
    first = {k: await _snapshot(u) for k, u in urls.items() if u}
    assert len(first["oltp"]["tables"]) > 10 and len(first["analytics"]["tables"]) > 5

    await asyncio.to_thread(migrate.downgrade, fresh_settings)
    for which, url in urls.items():
        assert url
        left = await _snapshot(url)
        tables = [t.split()[0] for t in left["tables"]]
        assert tables == ["alembic_version"], f"{which}: left behind {tables}"
        assert not left["policies"], f"{which}: policies left {left['policies']}"
        assert not left["functions"], f"{which}: functions left {left['functions']}"
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            roles = await conn.fetchval(
                "SELECT count(*) FROM pg_roles WHERE rolname = ANY($1::text[])",
                [APP_ROLE, SYSTEM_ROLE],
            )
            assert roles == 2, f"{which}: downgrade dropped a role"
        finally:
            await conn.close()

    await asyncio.to_thread(migrate.upgrade, fresh_settings)
    second = {k: await _snapshot(u) for k, u in urls.items() if u}
    for which in first:
        for part in SNAPSHOT:
            assert second[which][part] == first[which][part], (
                f"{which} {part} differs after round trip"
            )


async def test_0006_rewrites_recipient_audit_rows_both_ways(fresh_settings: Settings) -> None:
    from alembic import command

    config = migrate.alembic_config(fresh_settings, "oltp")
    await asyncio.to_thread(command.upgrade, config, "0005")
    assert fresh_settings.database_url
    conn = await asyncpg.connect(asyncpg_dsn(fresh_settings.database_url))
    try:
        tenant = uuid.uuid4()
        await conn.execute("INSERT INTO tenants (id, name) VALUES ($1, 't')", tenant)
        insert = (
            "INSERT INTO audit_logs (tenant_id, actor_type, action, entity_type, details) "
            "VALUES ($1, 'system', $2, 'lead', $3::jsonb)"
        )
        await conn.execute(
            insert, tenant, "lead.unsubscribed", '{"actor": "recipient", "via": "page"}'
        )
        await conn.execute(insert, tenant, "lead.erased", "{}")
        rows = "SELECT action, actor_type, details FROM audit_logs ORDER BY action"

        await asyncio.to_thread(command.upgrade, config, "0006")
        assert [tuple(r) for r in await conn.fetch(rows)] == [
            ("lead.erased", "system", "{}"),
            ("lead.unsubscribed", "recipient", '{"via": "page"}'),
        ]
        await asyncio.to_thread(command.downgrade, config, "0005")
        assert [tuple(r) for r in await conn.fetch(rows)] == [
            ("lead.erased", "system", "{}"),
            ("lead.unsubscribed", "system", '{"via": "page", "actor": "recipient"}'),
        ]
    finally:
        await conn.close()


async def test_0007_moves_a_users_name_to_its_only_membership(fresh_settings: Settings) -> None:
    from alembic import command

    config = migrate.alembic_config(fresh_settings, "oltp")
    await asyncio.to_thread(command.upgrade, config, "0006")
    assert fresh_settings.database_url
    conn = await asyncpg.connect(asyncpg_dsn(fresh_settings.database_url))
    try:
        a, b = uuid.uuid4(), uuid.uuid4()
        alone, shared = uuid.uuid4(), uuid.uuid4()
        for tenant in (a, b):
            await conn.execute("INSERT INTO tenants (id, name) VALUES ($1, 't')", tenant)
        for user, name in ((alone, "Ann"), (shared, "Bo")):
            await conn.execute(
                "INSERT INTO users (id, email, name) VALUES ($1, $2, $3)",
                user,
                f"{name}@example.com",
                name,
            )
        member = "INSERT INTO tenant_users (tenant_id, user_id, roles) VALUES ($1, $2, '[]')"
        await conn.execute(member, a, alone)
        await conn.execute(member, a, shared)
        await conn.execute(member, b, shared)

        await asyncio.to_thread(command.upgrade, config, "0007")
        names = await conn.fetch("SELECT tenant_id, user_id, name FROM tenant_users")
        # Which tenant named a shared user is unknown: none of them gets the name.
        assert {(r["tenant_id"], r["user_id"]): r["name"] for r in names} == {
            (a, alone): "Ann",
            (a, shared): None,
            (b, shared): None,
        }
        await asyncio.to_thread(command.downgrade, config, "0006")
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'tenant_users'"
        )
        assert "name" not in {r["column_name"] for r in columns}
    finally:
        await conn.close()
