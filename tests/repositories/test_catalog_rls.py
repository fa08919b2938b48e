"""Every table of both databases is either tenant-owned under row-level security or in the
documented global list, and tenant isolation holds for each one, proven as the
application role on rows made generically from the catalog. Nothing here names a tenant
table: a table added later is covered as it is."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from asyncpg.exceptions import ForeignKeyViolationError, InsufficientPrivilegeError

from penguinmails.models.catalog import (
    ALL_PRIVILEGES,
    ANALYTICS_GLOBAL_TABLES,
    APP_ROLE_GLOBAL_PRIVILEGES,
    APP_ROLE_TENANT_PRIVILEGES,
    GLOBAL_TABLES,
)
from penguinmails.settings import Settings, asyncpg_dsn
from tests.fixtures.catalog import (
    APP_ROLE,
    GUARDED_CROSS_TENANT_KEYS,
    ONE_OF_REFERENCES,
    SYSTEM_ROLE,
    RowFactory,
    Table,
    insert,
    load_schema,
    table_privileges,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "schema.md"


@dataclass
class Target:
    """One database under test, seen by the superuser and by the application role."""

    name: str
    global_tables: frozenset[str]
    admin: asyncpg.Connection
    app: asyncpg.Connection  # reused across transactions, like a pooled connection
    schema: dict[str, Table]

    @property
    def tenant_tables(self) -> list[Table]:
        return [t for _, t in sorted(self.schema.items()) if t.key is not None]

    @property
    def rows(self) -> RowFactory:
        return RowFactory(self.schema, self.admin)


@asynccontextmanager
async def open_target(name: str, settings: Settings) -> AsyncIterator[Target]:
    analytics = name == "analytics"
    admin_url = settings.analytics_database_url if analytics else settings.database_url
    assert admin_url
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    app = await asyncpg.connect(asyncpg_dsn(settings.app_database_url(analytics=analytics)))
    global_tables = ANALYTICS_GLOBAL_TABLES if analytics else GLOBAL_TABLES
    try:
        yield Target(name, global_tables, admin, app, await load_schema(admin, global_tables))
    finally:
        await app.close()
        await admin.close()


@pytest.fixture(params=["oltp", "analytics"])
async def target(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Target]:
    async with open_target(request.param, settings) as t:
        yield t


@pytest.fixture
async def oltp(settings: Settings) -> AsyncIterator[Target]:
    """The OLTP database alone, for what only it has (users, tenants, composite keys)."""
    async with open_target("oltp", settings) as t:
        yield t


async def as_tenant(
    conn: asyncpg.Connection, tenant: uuid.UUID, work: Callable[..., Awaitable[Any]], *args: Any
) -> Any:
    """`work(*args)` in one transaction with the tenant set transaction-locally, as
    `Database.tenant_session` does."""
    async with conn.transaction():
        await conn.execute("SELECT set_config('app.current_tenant_id', $1, true)", str(tenant))
        return await work(*args)


async def raises(kind: type[Exception], work: Awaitable[Any]) -> bool:
    """Whether `work` fails with exactly this kind of database error (another one, such as
    a NOT NULL violation after the privilege check passed, does not count)."""
    try:
        await work
    except asyncpg.PostgresError as exc:
        return isinstance(exc, kind)
    return False


# --- catalog ---------------------------------------------------------------------------------


async def test_every_table_is_tenant_owned_or_global(target: Target) -> None:
    stray = [t.name for _, t in sorted(target.schema.items()) if not t.is_global and t.key is None]
    assert not stray, f"{target.name}: neither tenant_id nor in the global list: {stray}"
    missing = sorted(target.global_tables - set(target.schema))
    assert not missing, f"{target.name}: global list names tables that do not exist: {missing}"


def test_docs_list_every_global_table() -> None:
    text = DOCS.read_text()
    missing = [t for t in sorted(GLOBAL_TABLES | ANALYTICS_GLOBAL_TABLES) if f"`{t}`" not in text]
    assert not missing, f"docs/schema.md does not mention: {missing}"


async def test_tenant_tables_force_rls_with_a_tenant_index(target: Target) -> None:
    failures = []
    for table in target.tenant_tables:
        key = table.key
        assert key
        if not (table.rls and table.force_rls):
            failures.append(f"{table.name}: row-level security not enabled and forced")
        if not table.columns[key].not_null:
            failures.append(f"{table.name}: {key} is nullable")
        if key not in table.index_first_columns:
            failures.append(f"{table.name}: no index leading with {key}")
        policies = await target.admin.fetch(
            "SELECT qual, with_check FROM pg_policies WHERE schemaname = 'public' AND tablename = $1",
            table.name,
        )
        if not policies or any("NULLIF" not in (p["qual"] or "") for p in policies):
            failures.append(f"{table.name}: no policy, or one without NULLIF")
        expected = APP_ROLE_TENANT_PRIVILEGES.get(table.name, ALL_PRIVILEGES)
        actual = await table_privileges(target.admin, APP_ROLE, table.name)
        if actual != expected:
            failures.append(
                f"{table.name}: app role has {sorted(actual)}, expected {sorted(expected)}"
            )
    assert not failures, "\n".join(failures)


async def test_foreign_keys_between_tenant_tables_are_composite(target: Target) -> None:
    failures = []
    for table in target.tenant_tables:
        for fk in table.foreign_keys:
            parent_key = target.schema[fk.parent].key
            if parent_key is None:
                continue  # a global parent (users, plans): nothing to cross
            pairs = list(zip(fk.columns, fk.parent_columns, strict=True))
            guard = GUARDED_CROSS_TENANT_KEYS.get(fk.name)
            if guard is not None:
                # Crosses tenants on purpose: only with its guard trigger in place (the
                # isolation test below proves it refuses another tenant's row).
                if not await target.admin.fetchval(
                    "SELECT 1 FROM pg_trigger WHERE tgname = $1 AND tgrelid = $2::regclass",
                    guard,
                    table.name,
                ):
                    failures.append(f"{table.name}.{fk.name}: no guard trigger {guard}")
                continue
            if (table.key, parent_key) not in pairs:
                failures.append(
                    f"{table.name}.{fk.name}: {fk.columns} -> {fk.parent}{fk.parent_columns}"
                )
    assert not failures, "foreign keys without the tenant column:\n" + "\n".join(failures)


async def test_oltp_tenant_tables_are_unique_on_tenant_id_id(oltp: Target) -> None:
    missing = [
        t.name
        for t in oltp.tenant_tables
        if "id" in t.columns and t.key == "tenant_id" and ["tenant_id", "id"] not in t.uniques
    ]
    assert not missing, f"no UNIQUE (tenant_id, id): {missing}"


async def test_status_columns_are_checked(target: Target) -> None:
    missing = [
        f"{t.name}.{c.name}"
        for t in target.schema.values()
        for c in t.columns.values()
        if c.type_name == "text"
        and (c.name == "status" or c.name.endswith("_status"))
        and f"ck_{t.name}_{c.name}" not in t.checks
    ]
    assert not missing, f"status columns without a ck_<table>_<column> check: {missing}"


# --- isolation, as the application role ------------------------------------------------------


async def test_tenant_isolation_of_every_tenant_table(target: Target, settings: Settings) -> None:
    fresh = await asyncpg.connect(
        asyncpg_dsn(settings.app_database_url(analytics=target.name == "analytics"))
    )
    failures: list[str] = []
    try:
        for table in target.tenant_tables:
            try:
                failures += await _check_isolation(target, fresh, table)
            except Exception as exc:  # report the table, then carry on with the others
                failures.append(f"{table.name}: {type(exc).__name__}: {exc}")
    finally:
        await fresh.close()
    assert not failures, "\n".join(failures)


async def _check_isolation(target: Target, fresh: asyncpg.Connection, table: Table) -> list[str]:
    name, key = table.name, table.key
    assert key
    rows, app = target.rows, target.app
    failures: list[str] = []
    a, b = uuid.uuid4(), uuid.uuid4()
    if name != "tenants":
        await rows.ensure_tenant(a)
        await rows.ensure_tenant(b)

    # The application role inserts one row in each tenant (parents made by the superuser);
    # where it may not insert at all (membership rows), the superuser seeds them.
    privileges = await table_privileges(target.admin, APP_ROLE, name)
    for tenant in (a, b):
        if "INSERT" in privileges:
            await as_tenant(app, tenant, insert, app, name, await rows.build(name, tenant))
        else:
            await rows.seed(name, tenant)

    # A sees its row and none of B's.
    seen = await as_tenant(app, a, app.fetch, f"SELECT {key} AS k FROM {name}")
    if not seen or any(r["k"] != a for r in seen):
        failures.append(
            f"{name}: tenant A sees {[r['k'] for r in seen]}, expected only its own row"
        )

    # A cannot change or delete B's rows, nor move its own row to B.
    for verb, sql in (
        ("UPDATE", f"UPDATE {name} SET {key} = {key} WHERE {key} = $1"),
        ("DELETE", f"DELETE FROM {name} WHERE {key} = $1"),
    ):
        if verb in privileges:
            status = await as_tenant(app, a, app.execute, sql, b)
            if status != f"{verb} 0":
                failures.append(f"{name}: {verb} of B's rows as A: {status}")
        elif not await raises(InsufficientPrivilegeError, as_tenant(app, a, app.execute, sql, b)):
            failures.append(f"{name}: {verb} without the privilege did not raise")
    if "UPDATE" in privileges and not await raises(
        InsufficientPrivilegeError,
        as_tenant(app, a, app.execute, f"UPDATE {name} SET {key} = $1 WHERE {key} = $2", b, a),
    ):
        failures.append(f"{name}: A moved its row to tenant B (no WITH CHECK)")
    left = await target.admin.fetchval(f"SELECT count(*) FROM {name} WHERE {key} = $1", b)
    if left != 1:
        failures.append(f"{name}: B has {left} rows after A's attempts, expected 1")

    # A cannot insert a row carrying B's tenant.
    foreign = await rows.build(name, b)
    if not await raises(InsufficientPrivilegeError, as_tenant(app, a, insert, app, name, foreign)):
        failures.append(f"{name}: A inserted a row with B's {key}")

    # A cannot point at B's rows through a foreign key (the check itself ignores RLS).
    for fk in table.foreign_keys:
        local = [c for c in fk.columns if c != key]
        if not local or target.schema[fk.parent].key is None or "INSERT" not in privileges:
            continue
        parent_b = await rows.seed(fk.parent, b)
        crossing = await rows.build(name, a)
        for column, parent_column in zip(fk.columns, fk.parent_columns, strict=True):
            if column != key:
                crossing[column] = parent_b[parent_column]
        forced = ONE_OF_REFERENCES.get(name)
        optional = not any(table.columns[c].not_null for c in local)
        if forced and forced not in fk.columns and optional:
            crossing[forced] = None  # one of the references, as its CHECK wants
        if not await raises(
            ForeignKeyViolationError, as_tenant(app, a, insert, app, name, crossing)
        ):
            failures.append(f"{name}: A referenced B's {fk.parent} through {fk.name}")

    # No tenant: no rows and no error, on a connection that never set one (NULL) and on the
    # reused one whose transaction-local setting has ended ('').
    for label, conn in (("never set", fresh), ("after a transaction", app)):
        setting = await conn.fetchval("SELECT current_setting('app.current_tenant_id', true)")
        count = await conn.fetchval(f"SELECT count(*) FROM {name}")
        if count != 0:
            failures.append(
                f"{name}: {count} rows visible with no tenant ({label}, setting {setting!r})"
            )
    return failures


async def test_global_tables_grant_only_what_is_documented(target: Target) -> None:
    failures = []
    for table in sorted(target.global_tables):
        expected = APP_ROLE_GLOBAL_PRIVILEGES.get(table, frozenset())
        if "tenant_id" in target.schema[table].columns and expected:
            failures.append(f"{table}: carries tenant_id, so the app role must hold nothing on it")
        actual = await table_privileges(target.admin, APP_ROLE, table)
        if actual != expected:
            failures.append(f"{table}: app role has {sorted(actual)}, expected {sorted(expected)}")
        first = next(iter(target.schema[table].columns))
        statements = {
            "SELECT": f"SELECT 1 FROM {table} LIMIT 1",
            "INSERT": f"INSERT INTO {table} DEFAULT VALUES",
            "UPDATE": f"UPDATE {table} SET {first} = {first} WHERE false",
            "DELETE": f"DELETE FROM {table} WHERE false",
        }
        tenant = uuid.uuid4()
        for privilege in sorted(ALL_PRIVILEGES - expected):
            work = as_tenant(target.app, tenant, target.app.execute, statements[privilege])
            if not await raises(InsufficientPrivilegeError, work):
                failures.append(f"{table}: app role could {privilege}")
        # Readable global tables that the app may write are still filtered by a policy.
        if expected - {"SELECT"} and not target.schema[table].rls:
            failures.append(f"{table}: writable by the app role without row-level security")
    assert not failures, "\n".join(failures)


async def test_system_role_reaches_every_table(target: Target) -> None:
    lacking = {
        t: sorted(ALL_PRIVILEGES - p)
        for t in sorted(target.schema)
        if (p := await table_privileges(target.admin, SYSTEM_ROLE, t)) != ALL_PRIVILEGES
    }
    assert not lacking, f"system role lacks: {lacking}"


# --- OLTP specifics --------------------------------------------------------------------------


async def test_members_see_only_their_tenants_users_and_preferences(oltp: Target) -> None:
    rows, app = oltp.rows, oltp.app
    a, b = uuid.uuid4(), uuid.uuid4()
    for tenant in (a, b):
        await rows.ensure_tenant(tenant)
    mine = await rows.seed("tenant_users", a)
    theirs = await rows.seed("tenant_users", b)
    for member in (mine, theirs):
        await oltp.admin.execute(
            "INSERT INTO user_preferences (id, user_id) VALUES ($1, $2)",
            uuid.uuid4(),
            member["user_id"],
        )

    users = await as_tenant(app, a, app.fetch, "SELECT id FROM users")
    assert {r["id"] for r in users} == {mine["user_id"]}
    prefs = await as_tenant(app, a, app.fetch, "SELECT user_id FROM user_preferences")
    assert {r["user_id"] for r in prefs} == {mine["user_id"]}
    status = await as_tenant(
        app,
        a,
        app.execute,
        "UPDATE user_preferences SET theme = 'dark' WHERE user_id = $1",
        theirs["user_id"],
    )
    assert status == "UPDATE 0"
    assert await raises(
        InsufficientPrivilegeError,
        as_tenant(
            app,
            a,
            app.execute,
            "INSERT INTO user_preferences (id, user_id) VALUES ($1, $2)",
            uuid.uuid4(),
            theirs["user_id"],
        ),
    )


async def test_deleting_a_tenant_removes_all_of_its_rows(oltp: Target) -> None:
    """Every tenant table cascades from `tenants`, whatever the composite keys between them."""
    rows = oltp.rows
    tenant = uuid.uuid4()
    await rows.ensure_tenant(tenant)
    for table in oltp.tenant_tables:
        if table.name != "tenants":
            await rows.seed(table.name, tenant)
    await oltp.admin.execute("DELETE FROM tenants WHERE id = $1", tenant)
    left = {
        t.name: n
        for t in oltp.tenant_tables
        if (
            n := await oltp.admin.fetchval(
                f"SELECT count(*) FROM {t.name} WHERE {t.key} = $1", tenant
            )
        )
    }
    assert not left, f"rows left after deleting the tenant: {left}"
