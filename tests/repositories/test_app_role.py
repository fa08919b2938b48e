"""The roles the processes log in as: never superuser, the application role never
BYPASSRLS (superusers and BYPASSRLS roles ignore even FORCE ROW LEVEL SECURITY), and
neither owns anything (an owner could drop policies or disable RLS)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text

from penguinmails.db import Database
from penguinmails.settings import Settings, asyncpg_dsn
from tests.fixtures.catalog import APP_ROLE, SYSTEM_ROLE

ROLES = (APP_ROLE, SYSTEM_ROLE)

# Everything a role can own in a database, by catalog.
OWNED = """
SELECT 'relation ' || c.relname FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE pg_get_userbyid(c.relowner) = $1 AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'function ' || p.proname FROM pg_proc p WHERE pg_get_userbyid(p.proowner) = $1
UNION ALL
SELECT 'schema ' || n.nspname FROM pg_namespace n WHERE pg_get_userbyid(n.nspowner) = $1
UNION ALL
SELECT 'type ' || t.typname FROM pg_type t WHERE pg_get_userbyid(t.typowner) = $1
UNION ALL
SELECT 'database ' || d.datname FROM pg_database d WHERE pg_get_userbyid(d.datdba) = $1
"""


@pytest.fixture(params=["oltp", "analytics"])
async def admin(
    request: pytest.FixtureRequest, settings: Settings
) -> AsyncIterator[asyncpg.Connection]:
    url = settings.analytics_database_url if request.param == "analytics" else settings.database_url
    assert url
    conn = await asyncpg.connect(asyncpg_dsn(url))
    yield conn
    await conn.close()


async def test_roles_are_neither_superuser_nor_privileged(admin: asyncpg.Connection) -> None:
    rows = {
        r["rolname"]: r
        for r in await admin.fetch(
            "SELECT rolname, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolcanlogin "
            "FROM pg_roles WHERE rolname = ANY($1::text[])",
            list(ROLES),
        )
    }
    assert set(rows) == set(ROLES)
    for role in ROLES:
        assert rows[role]["rolcanlogin"], role
        assert not rows[role]["rolsuper"], role
        assert not rows[role]["rolcreaterole"], role
        assert not rows[role]["rolcreatedb"], role
    assert not rows[APP_ROLE]["rolbypassrls"]
    # The system role is the documented cross-tenant path (admin_session): BYPASSRLS on purpose.
    assert rows[SYSTEM_ROLE]["rolbypassrls"]


async def test_roles_own_nothing(admin: asyncpg.Connection) -> None:
    for role in ROLES:
        owned = [r[0] for r in await admin.fetch(OWNED, role)]
        assert not owned, f"{role} owns {owned}"


async def test_roles_are_members_of_no_other_role(admin: asyncpg.Connection) -> None:
    # A membership would hand them the privileges (or ownerships) of another role.
    rows = await admin.fetch(
        "SELECT r.rolname, g.rolname AS grp FROM pg_auth_members m "
        "JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid "
        "WHERE r.rolname = ANY($1::text[])",
        list(ROLES),
    )
    assert not rows, [tuple(r) for r in rows]


async def test_security_definer_functions_are_pinned_and_not_public(
    admin: asyncpg.Connection, request: pytest.FixtureRequest
) -> None:
    rows = await admin.fetch(
        "SELECT p.proname, p.proconfig, p.proacl::text[] AS acl FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND p.prosecdef"
    )
    # The ones the migrations create (a new one belongs here too, so it gets checked).
    names = sorted(r["proname"] for r in rows)
    oltp = request.node.callspec.params["admin"] == "oltp"
    expected = [
        "auth_api_key",
        "domain_ip_assignments_shared_guard",  # 0019: a shared-IP key names a shared IP
        "pick_shared_ip",  # 0019: the shared pool's least used IP
        "shared_ips",  # 0019: what a tenant learns of the shared pool
        "warmup_pool_partners",  # 0018: the warmup pool's addresses
    ]
    assert names == (expected if oltp else []), names
    for row in rows:
        config = row["proconfig"] or []
        assert any(c.startswith("search_path=") for c in config), (
            f"{row['proname']}: search_path not set"
        )
        # An ACL entry for PUBLIC starts with '='; none means only the grants made by hand.
        assert row["acl"] is not None and not any(a.startswith("=") for a in row["acl"]), row[
            "proname"
        ]


async def test_database_sessions_log_in_as_the_roles(db: Database, settings: Settings) -> None:
    who = text("SELECT session_user, current_user, current_database()")
    oltp = settings.database_url.rsplit("/", 1)[1] if settings.database_url else None
    analytics = (
        settings.analytics_database_url.rsplit("/", 1)[1]
        if settings.analytics_database_url
        else None
    )
    async with db.tenant_session("00000000-0000-0000-0000-000000000001") as session:
        assert tuple((await session.execute(who)).one()) == (APP_ROLE, APP_ROLE, oltp)
    async with db.admin_session() as session:
        assert tuple((await session.execute(who)).one()) == (SYSTEM_ROLE, SYSTEM_ROLE, oltp)
    async with db.analytics_session("00000000-0000-0000-0000-000000000001") as session:
        assert tuple((await session.execute(who)).one()) == (APP_ROLE, APP_ROLE, analytics)
