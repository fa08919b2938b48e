"""An open-loop HTTP/1.1 load generator (Debian's wrk has no fixed-rate mode): request i is
due at start + i/rate whatever happened to earlier ones, goes out on an idle keep-alive
connection (a new one when none is idle), and its latency counts from when it was due, so
a stalled server shows up as latency instead of as a slower client (no coordinated
omission).

    python -m bench.support.open_loop URL_BASE PATHS_FILE --rate 1000 --seconds 10 --out OUT

PATHS_FILE holds one request path per line, used round-robin. OUT receives one JSON object:
the statuses and latencies, plus for each 200 answer its path index and completion time
(`time.time()`), which bench/tracking.py matches against the stored events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def get(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length:
            await self.reader.readexactly(length)
        return status


async def run(base: str, paths: list[str], rate: float, seconds: float) -> dict[str, object]:
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Thunderbird/128.0\r\n\r\n"
        ).encode()
        for path in paths
    ]
    idle: list[Connection] = []
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    ok: list[tuple[int, float]] = []
    total = int(rate * seconds)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1

    async def one(i: int, due: float) -> None:
        index = i % len(requests)
        conn = idle.pop() if idle else None
        try:
            if conn is None:
                reader, writer = await asyncio.open_connection(host, port)
                conn = Connection(reader, writer)
            status = await conn.get(requests[index])
        except (OSError, asyncio.IncompleteReadError, ValueError):
            statuses["error"] = statuses.get("error", 0) + 1
            if conn is not None:
                conn.writer.close()
            return
        done = loop.time()
        idle.append(conn)
        latencies.append((done - due) * 1000)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == 200:
            ok.append((index, time.time()))

    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    for conn in idle:
        conn.writer.close()
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0.0

    return {
        "sent": total,
        "statuses": statuses,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] if latencies else 0.0,
        "ok": ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("paths")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.paths, encoding="utf-8") as f:
        paths = [line.strip() for line in f if line.strip()]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args.base, paths, args.rate, args.seconds))
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
