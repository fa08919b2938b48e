"""The one list of global tables (DESIGN rule 8), per database.

Every other table in schema `public` is tenant-owned: it carries `tenant_id NOT NULL`, and
row-level security (ENABLE + FORCE, the NULLIF policy) with an index leading with it. The
catalog tests enumerate `pg_catalog` and fail on any table that is neither; `docs/schema.md`
lists the same names.
"""

from __future__ import annotations

from collections.abc import Mapping

# OLTP tables shared by every tenant.
GLOBAL_TABLES: frozenset[str] = frozenset(
    {
        "users",  # one person, several tenants; RLS shows the app role members only
        "user_preferences",  # the person's own; RLS shows the app role members only
        "plans",
        "staff_roles",
        "staff_members",
        "permissions",
        "staff_role_permissions",
        "system_config",
        "feature_flags",
        "feature_flag_overrides",  # staff only; `tenant_id`: whose override
        "platform_audit_logs",  # staff changes to platform-wide settings
        "system_notifications",  # staff alerts; `tenant_id` there says what it is about
        "stripe_events",  # received webhooks of every tenant; `tenant_id`: whose
    }
)

# Analytics tables shared by every tenant: none, every event and roll-up is a tenant's.
ANALYTICS_GLOBAL_TABLES: frozenset[str] = frozenset()

# Tenant-owned tables whose tenant key is not `tenant_id`: a tenant's own row.
TENANT_KEY_COLUMNS: Mapping[str, str] = {"tenants": "id"}

# What the application role may do on each global table (absent: nothing). The system role
# (`admin_session()`) may read and write all of them. A global table that carries a
# `tenant_id` must stay out of reach of the application role entirely.
APP_ROLE_GLOBAL_PRIVILEGES: Mapping[str, frozenset[str]] = {
    "users": frozenset({"SELECT"}),
    "user_preferences": frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"}),
    "plans": frozenset({"SELECT"}),
    "feature_flags": frozenset({"SELECT"}),
}

# Tenant tables where the application role holds less than SELECT/INSERT/UPDATE/DELETE.
APP_ROLE_TENANT_PRIVILEGES: Mapping[str, frozenset[str]] = {
    "audit_logs": frozenset({"SELECT", "INSERT"}),  # append-only trail
    # Membership rows are created by the system role; the app role may only change the
    # columns roles/email/updated/deleted (a column grant, which this table-level check
    # does not count) or delete a row.
    "tenant_users": frozenset({"SELECT", "DELETE"}),
}

ALL_PRIVILEGES: frozenset[str] = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})


def tenant_key(table: str) -> str:
    return TENANT_KEY_COLUMNS.get(table, "tenant_id")


__all__ = [
    "ALL_PRIVILEGES",
    "ANALYTICS_GLOBAL_TABLES",
    "APP_ROLE_GLOBAL_PRIVILEGES",
    "APP_ROLE_TENANT_PRIVILEGES",
    "GLOBAL_TABLES",
    "TENANT_KEY_COLUMNS",
    "tenant_key",
]
