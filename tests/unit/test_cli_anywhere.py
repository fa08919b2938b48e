"""Operator commands find the dev stack's state from any working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_SCRIPT = Path(sys.executable).with_name("penguinmails")
SERVICE_VARS = (
    "DATABASE_URL",
    "ANALYTICS_DATABASE_URL",
    "REDIS_URL",
    "TEMPORAL_ADDRESS",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "DATA_DIR",
    "SMTP_SINK_DIR",
    "SMTP_SINK_PORT",
)


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    full.update(env)
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_default_data_dir_is_the_checkouts_from_anywhere(tmp_path: Path) -> None:
    probe = "from penguinmails.settings import Settings; s = Settings(); print(s.data_dir, s.smtp_sink_dir)"
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(ROOT / ".data"), str(ROOT / ".data" / "sink")]


def test_without_a_stack_the_error_says_what_to_set(tmp_path: Path) -> None:
    data_dir = tmp_path / "nothing-here"
    result = _run(
        tmp_path, "tenant", "create", "Acme", "ops@acme.example.com", DATA_DIR=str(data_dir)
    )
    assert result.returncode == 1
    assert f"no running `penguinmails dev` in {data_dir}" in result.stderr
    assert "set DATA_DIR" in result.stderr and "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("command", "service"),
    [
        (["tenant", "create", "Acme", "ops@acme.example.com"], "Postgres"),
        (["staff", "create", "staff@penguinmails.example.com"], "Postgres"),
        (["migrate"], "Postgres"),
        (["dev", "reply", "<no-such@id>", "hello"], "sink"),
    ],
)
def test_operator_commands_read_the_running_stacks_state(
    tmp_path: Path, command: list[str], service: str
) -> None:
    """From an unrelated folder, each command takes the URLs a running stack wrote to
    dev.env: here they point at closed ports, so each fails naming what it tried to reach."""
    data_dir = tmp_path / "data"
    (data_dir / "sink").mkdir(parents=True)
    pg = free_port()
    dev_env = {
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg}/penguinmails",
        "ANALYTICS_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg}/analytics",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "SMTP_SINK_DIR": str(data_dir / "sink"),
        "SMTP_SINK_PORT": str(free_port()),
    }
    (data_dir / "dev.env").write_text("".join(f"{k}={json.dumps(v)}\n" for k, v in dev_env.items()))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = _run(elsewhere, *command, DATA_DIR=str(data_dir))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    if service == "Postgres":
        assert "Postgres is not reachable at postgresql://" in result.stderr
        assert f"@127.0.0.1:{pg}/penguinmails" in result.stderr
    else:  # the sink folder of dev.env was searched for the original message
        assert f"no message with Message-ID <no-such@id> in {data_dir / 'sink'}" in result.stderr
