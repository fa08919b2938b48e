"""The chunk load against a real database: two imports of one tenant sharing addresses."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import asyncpg
import pytest
from sqlalchemy import text

from activities.lead_imports import load_plan
from penguinmails.db import Database
from penguinmails.leads.csvfile import blocks_of, read_header
from penguinmails.leads.rows import ChunkParser, ParsedChunk
from penguinmails.repositories.lead_imports import ChunkCounts, LeadImportRepository, LoadPlan
from penguinmails.repositories.lead_lists import LeadListRepository
from penguinmails.repositories.tenants import TenantRepository


async def _import(
    db: Database, tenant_id: UUID, csv: str, chunk_rows: int = 1000
) -> tuple[LoadPlan, ParsedChunk]:
    """A list and an import record for `csv`, and its first parsed chunk."""
    plan, chunks = await _import_chunks(db, tenant_id, csv, chunk_rows)
    return plan, chunks[0]


async def _import_chunks(
    db: Database, tenant_id: UUID, csv: str, chunk_rows: int
) -> tuple[LoadPlan, list[ParsedChunk]]:
    async with db.tenant_session(tenant_id) as session:
        lead_list = await LeadListRepository(session).create(tenant_id, name=f"l-{uuid4()}")
        record = await LeadImportRepository(session).create(
            id=uuid4(),
            tenant_id=tenant_id,
            lead_list_id=lead_list.id,
            content_storage_key=f"imports/{uuid4()}",
            size_bytes=len(csv),
            chunk_rows=1000,
        )
    header, lines = read_header(blocks_of(csv.encode()))
    parser = ChunkParser(header, lines, chunk_rows)
    chunks = [parser.next_chunk()]
    while not chunks[-1].eof:
        chunks.append(parser.next_chunk())
    return load_plan(record, header), chunks


async def _members(db: Database, tenant_id: UUID, plan: LoadPlan) -> set[str]:
    async with db.tenant_session(tenant_id) as session:
        rows = await session.execute(
            text(
                "SELECT l.email FROM lead_list_members m JOIN leads l ON l.id = m.lead_id "
                "WHERE m.lead_list_id = :list"
            ),
            {"list": plan.lead_list_id},
        )
        return {r[0] for r in rows}


async def test_an_import_waits_for_a_concurrent_one_and_adds_its_leads(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    async with db.admin_session() as session:
        tenant_id = (await TenantRepository(session).create(f"t-{uuid4()}")).id
    first, first_chunk = await _import(db, tenant_id, "email\na@x.com\nshared@x.com\n")
    second, second_chunk = await _import(db, tenant_id, "email\nshared@x.com\nb@x.com\n")

    async def load_second() -> ChunkCounts | None:
        async with db.tenant_session(tenant_id) as session:
            return await LeadImportRepository(session).load_chunk(second, 0, second_chunk, "k2")

    async with db.tenant_session(tenant_id) as session:
        counts = await LeadImportRepository(session).load_chunk(first, 0, first_chunk, "k1")
        assert counts == ChunkCounts(rows_total=2, accepted=2)
        # Not committed yet: the second import's insert of the shared address waits for it,
        # seen by the server as a backend waiting on a lock.
        waiting = asyncio.ensure_future(load_second())
        for _ in range(200):
            if await admin_conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'WITH ins AS (INSERT INTO leads%'"
            ):
                break
            assert not waiting.done(), "the second load did not wait for the first"
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the second load never waited on a lock")
        assert not waiting.done()
    second_counts = await asyncio.wait_for(waiting, 10)

    # The second import found the shared lead, committed meanwhile, and listed it.
    assert second_counts == ChunkCounts(rows_total=2, accepted=2, existing=1)
    assert await _members(db, tenant_id, first) == {"a@x.com", "shared@x.com"}
    assert await _members(db, tenant_id, second) == {"shared@x.com", "b@x.com"}
    async with db.tenant_session(tenant_id) as session:
        emails = (await session.execute(text("SELECT email FROM leads"))).scalars().all()
    assert sorted(emails) == ["a@x.com", "b@x.com", "shared@x.com"]


async def test_a_chunk_loaded_twice_is_counted_once(db: Database) -> None:
    async with db.admin_session() as session:
        tenant_id = (await TenantRepository(session).create(f"t-{uuid4()}")).id
    plan, chunk = await _import(db, tenant_id, "email\nc@x.com\nd@x.com\n")
    for expected in (ChunkCounts(rows_total=2, accepted=2), None):
        async with db.tenant_session(tenant_id) as session:
            assert await LeadImportRepository(session).load_chunk(plan, 0, chunk, "k") == expected
    assert await _members(db, tenant_id, plan) == {"c@x.com", "d@x.com"}


async def test_known_addresses_are_suppressed_listed_or_duplicates(db: Database) -> None:
    async with db.admin_session() as session:
        tenant_id = (await TenantRepository(session).create(f"t-{uuid4()}")).id
    plan, chunk = await _import(db, tenant_id, "email\nbounced@x.com\nkept@x.com\n")
    async with db.tenant_session(tenant_id) as session:
        await LeadImportRepository(session).load_chunk(plan, 0, chunk, "k1")
        await session.execute(
            text("UPDATE leads SET status = 'bounced' WHERE email = 'bounced@x.com'")
        )

    # Chunks of two rows; no parser window, so the repeat of kept@ in the second chunk is
    # found by the database.
    csv = "email\nBounced@x.com\nkept@x.com\nnew@x.com\nkept@x.com\n"
    plan, chunks = await _import_chunks(db, tenant_id, csv, chunk_rows=2)
    counts = []
    for n, chunk in enumerate(chunks):
        async with db.tenant_session(tenant_id) as session:
            counts.append(await LeadImportRepository(session).load_chunk(plan, n, chunk, "k2"))
    assert counts[0] == ChunkCounts(rows_total=2, accepted=1, suppressed=1, existing=1)
    assert counts[1] == ChunkCounts(rows_total=2, accepted=1, duplicates=1)
    assert await _members(db, tenant_id, plan) == {"kept@x.com", "new@x.com"}


async def test_chunks_staged_ahead_load_from_their_own_tables(db: Database) -> None:
    async with db.admin_session() as session:
        tenant_id = (await TenantRepository(session).create(f"t-{uuid4()}")).id
    # No parser window: the repeat of a@ in the second chunk is found by the database.
    csv = "email\na@x.com\nb@x.com\nA@x.com\nc@x.com\n"
    plan, chunks = await _import_chunks(db, tenant_id, csv, chunk_rows=2)
    async with db.tenant_session(tenant_id) as session:
        repo = LeadImportRepository(session)
        with pytest.raises(ValueError, match="not a staging table name"):
            await repo.stage(chunks[0].rows, "staged; DROP TABLE leads")
        for n, chunk in enumerate(chunks):
            await repo.stage(chunk.rows, f"staged_{n}", until_commit=False)
        counts = [
            await repo.load_staged(plan, len(chunk.rows), f"staged_{n}")
            for n, chunk in enumerate(chunks)
        ]
        # Kept past the transaction (with the connection): dropped here, not left to a
        # later test on the same pooled connection.
        await session.execute(text("DROP TABLE staged_0, staged_1, staged_2"))
    # (suppressed, repeats of this import, existing); the third chunk is the file's end.
    assert counts == [(0, 0, 0), (0, 1, 0), (0, 0, 0)]
    assert await _members(db, tenant_id, plan) == {"a@x.com", "b@x.com", "c@x.com"}
