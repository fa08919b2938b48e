"""`penguinmails migrate`: both databases to head."""

from __future__ import annotations

from cli.console import console, fail


def migrate() -> None:
    """Apply the migrations of both databases (DATABASE_URL and ANALYTICS_DATABASE_URL, else
    those of the running `penguinmails dev`)."""
    import asyncio

    from cli.operator import operator_settings
    from penguinmails import migrate as migrations
    from penguinmails.checks import ServiceUnavailable, check_postgres

    settings = operator_settings()
    if not settings.database_url or not settings.analytics_database_url:
        fail("DATABASE_URL and ANALYTICS_DATABASE_URL must be set (or run `penguinmails dev`)")
    try:
        asyncio.run(check_postgres(settings.database_url))
        asyncio.run(check_postgres(settings.analytics_database_url))
    except ServiceUnavailable as exc:
        fail(str(exc))
    migrations.upgrade(settings)
    console.print("migrated both databases to head")
