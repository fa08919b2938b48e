"""The dev stack's Redis keeps the events stream across a restart: append-only file with an
fsync every second, so an event acknowledged before a clean shutdown is there afterwards."""

from __future__ import annotations

from pathlib import Path

import redis

from devstack.ports import free_port
from devstack.redis import start_redis


def test_stream_survives_a_restart(tmp_path: Path) -> None:
    port = free_port()
    server = start_redis(tmp_path, port)
    try:
        client = redis.Redis(port=port)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        ids = [client.xadd("events", {"id": str(n), "type": "open"}) for n in range(100)]
        client.close()
    finally:
        server.stop()
    server = start_redis(tmp_path, port)
    try:
        client = redis.Redis(port=port)
        stored = [entry_id for entry_id, _ in client.xrange("events")]
        assert stored == ids
        client.close()
    finally:
        server.stop()
