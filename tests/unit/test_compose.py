"""docker-compose.yml: the application containers are configured through Settings only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from penguinmails.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("api", "worker", "migrate")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the `- NAME=value` form
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_environment_uses_settings_fields_only(compose: dict[str, Any], name: str) -> None:
    fields = {field.upper() for field in Settings.model_fields}
    env = _environment(compose["services"][name])
    assert env, f"{name} has no environment"
    unknown = sorted(set(env) - fields)
    assert not unknown, f"{name}: not Settings fields: {unknown}"
    assert all(key == key.upper() for key in env)


def test_topology(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for needed in ("postgres", "redis", "temporal", "temporal-ui", "openbao", "api", "worker"):
        assert needed in services
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["temporal"]["environment"]["DB"].startswith("postgres")
    assert services["api"]["command"] == ["python", "-m", "api"]
    api_env = _environment(services["api"])
    assert {"API_HOST", "API_PORT", "API_WORKERS", "FORWARDED_ALLOW_IPS"} <= set(api_env)
    assert services["worker"]["command"] == ["python", "worker.py"]
    assert services["worker"]["deploy"]["replicas"] == 3
    for name in APP_SERVICES:
        assert services[name]["build"] == "."


def test_search_attributes_match_the_dev_stack(compose: dict[str, Any]) -> None:
    from devstack.temporal import SEARCH_ATTRIBUTES

    script = " ".join(compose["services"]["temporal-setup"]["command"])
    for name in SEARCH_ATTRIBUTES:
        assert name in script


def test_api_and_worker_carry_no_admin_database_password(compose: dict[str, Any]) -> None:
    for name in ("api", "worker"):
        env = _environment(compose["services"][name])
        assert "POSTGRES_PASSWORD" not in str(env.get("DATABASE_URL"))
        assert "POSTGRES_PASSWORD" not in str(env.get("ANALYTICS_DATABASE_URL"))


def test_the_image_starts_the_api_launcher() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "api"]' in dockerfile
    assert "uvicorn" not in dockerfile.split("CMD", 1)[1]


# Connections kept free for what is not pooled: migrations, an operator's psql, and the
# server's reserved superuser slots.
ADMIN_MARGIN = 10


def _pooled(env: dict[str, Any]) -> int:
    """Connections one API or worker process may open: each engine's pool and overflow."""
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    total = 0
    for engine in ("", "SYSTEM_", "ANALYTICS_"):
        for part in ("POOL_SIZE", "MAX_OVERFLOW"):
            name = f"DATABASE_{engine}{part}"
            total += int(env.get(name, getattr(defaults, name.lower())))
    return total


def _compose_int(value: Any) -> int:
    """A number, or compose's `${NAME:-default}` read as its default."""
    text = str(value)
    match = re.fullmatch(r"\$\{\w+:-(\d+)\}", text)
    return int(match.group(1) if match else text)


def test_every_pool_together_stays_under_max_connections(compose: dict[str, Any]) -> None:
    services = compose["services"]
    command = services["postgres"]["command"]
    max_connections = int(
        next(c.split("=", 1)[1] for c in command if c.startswith("max_connections="))
    )
    api_env = _environment(services["api"])
    worker_env = _environment(services["worker"])
    api_processes = _compose_int(api_env.get("API_WORKERS", 1))
    workers = int(services["worker"]["deploy"]["replicas"])
    temporal = 2 * int(services["temporal"]["environment"]["SQL_MAX_CONNS"])  # two stores
    total = api_processes * _pooled(api_env) + workers * _pooled(worker_env) + temporal
    assert total + ADMIN_MARGIN <= max_connections, (
        f"{total} pooled connections + {ADMIN_MARGIN} kept free > max_connections {max_connections}"
    )
