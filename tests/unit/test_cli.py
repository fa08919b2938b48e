"""`penguinmails dev` start-up failures: one line naming the service, exit code 1."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from devstack.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVICE_VARS = (
    "DATABASE_URL",
    "ANALYTICS_DATABASE_URL",
    "REDIS_URL",
    "TEMPORAL_ADDRESS",
    "VAULT_ADDR",
    "VAULT_TOKEN",
)


def _dev(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    full.update(env)
    full["DATA_DIR"] = str(tmp_path / "data")
    full["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "cli", "dev", "--api-port", str(free_port())],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]


def test_unreachable_configured_redis(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    line = _one_line(_dev(tmp_path, REDIS_URL=url))
    assert f"Redis is not reachable at {url}: Connection refused" in line


def test_unreachable_configured_postgres_hides_the_password(tmp_path: Path) -> None:
    port = free_port()
    line = _one_line(
        _dev(
            tmp_path,
            DATABASE_URL=f"postgresql://admin:hunter2@127.0.0.1:{port}/penguinmails",
            ANALYTICS_DATABASE_URL=f"postgresql://admin:hunter2@127.0.0.1:{port}/analytics",
        )
    )
    assert "Postgres is not reachable at postgresql://admin:***@127.0.0.1:" in line
    assert "hunter2" not in line


def test_unreachable_configured_vault(tmp_path: Path) -> None:
    addr = f"http://127.0.0.1:{free_port()}"
    line = _one_line(_dev(tmp_path, VAULT_ADDR=addr, VAULT_TOKEN="t"))
    assert f"Vault is not reachable at {addr}" in line


def test_half_configured_database_is_refused(tmp_path: Path) -> None:
    line = _one_line(_dev(tmp_path, DATABASE_URL="postgresql://u@127.0.0.1:1/x"))
    assert "ANALYTICS_DATABASE_URL" in line


def test_port_in_use_names_the_variable(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        line = _one_line(_dev(tmp_path, PM_DEV_SMTP_PORT=str(port)))
    assert f"port {port} is already in use" in line
    assert "PM_DEV_SMTP_PORT" in line


def test_the_ready_table_is_not_wrapped_when_piped() -> None:
    """`penguinmails dev`'s table of URLs, printed into a pipe (a log, `| tee`): a long
    value stays on its row's line whatever COLUMNS says."""
    long_path = "/" + "a-long-folder-name/" * 12
    script = (
        "from types import SimpleNamespace\n"
        "from cli.dev import _print_ready\n"
        f"rows = [('API', 'http://127.0.0.1:8000'), ('State', {long_path!r})]\n"
        f"stack = SimpleNamespace(urls=lambda: rows, data_dir={long_path!r})\n"
        "_print_ready(stack, 1.0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.match(rf"^State\s+{re.escape(long_path)}\s*$", lines[1]), lines
    assert lines[2].startswith("ready in 1.0 s") and long_path in lines[2], lines
    assert len(lines) == 3, lines


def test_usage_errors_are_one_line_when_piped(tmp_path: Path) -> None:
    missing = tmp_path.joinpath(*["a-long-folder-name"] * 8, "leads.csv")
    result = subprocess.run(
        [sys.executable, "-m", "cli", "leads", "import", str(missing), "--list", "L"],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "80", "PENGUINMAILS_API_KEY": "x"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    [line] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert f"'{missing}' does not exist" in line
