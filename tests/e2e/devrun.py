"""`penguinmails dev` as a subprocess for end-to-end tests: start it on free ports in a
temporary data folder, wait for its ready line, talk to its API, find what it left behind.

Every child the stack starts inherits `DATA_DIR` (or names it on its command line), so after
the stack stops, a scan of /proc for it finds any process left behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devstack.stack import SERVICE_URL_VARS

ROOT = Path(__file__).resolve().parents[2]
STANDINS = Path(__file__).with_name("standins.py")
CONSOLE_SCRIPT = Path(sys.executable).with_name("penguinmails")


@dataclass
class DevRun:
    process: subprocess.Popen[str]
    api_port: int
    lines: list[str] = field(default_factory=list)
    ready_seconds: float | None = None

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.search(r"ready in ([\d.]+) s", line)
                if found:
                    self.ready_seconds = float(found.group(1))
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("no ready line:\n" + "".join(self.lines))

    def healthz(self) -> dict[str, str]:
        url = f"http://127.0.0.1:{self.api_port}/healthz"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
            return json.loads(response.read() or b"{}")

    def interrupt(self, sig: int = signal.SIGINT, timeout: float = 90) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout)


def start_stack(
    data_dir: Path,
    ports: dict[str, str],
    api_port: int,
    standins: bool = True,
    extra_env: dict[str, str] | None = None,
) -> DevRun:
    """`extra_env`: settings for the stack's processes (e.g. WARMUP_DAY_SECONDS)."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_URL_VARS}
    env.update(ports)
    env.update(extra_env or {})
    env["DATA_DIR"] = str(data_dir)
    env["COLUMNS"] = "80"  # piped output ignores it: nothing is wrapped
    # The installed console script, as `make run` starts it (not `python -m`, which would put
    # the working directory on the import path and hide a missing one).
    args = [str(CONSOLE_SCRIPT), "dev", "--api-port", str(api_port)]
    if standins:
        args += [
            "--api-cmd",
            f"{sys.executable} {STANDINS} api {api_port}",
            "--worker-cmd",
            f"{sys.executable} {STANDINS} worker",
        ]
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run = DevRun(process, api_port)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            run.lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    return run


def processes_of(data_dir: Path) -> list[str]:
    """Processes whose command line or environment names `data_dir`."""
    marker = str(data_dir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status:
            continue
        if marker in cmdline or b"DATA_DIR=" + marker + b"\0" in environ + b"\0":
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def dev_env(data_dir: Path) -> dict[str, str]:
    """What the running stack leaves for operator commands (KEY="json string" lines)."""
    env = {}
    for line in (data_dir / "dev.env").read_text().splitlines():
        key, _, value = line.partition("=")
        env[key] = json.loads(value)
    return env


def http(method: str, url: str, body: object = None, key: str | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    if key:
        request.add_header("authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
