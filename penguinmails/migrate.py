"""Programmatic migrations of both databases (used by `penguinmails migrate`, the dev stack
and the test fixtures)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from penguinmails.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DATABASES = ("oltp", "analytics")


def alembic_config(settings: Settings, database: str) -> Config:
    section = "alembic" if database == "oltp" else "analytics"
    config = Config(str(ROOT / "alembic.ini"), ini_section=section)
    url = settings.database_url if database == "oltp" else settings.analytics_database_url
    if not url:
        raise RuntimeError(f"no URL for the {database} database")
    config.attributes["url"] = url
    config.attributes["configure_logging"] = False
    config.attributes["app_password"] = settings.app_database_password.get_secret_value()
    config.attributes["system_password"] = settings.system_database_password.get_secret_value()
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    for database in DATABASES:
        command.upgrade(alembic_config(settings, database), revision)


def downgrade(settings: Settings, revision: str = "base") -> None:
    for database in DATABASES:
        command.downgrade(alembic_config(settings, database), revision)
