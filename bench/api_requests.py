"""An authenticated, tenant-scoped API read under load, against bare Starlette endpoints.

The project's path: `GET /v1/companies?limit=20` on the real stack (`penguinmails dev` in a
temporary data folder: uvicorn, API-key lookup through the SECURITY DEFINER function,
per-IP and per-key rate limits in Redis, a tenant session under row-level security, keyset
pagination, the error/request-id middleware).

Two baselines under the same uvicorn settings (one worker, no access log), in the same run:
- `requests_per_s`: a bare Starlette endpoint running the same query with raw asyncpg (a
  pool; one transaction of `set_config` and the select, as the application role, against
  the same database and tenant) and answering the same JSON (bench/support/asyncpg_app.py);
- `requests_per_s_vs_memory`: the same page served from memory (bench/support/bare_app.py);
- `requests_per_s_vs_fastapi_floor`: the asyncpg baseline's SQL and JSON behind FastAPI (a
  `yield` dependency for the connection, a typed query parameter), no auth, limits or
  middleware (bench/support/fastapi_asyncpg_app.py): the part of the gap that is the
  framework's own, so the rest is what the project adds.

Beside each rate, `cpu_ms_per_request`: the server process's CPU time (user + system, from
/proc) over the requests it answered in the same runs. On a machine shared with other work,
requests per second move with the neighbours; CPU per request does much less, and its
ratio is the throughput ratio a dedicated core would show.

All three are loaded by wrk over loopback, interleaved run by run so that a noisy neighbour
hits each alike; figures are medians of `--runs` runs.

    python bench/api_requests.py [--seconds 10] [--connections 16] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support.procstat import cpu_seconds, listener_pid  # noqa: E402
from bench.support.wrk import WrkResult, run_wrk  # noqa: E402
from devstack.ports import (  # noqa: E402
    free_dev_ports,
    free_port,
    wait_for_port,
)
from devstack.stack import SERVICE_URL_VARS  # noqa: E402
from penguinmails.settings import Settings, asyncpg_dsn  # noqa: E402


def _post(url: str, body: dict[str, str], key: str | None = None) -> dict[str, str]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("content-type", "application/json")
    if key:
        request.add_header("authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@contextmanager
def dev_stack(extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, dict[str, str]]]:
    """`penguinmails dev` on free ports in a temporary folder; yields the API's base URL and
    the stack's resolved service URLs (its `dev.env`). `extra_env` is set after the stack's
    own (a `REDIS_URL` there makes the stack use that Redis)."""
    root = Path(tempfile.mkdtemp(prefix="pm-bench-"))
    root.chmod(0o755)  # the embedded Postgres runs as another user
    ports = free_dev_ports()  # one reservation, the API's port included
    api_port = int(ports["API_PORT"])
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_URL_VARS}
    env.update(ports)
    env.update(
        DATA_DIR=str(root / "data"),
        # The load comes from one address with one key: lift the limits, keep the checks.
        RATE_LIMIT_PER_KEY_PER_MINUTE=str(10**9),
        RATE_LIMIT_PER_IP_PER_MINUTE=str(10**9),
    )
    env.update(extra_env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "dev", "--api-port", str(api_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while not (root / "data" / "dev.env").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("penguinmails dev did not start")
            time.sleep(0.2)
        wait_for_port(api_port, 60, "API")
        lines = (root / "data" / "dev.env").read_text().splitlines()
        stack_env = {
            k: json.loads(v) for k, v in (line.split("=", 1) for line in lines if "=" in line)
        }
        yield f"http://127.0.0.1:{api_port}", stack_env
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(120)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def bare_app(target: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """A baseline app under uvicorn with the dev stack's API settings (one worker, no
    access log)."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            target,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=None,  # warnings and a failed start show
    )
    try:
        wait_for_port(port, 30, "baseline app")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


def _port(url: str) -> int:
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def _median(results: list[WrkResult]) -> WrkResult:
    return WrkResult(
        statistics.median(r.requests_per_s for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.errors for r in results),
        sum(r.requests for r in results),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    def warm(url: str, headers: dict[str, str] | None = None) -> None:
        run_wrk(url, 2, args.connections, headers=headers)  # pools, caches

    with dev_stack() as (api, stack_env):
        signup = _post(f"{api}/v1/tenants", {"name": "Bench", "owner_email": "bench@example.com"})
        key = signup["api_key"]
        for i in range(20):
            _post(f"{api}/v1/companies", {"name": f"Workspace {i}"}, key)
        app_dsn = asyncpg_dsn(
            Settings(_env_file=None, database_url=stack_env["DATABASE_URL"]).app_database_url()  # type: ignore[call-arg]
        )
        auth = {"Authorization": f"Bearer {key}"}
        targets = {"api": (f"{api}/v1/companies?limit=20", auth)}
        with (
            bare_app(
                "bench.support.asyncpg_app:app",
                {"BENCH_DSN": app_dsn, "BENCH_TENANT_ID": signup["tenant_id"]},
            ) as raw,
            bare_app(
                "bench.support.fastapi_asyncpg_app:app",
                {"BENCH_DSN": app_dsn, "BENCH_TENANT_ID": signup["tenant_id"]},
            ) as floor,
            bare_app("bench.support.bare_app:app") as memory,
        ):
            targets["asyncpg"] = (f"{raw}/v1/companies", {})
            targets["fastapi"] = (f"{floor}/v1/companies?limit=20", {})
            targets["memory"] = (f"{memory}/v1/companies", {})
            pids = {name: listener_pid(_port(url)) for name, (url, _) in targets.items()}
            for url, headers in targets.values():
                warm(url, headers)
            runs: dict[str, list[WrkResult]] = {name: [] for name in targets}
            cpu = {name: 0.0 for name in targets}
            for _ in range(args.runs):
                for name, (url, headers) in targets.items():
                    before = cpu_seconds(pids[name])
                    runs[name].append(run_wrk(url, args.seconds, args.connections, headers=headers))
                    cpu[name] += cpu_seconds(pids[name]) - before
    ours, raw_pg, fast, mem = (_median(runs[n]) for n in ("api", "asyncpg", "fastapi", "memory"))
    cpu_ms = {n: 1000 * cpu[n] / max(1, sum(r.requests for r in runs[n])) for n in runs}
    errors = {name: sum(r.errors for r in results) for name, results in runs.items()}
    if any(errors.values()):
        raise SystemExit(f"non-2xx or socket errors under load: {errors}")

    # (metric, ours, baseline, unit, whether lower is better and the ratio is inverted)
    for metric, value, baseline, unit, inverted in (
        ("requests_per_s", ours.requests_per_s, raw_pg.requests_per_s, "req/s", False),
        ("latency_p50_ms", ours.p50_ms, raw_pg.p50_ms, "ms", False),
        ("latency_p99_ms", ours.p99_ms, raw_pg.p99_ms, "ms", False),
        ("requests_per_s_vs_memory", ours.requests_per_s, mem.requests_per_s, "req/s", False),
        (
            "requests_per_s_vs_fastapi_floor",
            ours.requests_per_s,
            fast.requests_per_s,
            "req/s",
            False,
        ),
        # Lower is better: the ratio is the baseline's cost over ours, comparable to the rates'.
        ("cpu_ms_per_request", cpu_ms["api"], cpu_ms["asyncpg"], "ms", True),
        ("cpu_ms_per_request_vs_fastapi_floor", cpu_ms["api"], cpu_ms["fastapi"], "ms", True),
    ):
        print(json.dumps({
            "bench": "api_list_companies",
            "metric": metric,
            "value": round(value, 2),
            "baseline": round(baseline, 2),
            "ratio": round(baseline / value if inverted else value / baseline, 3),
            "unit": unit,
        }))  # fmt: skip


if __name__ == "__main__":
    main()
