"""The application processes of the dev stack: the API and one worker, as children that
share the resolved service URLs through their environment and a `dev.env` file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devstack import process as proc
from devstack.errors import DevStackError

ENV_FILE = "dev.env"


def default_api_command() -> list[str]:
    # The production launcher: host, port and worker count come from the environment
    # (API_HOST, API_PORT, API_WORKERS), forwarded headers are trusted from no one.
    return [sys.executable, "-m", "api"]


def default_worker_command() -> list[str]:
    return [sys.executable, "worker.py"]


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """Operator commands (`penguinmails tenant create`, …) find the running stack here."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text("".join(f"{k}={json.dumps(v)}\n" for k, v in env.items()))


@dataclass
class AppProcesses:
    api_url: str
    api_command: Sequence[str]
    worker_command: Sequence[str]
    cwd: Path

    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, init=False)

    def start(self, env: dict[str, str], health_timeout: float = 90.0) -> None:
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        try:
            for name, command in (("API", self.api_command), ("worker", self.worker_command)):
                self.children[name] = proc.spawn(
                    command, env=full_env, cwd=self.cwd, inherit_output=True
                )
            self._wait_healthz(health_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_healthz(self, timeout: float) -> None:
        url = f"{self.api_url}/healthz"
        deadline = time.monotonic() + timeout
        while True:
            exited = self.exited_child()
            if exited is not None:
                raise DevStackError(f"{exited[0]} exited with code {exited[1]} at start")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise DevStackError(f"API did not answer {url} within {timeout:.0f}s")
            time.sleep(0.1)

    def exited_child(self) -> tuple[str, int] | None:
        for name, child in self.children.items():
            code = child.poll()
            if code is not None:
                return name, code
        return None

    def stop(self) -> None:
        """API, then worker (SIGINT: uvicorn and the worker drain on it). Safe to call twice."""
        for name in ("API", "worker"):
            child = self.children.pop(name, None)
            if child is not None:
                proc.stop(child, sig=signal.SIGINT, timeout=35 if name == "worker" else 15)
