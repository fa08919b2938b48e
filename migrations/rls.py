"""Hand-written security DDL that every migration creating a table calls (DESIGN rule 9).

Autogenerate never sees policies, grants or functions, so they live here as plain SQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

APP_ROLE = "penguinmails_app"
SYSTEM_ROLE = "penguinmails_system"

# `''` after a transaction-local setting ends on a pooled connection, NULL before any: NULLIF
# makes both hide every row instead of raising on the cast.
TENANT_EXPR = "NULLIF(current_setting('app.current_tenant_id', true), '')::uuid"


def enable_tenant_rls(table: str, column: str = "tenant_id") -> None:
    """ENABLE + FORCE row-level security with the one tenant policy, and grant the roles."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} FOR ALL "
        f"USING ({column} = {TENANT_EXPR}) WITH CHECK ({column} = {TENANT_EXPR})"
    )
    grant_roles(table)


def grant_roles(table: str) -> None:
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}, {SYSTEM_ROLE}")


def create_roles(app_password: str, system_password: str) -> None:
    """Create (or re-password) the login roles. Roles are cluster-wide: never dropped here."""
    bind = op.get_bind()
    for role, password, bypass in (
        (APP_ROLE, app_password, "NOBYPASSRLS"),
        (SYSTEM_ROLE, system_password, "BYPASSRLS"),
    ):
        exists = bind.execute(
            sa.text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
        ).scalar()
        # ROLE statements take no bound parameters: the server quotes the name and the
        # password itself (format's %I and %L), so no password can end the statement.
        statement = bind.execute(
            sa.text(
                "SELECT format('%s ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE %s "
                "PASSWORD %L', CAST(:verb AS text), CAST(:role AS text), "
                "CAST(:bypass AS text), CAST(:password AS text))"
            ),
            {
                "verb": "ALTER" if exists else "CREATE",
                "role": role,
                "bypass": bypass,
                "password": password,
            },
        ).scalar_one()
        op.execute(statement)
    grant = bind.execute(
        sa.text(
            "SELECT format('GRANT CONNECT ON DATABASE %I TO %I, %I', current_database(), "
            "CAST(:app AS text), CAST(:system AS text))"
        ),
        {"app": APP_ROLE, "system": SYSTEM_ROLE},
    ).scalar_one()
    op.execute(grant)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}, {SYSTEM_ROLE}")
