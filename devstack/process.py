"""Child processes of the dev stack: spawned in their own session, stopped in order.

Each child gets its own session so that Ctrl-C in the terminal reaches only `penguinmails
dev`, which then stops the children in a fixed order (API and worker before the services they
use). The flip side is that a SIGKILLed parent leaves them running, so every server records
its pid in a file and the next start ends leftovers found there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def spawn(
    args: Sequence[str],
    log_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    pid_file: Path | None = None,
    inherit_output: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `args` in a new session, output appended to `log_path`, or inherited (the API
    and the worker log to the developer's terminal), or discarded."""
    log = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("ab")
    stdout: Any = log if log is not None else (None if inherit_output else subprocess.DEVNULL)
    try:
        process = subprocess.Popen(
            list(args),
            stdout=stdout,
            stderr=subprocess.STDOUT if log is not None else stdout,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        if log is not None:
            log.close()  # the child holds its own descriptor
    if pid_file is not None:
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(str(process.pid))
    return process


def stop(
    process: subprocess.Popen[bytes],
    sig: int = signal.SIGTERM,
    timeout: float = 15.0,
    pid_file: Path | None = None,
) -> int | None:
    """Send `sig`, wait up to `timeout`, then SIGKILL. Returns the exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(5)
    if pid_file is not None:
        pid_file.unlink(missing_ok=True)
    return process.returncode


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not: in a container, PID 1 may never reap it)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def end_leftover(pid_file: Path, binary: Path | str, timeout: float = 10.0) -> bool:
    """End the process recorded in `pid_file` if it still runs `binary` (an earlier, killed
    dev stack). Returns True when one was ended."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    ended = False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        cmdline = ""
    if cmdline and Path(cmdline).name == Path(binary).name:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            if not wait_gone(pid, timeout):
                os.kill(pid, signal.SIGKILL)
            ended = True
    pid_file.unlink(missing_ok=True)
    return ended
