"""An API or worker that cannot reach a service says so in one line and exits 1."""

import os
import subprocess
import sys
from pathlib import Path

from devstack.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    environ = {
        **os.environ,
        "DATABASE_URL": f"postgresql://postgres@{dead}/x",
        "ANALYTICS_DATABASE_URL": f"postgresql://postgres@{dead}/y",
        "REDIS_URL": f"redis://{dead}/0",
        "TEMPORAL_ADDRESS": dead,
        "VAULT_ADDR": f"http://{dead}",
        "VAULT_TOKEN": "x",
        **env,
    }
    return subprocess.run(args, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)


def test_api_names_the_unreachable_service_without_a_traceback() -> None:
    port = str(free_port())
    result = _run(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port", port]
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "not reachable" in line]
    assert len(errors) == 1 and "Postgres" in errors[0] and "127.0.0.1" in errors[0], output
    assert "penguinmails_app:***@" in errors[0] or "penguinmails_app@" in errors[0]


def test_worker_names_the_unreachable_service_without_a_traceback() -> None:
    result = _run([sys.executable, "worker.py"])
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert output.strip().splitlines()[-1].startswith("Postgres is not reachable at ")
