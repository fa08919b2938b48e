"""Hand-written security DDL that every migration creating a table calls (DESIGN rule 9).

Autogenerate never sees policies, grants or functions, so they live here as plain SQL.
"""

from __future__ import annotations

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
    for role, password, bypass in (
        (APP_ROLE, app_password, "NOBYPASSRLS"),
        (SYSTEM_ROLE, system_password, "BYPASSRLS"),
    ):
        quoted = password.replace("'", "''")
        op.execute(
            f"""
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                    CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE {bypass}
                        PASSWORD '{quoted}';
                ELSE
                    ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE {bypass}
                        PASSWORD '{quoted}';
                END IF;
            END
            $$
            """
        )
    op.execute(f'GRANT CONNECT ON DATABASE "{_current_db()}" TO {APP_ROLE}, {SYSTEM_ROLE}')
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}, {SYSTEM_ROLE}")


def _current_db() -> str:
    bind = op.get_bind()
    return str(bind.exec_driver_sql("SELECT current_database()").scalar())
