"""Lead import end to end, against a bare `copy_records_to_table` of the same rows.

The project's path: a generated CSV (5% invalid addresses, 5% repeated ones, extra
columns, non-ASCII names) streamed into the content store as the upload route does, then a
`LeadImportWorkflow` on a Temporal dev server with a worker running the real activities:
parsing, validation, dedup, suppression, staging table and `INSERT ... SELECT` per chunk,
the ledger. Timed from the first byte of the upload to the workflow's result; peak RSS is
the importing process's own (a separate process, so the baseline's rows in memory do not
count). Two baselines in the same run:

- the bare COPY: the file's records, already parsed and in memory, copied by
  `copy_records_to_table` into a plain table of text columns without indexes;
- the database's floor: the rows the import's parser makes of the file, staged ahead in
  temporary tables (untimed), then loaded into `leads` and `lead_list_members` of a fresh
  migrated database by the repository's own `load_staged` (the import's statements, its
  indexes, foreign keys and row-level security), as the application role in tenant
  sessions, one transaction per chunk of `--chunk-rows`, `LEAD_IMPORT_LOAD_CONCURRENCY`
  chunks at once. Only those statements are timed: what the import costs beyond them is
  parsing, staging, the ledger, the workflow and its activities.

Both rates count the file's rows (`rows_total`). Figures are medians of `--runs` runs, each
into fresh databases (peak RSS: the largest); each run's own figures go to stderr.

    python bench/import_leads.py [--rows 1000000] [--chunk-rows 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = str(Path(__file__).resolve())
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from penguinmails.leads.csvfile import Header
    from penguinmails.leads.rows import ParsedChunk

FIRST = ["Ana", "Björn", "Chloé", "Dmitri", "Émile", "Fatima", "Gökhan", "Hana", "Iñigo", "José",
         "Zoë", "Łukasz", "Søren", "Ngọc", "Mei", "Olu", "Priya", "René", "Saoirse", "Tomás"]  # fmt: skip
LAST = ["García", "Müller", "Øberg", "Nguyễn", "O'Brien", "Smith", "Dubois", "Kowalski",
        "Rossi", "Yılmaz", "Tanaka", "Silva", "Novák", "Jensen", "Popescu"]  # fmt: skip  # noqa: RUF001
CITIES = ["Paris", "Berlin", "São Paulo", "Kraków", "Zürich", "Tokyo", "Lagos", "Austin"]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Email", "First Name", "Last Name", "Company Name", "Job Title", "City",
                    "Score", "Signed Up", "Notes"])  # fmt: skip
        for i in range(rows):
            roll = rnd.random()
            if roll < 0.05:
                email = f"not-an-address-{i}"
            elif roll < 0.10 and i > 0:
                email = f"lead{(j := rnd.randrange(max(i - 5000, 0), i))}@company{j % 997}.example"
            else:
                email = f"lead{i}@company{i % 997}.example"
            w.writerow([
                email, rnd.choice(FIRST), rnd.choice(LAST), f"Company {i % 997} GmbH",
                "Head of Growth", rnd.choice(CITIES), rnd.randrange(100), "2026-01-15",
                "met at the conference; follow up" if i % 3 == 0 else "",
            ])  # fmt: skip


def _cpu_seconds(usage: resource.struct_rusage) -> float:
    return round(usage.ru_utime + usage.ru_stime, 2)


def _peak_rss_mb() -> float:
    """This process's own peak RSS. Linux's `ru_maxrss` also keeps the peak of the image
    an exec replaced (the bench's forked parent, with the floor's parsed rows in memory);
    `VmHWM` is the peak of this image alone."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _backend_cpu_seconds(pid: int) -> float:
    """CPU time of one live PostgreSQL backend (0 where /proc cannot tell)."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return 0.0
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:13]) / os.sysconf("SC_CLK_TCK")


def _server_cpu_seconds(pid: int) -> float:
    """CPU time of the PostgreSQL server: the postmaster's own and that of its exited
    children (the backends of the importing process exit when it disconnects)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round(sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK"), 2)


# --- the importing process -----------------------------------------------------------------


async def child(csv_path: Path, database_url: str, temporal: str, chunk_rows: int) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from activities.lead_imports import LeadImportActivities
    from penguinmails.db import Database
    from penguinmails.repositories.lead_imports import LeadImportRepository
    from penguinmails.repositories.lead_lists import LeadListRepository
    from penguinmails.repositories.tenants import TenantRepository
    from penguinmails.settings import Settings
    from penguinmails.temporal import data_converter
    from penguinmails.uploads import store_upload
    from workflows.lead_import import LeadImportInput, LeadImportWorkflow
    from workflows.names import LEAD_IMPORT, TaskQueue, workflow_id

    settings = Settings(
        _env_file=None, database_url=database_url, analytics_database_url=database_url
    )  # type: ignore[call-arg]
    db = Database(settings)
    client = await Client.connect(temporal, data_converter=data_converter(os.urandom(32)))
    activities = LeadImportActivities(db, load_concurrency=settings.lead_import_load_concurrency)
    worker = Worker(
        client,
        task_queue=TaskQueue.IMPORTS,
        workflows=[LeadImportWorkflow],
        activities=[activities.import_lead_batch, activities.finish_lead_import],
    )
    async with worker:
        async with db.admin_session() as session:
            tenant = await TenantRepository(session).create("bench")
        tenant_id = tenant.id
        async with db.tenant_session(tenant_id) as session:
            lead_list = await LeadListRepository(session).create(tenant_id, name="bench")

        async def pieces():  # type: ignore[no-untyped-def]
            with csv_path.open("rb") as f:
                while piece := f.read(1 << 20):
                    yield piece

        started = time.perf_counter()
        import_id = uuid.uuid4()
        key = f"imports/{import_id}"
        async with db.tenant_session(tenant_id) as session:
            stored = await store_upload(session, tenant_id, key, pieces())
            await LeadImportRepository(session).create(
                id=import_id, tenant_id=tenant_id, lead_list_id=lead_list.id,
                content_storage_key=key, size_bytes=stored.size, chunk_rows=chunk_rows,
            )  # fmt: skip
        uploaded = time.perf_counter()
        result = await client.execute_workflow(
            LeadImportWorkflow.run,
            LeadImportInput(str(tenant_id), str(import_id), stored.size),
            id=workflow_id(LEAD_IMPORT, tenant_id, import_id),
            task_queue=TaskQueue.IMPORTS,
        )
        done = time.perf_counter()
    await db.dispose()
    c = result.counts
    assert c.accepted + c.rejected + c.duplicates + c.suppressed == c.rows_total
    print(json.dumps({
        "rows_total": c.rows_total, "accepted": c.accepted, "rejected": c.rejected,
        "duplicates": c.duplicates, "seconds": done - started, "upload_seconds": uploaded - started,
        "peak_rss_mb": _peak_rss_mb(),
        "cpu_seconds": _cpu_seconds(resource.getrusage(resource.RUSAGE_SELF)),
    }))  # fmt: skip


# --- the baselines -----------------------------------------------------------------------------


def parse_chunks(csv_path: Path, chunk_rows: int, window: int) -> tuple[Header, list[ParsedChunk]]:
    """The file's chunks as the import's parser makes them (same size, same dedup window)."""
    from penguinmails.leads.csvfile import read_header
    from penguinmails.leads.rows import ChunkParser

    def blocks() -> Iterator[bytes]:
        with csv_path.open("rb") as f:
            while block := f.read(1 << 20):
                yield block

    header, lines = read_header(blocks())
    parser = ChunkParser(header, lines, chunk_rows, window)
    chunks = [parser.next_chunk()]
    while not chunks[-1].eof:
        chunks.append(parser.next_chunk())
    return header, chunks


async def db_floor(
    database_url: str, header: Header, chunks: list[ParsedChunk], concurrency: int
) -> tuple[float, int, float]:
    """Seconds the import's own load statements take over the staged chunks, the rows they
    accepted and their backends' CPU seconds: `concurrency` loaders, each with one
    connection holding every chunk in a temporary table staged before the clock starts; the
    next chunk goes to the first loader free, as in the import, one tenant transaction each."""
    from sqlalchemy import text

    from activities.lead_imports import load_plan
    from penguinmails.db import Database
    from penguinmails.repositories.lead_imports import LeadImportRepository
    from penguinmails.repositories.lead_lists import LeadListRepository
    from penguinmails.repositories.tenants import TenantRepository
    from penguinmails.settings import Settings

    # A pool of one: a loader's tenant sessions, one after another, get the connection
    # holding its staged tables (on another connection a load would find no table, and fail).
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        analytics_database_url=database_url,
        database_pool_size=1,
    )  # type: ignore[call-arg]
    loaders = [Database(settings) for _ in range(concurrency)]
    try:
        async with loaders[0].admin_session() as session:
            tenant_id = (await TenantRepository(session).create("bench")).id
        async with loaders[0].tenant_session(tenant_id) as session:
            lead_list = await LeadListRepository(session).create(tenant_id, name="bench")
            record = await LeadImportRepository(session).create(
                id=uuid.uuid4(), tenant_id=tenant_id, lead_list_id=lead_list.id,
                content_storage_key=f"imports/{uuid.uuid4()}", size_bytes=0,
            )  # fmt: skip
        plan = load_plan(record, header)
        numbers = [n for n, chunk in enumerate(chunks) if chunk.rows]  # as `load_chunk` skips
        backends: list[int] = []
        for loader in loaders:
            async with loader.tenant_session(tenant_id) as session:
                pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                backends.append(int(pid))
                for n in numbers:
                    await LeadImportRepository(session).stage(
                        chunks[n].rows, f"bench_staged_{n}", until_commit=False
                    )
        accepted = [0] * len(chunks)
        queue = iter(numbers)

        async def load(loader: Database) -> None:
            for n in queue:  # shared: the loader that is free takes the next chunk
                async with loader.tenant_session(tenant_id) as session:
                    suppressed, in_file, _ = await LeadImportRepository(session).load_staged(
                        plan, len(chunks[n].rows), f"bench_staged_{n}"
                    )
                accepted[n] = len(chunks[n].rows) - suppressed - in_file

        cpu = sum(_backend_cpu_seconds(pid) for pid in backends)
        started = time.perf_counter()
        await asyncio.gather(*(load(loader) for loader in loaders))
        seconds = time.perf_counter() - started
        cpu = sum(_backend_cpu_seconds(pid) for pid in backends) - cpu
        return seconds, sum(accepted), round(cpu, 2)
    finally:
        for loader in loaders:
            await loader.dispose()


async def baseline(csv_path: Path, admin_url: str, runs: int = 3) -> float:
    """Rows per second of a bare `copy_records_to_table` of the file's records (already
    parsed, in memory) into a plain table of as many text columns, no index (median)."""
    import asyncpg

    from penguinmails.settings import asyncpg_dsn

    with csv_path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        records = [tuple(fields) for fields in reader]
    columns = ", ".join(f"c{i} text" for i in range(len(header)))
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    rates = []
    try:
        for _ in range(runs):
            await conn.execute("DROP TABLE IF EXISTS bench_plain")
            await conn.execute(f"CREATE TABLE bench_plain ({columns})")
            started = time.perf_counter()
            await conn.copy_records_to_table("bench_plain", records=records)
            rates.append(len(records) / (time.perf_counter() - started))
        await conn.execute("DROP TABLE bench_plain")
    finally:
        await conn.close()
    return statistics.median(rates)


def csv_parse_rate(csv_path: Path, runs: int = 3) -> float:
    """Rows per second of Python's csv module alone over the file (median): how heavy these
    rows are next to other files and machines."""
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        with csv_path.open(encoding="utf-8", newline="") as f:
            rows = sum(1 for _ in csv.reader(f)) - 1
        rates.append(rows / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("CSV", "DATABASE_URL", "TEMPORAL"))
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(Path(args.child[0]), args.child[1], args.child[2], args.chunk_rows))
        return 0

    from temporalio.testing import WorkflowEnvironment

    from devstack.binaries import temporal_binary
    from devstack.ports import free_port
    from devstack.postgres import create_database, start_postgres
    from penguinmails import migrate
    from penguinmails.settings import Settings

    # Only the figures go to stdout: the servers started here inherit stderr as theirs.
    stdout = os.dup(1)
    os.dup2(2, 1)
    root = Path(tempfile.mkdtemp(prefix="pm-bench-import-"))
    root.chmod(0o755)  # the embedded Postgres runs as another user
    server = start_postgres(root / "pgdata", free_port())
    try:
        admin = server.url("postgres")
        csv_path = root / "leads.csv"
        generate(csv_path, args.rows)

        def create_databases(run: int, kind: str) -> tuple[str, str]:
            names = (f"pm_bench_{kind}_{run}", f"pm_bench_{kind}_{run}_analytics")
            for name in names:
                create_database(admin, name)
            return server.url(names[0]), server.url(names[1])

        async def run_child(url: str) -> dict[str, float]:
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=str(temporal_binary()),
                ui=False,
                dev_server_log_level="error",
            )
            try:
                target = env.client.service_client.config.target_host
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, SCRIPT, "--chunk-rows", str(args.chunk_rows),
                    "--child", str(csv_path), url, target,
                    stdout=subprocess.PIPE, cwd=ROOT,
                )  # fmt: skip
                out, _ = await proc.communicate()
                if proc.returncode:
                    raise SystemExit(f"the import process failed ({proc.returncode})")
                result: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
                return result
            finally:
                await env.shutdown()

        from devstack.postgres import postmaster_pid

        def migrated(run: int, kind: str) -> str:
            url, analytics = create_databases(run, kind)
            settings = Settings(_env_file=None, database_url=url, analytics_database_url=analytics)  # type: ignore[call-arg]
            migrate.upgrade(settings)
            return url

        # The loaders' concurrency as a worker would read it (LEAD_IMPORT_LOAD_CONCURRENCY).
        concurrency = Settings(_env_file=None).lead_import_load_concurrency  # type: ignore[call-arg]
        header, chunks = parse_chunks(csv_path, args.chunk_rows, concurrency)
        pid = postmaster_pid(server.pgdata)
        results = []
        for run in range(args.runs):  # each into fresh, freshly migrated databases
            url = migrated(run, "import")
            before = _server_cpu_seconds(pid) if pid else 0.0
            result = asyncio.run(run_child(url))
            if pid:
                result["server_cpu_seconds"] = round(_server_cpu_seconds(pid) - before, 2)
            result["rows_per_s"] = round(result["rows_total"] / result["seconds"], 1)
            floor_seconds, floor_accepted, floor_cpu = asyncio.run(
                db_floor(migrated(run, "floor"), header, chunks, concurrency)
            )
            if floor_accepted != result["accepted"]:
                raise SystemExit(
                    f"the floor accepted {floor_accepted} rows, the import {result['accepted']}"
                )
            result["floor_seconds"] = round(floor_seconds, 2)
            result["floor_server_cpu_seconds"] = floor_cpu
            result["floor_rows_per_s"] = round(result["rows_total"] / floor_seconds, 1)
            result["ratio_vs_floor"] = round(result["rows_per_s"] / result["floor_rows_per_s"], 3)
            print(json.dumps(result), file=sys.stderr)
            results.append(result)
        copy_rate = asyncio.run(baseline(csv_path, url))
        csv_rate = csv_parse_rate(csv_path)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)

    os.dup2(stdout, 1)
    rate = statistics.median(r["rows_per_s"] for r in results)
    floor_rate = statistics.median(r["floor_rows_per_s"] for r in results)
    peak = max(r["peak_rss_mb"] for r in results)
    for line in (
        {"bench": "import_leads", "metric": "rows_per_s", "value": round(rate, 1),
         "baseline": round(copy_rate, 1), "ratio": round(rate / copy_rate, 3), "unit": "rows/s"},
        {"bench": "import_leads", "metric": "rows_per_s_vs_db_floor", "value": round(rate, 1),
         "baseline": round(floor_rate, 1), "ratio": round(rate / floor_rate, 3),
         "unit": "rows/s"},
        {"bench": "import_leads", "metric": "peak_rss_mb", "value": round(peak, 1),
         "unit": "MB"},
        {"bench": "import_leads", "metric": "csv_parse_rows_per_s", "value": round(csv_rate, 1),
         "unit": "rows/s"},
    ):  # fmt: skip
        print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
