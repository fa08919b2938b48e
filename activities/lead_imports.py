"""Lead import activities: parse and load a stored CSV chunk by chunk.

`import_lead_batch` resumes where the ledger says the last committed chunk ended, parses
the next chunks in a thread (the event loop keeps heartbeating and loading the previous
chunk meanwhile) and loads each in its own transaction; after its time budget it returns,
so the workflow can record progress. A retry, or a worker killed mid-file, starts again
from the ledger: no chunk is ever counted or inserted twice.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any
from uuid import UUID

import asyncpg
import dns.exception
import dns.resolver
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.interfaces.lead_imports import (
    FINISH_LEAD_IMPORT,
    IMPORT_FILE_INVALID,
    IMPORT_LEAD_BATCH,
    REPORT_PROGRESS,
    FinishImportInput,
    FinishImportOutput,
    ImportBatchInput,
    ImportBatchOutput,
    ImportBatchProgress,
    ImportCounts,
)
from penguinmails.db import Database
from penguinmails.leads.csvfile import Header, LineSource, NotACsv, Position, read_header
from penguinmails.leads.rows import FIELD_SEPARATOR, ChunkParser, ParsedChunk
from penguinmails.models.leads import LeadImport
from penguinmails.repositories.content_parts import PART_SIZE, ContentPartsRepository
from penguinmails.repositories.lead_imports import (
    ChunkCounts,
    ConcurrentChange,
    LeadImportRepository,
    LoadPlan,
)
from penguinmails.resolver import async_resolver

# Chunks loading at once by default (LEAD_IMPORT_LOAD_CONCURRENCY), each in its own
# transaction and Postgres backend: the database's work per row outweighs the parsing, so
# two backends keep both cores of a small host busy. The parser remembers the addresses of
# as many chunks (every chunk that may still be loading when the next one starts), so
# chunks loading together never share an address; should two imports share one, one waits
# at the unique index for the other (each inserts in address order: no deadlock).
LOAD_CONCURRENCY = 2
MX_LOOKUPS_AT_ONCE = 20

log = logging.getLogger(__name__)


class MxChecker:
    """The optional MX check: a domain that does not exist, or publishes neither MX nor
    an address (RFC 5321's implicit MX), rejects its rows. A lookup that times out or
    fails at the server accepts them: the check never loses a lead to a resolver's bad day.
    Answers are cached for the batch."""

    def __init__(self, address: str | None) -> None:
        self.resolver = async_resolver(address, timeout=3.0)
        self.cache: dict[str, bool] = {}
        self.limit = asyncio.Semaphore(MX_LOOKUPS_AT_ONCE)

    async def _accepts(self, domain: str) -> bool:
        async with self.limit:
            for rdtype in ("MX", "A", "AAAA"):
                try:
                    await self.resolver.resolve(domain, rdtype)
                    return True
                except dns.resolver.NXDOMAIN:
                    return False
                except dns.resolver.NoAnswer:
                    continue
                except dns.exception.DNSException:
                    return True
            return False

    async def filter(self, chunk: ParsedChunk) -> None:
        domains = {row[3] for row in chunk.rows} - self.cache.keys()
        answers = await asyncio.gather(*(self._accepts(d) for d in domains))
        self.cache.update(zip(domains, answers, strict=True))
        kept, out = [], io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for row in chunk.rows:
            if self.cache[row[3]]:
                kept.append(row)
            else:
                fields = row[6].split(FIELD_SEPARATOR)
                writer.writerow([*fields, row[0], f"the domain {row[3]} has no MX record"])
        if len(kept) != len(chunk.rows):
            chunk.rejected += len(chunk.rows) - len(kept)
            chunk.rows = kept
            chunk.rejected_csv += out.getvalue()


class PartBlocks:
    """Byte blocks of a stored file from an offset, fetched part by part from a worker
    thread through the event loop (one part in memory at a time)."""

    def __init__(
        self, db: Database, tenant_id: UUID, key: str, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.db, self.tenant_id, self.key, self.loop = db, tenant_id, key, loop

    async def _fetch(self, n: int) -> bytes | None:
        async with self.db.tenant_session(self.tenant_id) as session:
            return await ContentPartsRepository(session).get(self.key, n)

    def from_offset(self, offset: int) -> Iterator[bytes]:
        n, skip = divmod(offset, PART_SIZE)
        while True:
            body = asyncio.run_coroutine_threadsafe(self._fetch(n), self.loop).result()
            if body is None:
                return
            yield body[skip:] if skip else body
            skip = 0
            n += 1


def load_plan(record: LeadImport, header: Header) -> LoadPlan:
    std = {f: i + 1 for i, f in header.fields.items()}  # Postgres arrays are 1-based
    custom = [
        (name, i + 1)
        for i, name in enumerate(header.columns)
        if i not in header.fields and i not in header.ignored and name
    ]
    return LoadPlan(
        tenant_id=record.tenant_id,
        import_id=record.id,
        lead_list_id=record.lead_list_id,
        on_duplicate=record.on_duplicate,
        first_name=std.get("first_name"),
        last_name=std.get("last_name"),
        company=std.get("company"),
        position=std.get("position"),
        custom_names=[name for name, _ in custom],
        custom_indexes=[i for _, i in custom],
    )


def _counts(c: ChunkCounts) -> ImportCounts:
    return ImportCounts(**asdict(c))


class LeadImportActivities:
    def __init__(
        self,
        db: Database,
        dns_resolver: str | None = None,
        load_concurrency: int = LOAD_CONCURRENCY,
    ) -> None:
        self.db = db
        self.dns_resolver = dns_resolver  # `host:port` for the optional MX check
        self.load_concurrency = load_concurrency

    @activity.defn(name=IMPORT_LEAD_BATCH)
    async def import_lead_batch(self, data: ImportBatchInput) -> ImportBatchOutput:
        tenant_id, import_id = UUID(data.tenant_id), UUID(data.import_id)
        window = self.load_concurrency
        async with self.db.tenant_session(tenant_id) as session:
            repo = LeadImportRepository(session)
            record = await repo.get(import_id)
            last = await repo.resume_point(import_id)
            # A resumed batch parses the last `window` committed chunks again (loading
            # nothing) so that its dedup window is what an uninterrupted run would have:
            # the result never depends on where batches or a killed worker cut the file.
            replay_from = max(0, last.chunk_no + 1 - window) if last is not None else 0
            before = await repo.chunk(import_id, replay_from - 1) if replay_from else None
        if record is None:
            raise ApplicationError("import not found", type=IMPORT_FILE_INVALID, non_retryable=True)
        loop = asyncio.get_running_loop()
        blocks = PartBlocks(self.db, tenant_id, record.content_storage_key, loop)
        if last is not None and last.eof:
            return await self._summary(
                tenant_id, import_id, data.next_chunk, last.chunk_no + 1, True, last.end_offset
            )

        def open_parser() -> tuple[Header, ChunkParser]:
            header, lines = read_header(blocks.from_offset(0), record.mapping or None)
            if last is None:
                return header, ChunkParser(header, lines, record.chunk_rows, window)
            start = header.body if before is None else Position(before.end_offset, before.end_line)
            parser = ChunkParser(
                header,
                LineSource(blocks.from_offset(start.offset), start),
                record.chunk_rows,
                window,
            )
            for _ in range(last.chunk_no + 1 - replay_from):
                parser.next_chunk()
            if parser.lines.position == Position(last.end_offset, last.end_line):
                return header, parser
            # Not where the ledger says (it cannot happen while chunking is deterministic):
            # resume at the recorded boundary without the window.
            log.warning("replayed chunks of import %s end elsewhere than the ledger", import_id)
            boundary = Position(last.end_offset, last.end_line)
            lines = LineSource(blocks.from_offset(boundary.offset), boundary)
            return header, ChunkParser(header, lines, record.chunk_rows, window)

        try:
            header, parser = await asyncio.to_thread(open_parser)
        except NotACsv as exc:
            raise ApplicationError(str(exc), type=IMPORT_FILE_INVALID, non_retryable=True) from None
        plan = load_plan(record, header)
        chunk_no = last.chunk_no + 1 if last is not None else 0
        started = time.monotonic()
        eof = False
        end_offset = last.end_offset if last is not None else header.body.offset
        pending: asyncio.Future[ParsedChunk] = asyncio.ensure_future(
            asyncio.to_thread(parser.next_chunk)
        )
        loads: set[asyncio.Task[None]] = set()
        mx = MxChecker(self.dns_resolver) if record.check_mx else None
        reported = started - data.progress_seconds  # the first load done reports at once
        report: asyncio.Task[None] | None = None
        try:
            while True:
                chunk = await pending
                eof = chunk.eof
                more = not eof and time.monotonic() - started < data.budget_seconds
                if more:  # parse the next chunk while this one loads
                    pending = asyncio.ensure_future(asyncio.to_thread(parser.next_chunk))
                if mx is not None:
                    await mx.filter(chunk)
                # Up to `load_concurrency` chunks load at once, each in its own transaction
                # (its own Postgres backend); the ledger keeps them independent.
                while len(loads) >= self.load_concurrency:
                    done, _ = await asyncio.wait(loads, return_when=asyncio.FIRST_COMPLETED)
                    loads -= done
                    for task in done:
                        task.result()
                    activity.heartbeat(chunk_no)
                    if time.monotonic() - reported >= data.progress_seconds and (
                        report is None or report.done()
                    ):
                        reported = time.monotonic()
                        report = asyncio.create_task(
                            self._report(tenant_id, import_id, data.next_chunk)
                        )
                loads.add(
                    asyncio.create_task(
                        self._load(plan, chunk_no, chunk, record.content_storage_key)
                    )
                )
                end_offset = chunk.end_offset
                chunk_no += 1
                if not more:
                    break
            for finishing in asyncio.as_completed(loads):
                await finishing
            loads.clear()
            activity.heartbeat(chunk_no)
        finally:
            inflight: list[asyncio.Future[Any]] = [pending, *loads]
            if report is not None:
                inflight.append(report)
            for running in inflight:
                if not running.done():
                    running.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)
        return await self._summary(tenant_id, import_id, data.next_chunk, chunk_no, eof, end_offset)

    async def _report(self, tenant_id: UUID, import_id: UUID, first_chunk: int) -> None:
        """Signal the batch's progress so far (from the ledger) to the workflow, which
        answers progress queries from it. Best effort: a report that fails is skipped."""
        try:
            async with self.db.tenant_session(tenant_id) as session:
                counts, _, offset = await LeadImportRepository(session).progress(
                    import_id, first_chunk
                )
            info = activity.info()
            if info.workflow_id is None:  # not run by a workflow: nobody to tell
                return
            handle = activity.client().get_workflow_handle(
                info.workflow_id, run_id=info.workflow_run_id
            )
            await handle.signal(
                REPORT_PROGRESS, ImportBatchProgress(first_chunk, _counts(counts), offset)
            )
        except Exception:  # progress is a courtesy; the import goes on
            log.warning("could not report the import's progress", exc_info=True)

    async def _load(self, plan: LoadPlan, chunk_no: int, chunk: ParsedChunk, key: str) -> None:
        for attempt in range(5):
            try:
                async with self.db.tenant_session(plan.tenant_id) as session:
                    await LeadImportRepository(session).load_chunk(plan, chunk_no, chunk, key)
                return
            except (ConcurrentChange, asyncpg.DeadlockDetectedError):
                # A lead this chunk found changed under it, or two imports sharing addresses
                # deadlocked: the chunk rolled back as a whole and starts again.
                if attempt == 4:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))

    async def _summary(
        self, tenant_id: UUID, import_id: UUID, first: int, next_chunk: int, eof: bool, offset: int
    ) -> ImportBatchOutput:
        async with self.db.tenant_session(tenant_id) as session:
            counts, _ = await LeadImportRepository(session).sums(import_id, first)
        return ImportBatchOutput(next_chunk, eof, _counts(counts), offset)

    @activity.defn(name=FINISH_LEAD_IMPORT)
    async def finish_lead_import(self, data: FinishImportInput) -> FinishImportOutput:
        """Idempotent: the counts are recomputed from the ledger every time."""
        tenant_id, import_id = UUID(data.tenant_id), UUID(data.import_id)
        async with self.db.tenant_session(tenant_id) as session:
            repo = LeadImportRepository(session)
            record = await repo.get(import_id)
            if record is None:
                raise ApplicationError("import not found", non_retryable=True)
            counts, _ = await repo.sums(import_id)
            status = "failed" if data.failed else "completed"
            await repo.finish(record, status, counts, data.error)
        return FinishImportOutput(status, _counts(counts))
