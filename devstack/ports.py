"""Loopback ports: the dev stack's defaults, one reservation for a second stack, and the
helpers the launchers share."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

from devstack.errors import DevStackError


def free_port() -> int:
    """A free loopback port that stays free until it is used.

    Chosen below the kernel's ephemeral range: a port picked by binding port 0 comes from
    that range, where any outgoing connection or port-0 listener (Temporal's internal
    services, say) may take it between choosing and binding."""
    low, _ = _ephemeral_range()
    if low - PORT_FLOOR >= 1000:
        for _ in range(200):
            port = random.randrange(PORT_FLOOR, low)
            if bindable(port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PORT_FLOOR = 20000


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_for_port(port: int, timeout: float = 30.0, what: str = "service") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not open 127.0.0.1:{port} within {timeout:.0f}s")


@dataclass
class DevPorts:
    """Loopback ports of the embedded services and the API; each can be moved with its
    variable."""

    postgres: int = 5433
    redis: int = 6380
    temporal: int = 7233
    temporal_ui: int = 8233
    vault: int = 8200  # its raft cluster port is the next one (8201)
    smtp: int = 1025
    dns: int = 5300  # UDP and TCP
    imap: int = 1143  # Dovecot, the development mailboxes
    stripe: int = 8420  # localstripe
    api: int = 8000

    ENV: ClassVar[dict[str, str]] = {
        "postgres": "PM_DEV_PG_PORT",
        "redis": "PM_DEV_REDIS_PORT",
        "temporal": "PM_DEV_TEMPORAL_PORT",
        "temporal_ui": "PM_DEV_TEMPORAL_UI_PORT",
        "vault": "PM_DEV_VAULT_PORT",
        "smtp": "PM_DEV_SMTP_PORT",
        "dns": "PM_DEV_DNS_PORT",
        "imap": "PM_DEV_IMAP_PORT",
        "stripe": "PM_DEV_STRIPE_PORT",
        "api": "API_PORT",
    }

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: int | None) -> DevPorts:
        values: dict[str, int] = {}
        for f in fields(cls):
            override = overrides.get(f.name)
            raw = environ.get(cls.ENV[f.name])
            if override is not None:
                values[f.name] = override
            elif raw:
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise DevStackError(f"{cls.ENV[f.name]}={raw!r} is not a port number") from None
        return cls(**values)


def free_dev_ports() -> dict[str, str]:
    """A free loopback port for every part of a second stack beside the first (end-to-end
    tests, benchmarks), the API's included, as the variables `DevPorts.from_env` reads.

    One reservation for all of them: ports drawn apart could collide (OpenBao's cluster
    listener takes its port + 1, which another draw could have handed to the API)."""
    names = list(DevPorts.ENV.values())
    ports: dict[str, str] = {}
    while len(ports) < len(names):
        port = free_port()
        if bindable(port + 1) and all(abs(port - int(p)) > 1 for p in ports.values()):
            ports[names[len(ports)]] = str(port)
    return ports
