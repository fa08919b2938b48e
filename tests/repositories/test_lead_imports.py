"""The chunk load against a real database: two imports of one tenant sharing addresses."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

from sqlalchemy import text

from activities.lead_imports import load_plan
from penguinmails.db import Database
from penguinmails.leads.csvfile import blocks_of, read_header
from penguinmails.leads.rows import ChunkParser, ParsedChunk
from penguinmails.repositories.lead_imports import ChunkCounts, LeadImportRepository, LoadPlan
from penguinmails.repositories.lead_lists import LeadListRepository
from penguinmails.repositories.tenants import TenantRepository


async def _import(db: Database, tenant_id: UUID, csv: str) -> tuple[LoadPlan, ParsedChunk]:
    """A list and an import record for `csv`, and its one parsed chunk."""
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
    chunk = ChunkParser(header, lines, 1000).next_chunk()
    return load_plan(record, header), chunk


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


async def test_an_import_waits_for_a_concurrent_one_and_adds_its_leads(db: Database) -> None:
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
        # Not committed yet: the second import's insert of the shared address waits.
        waiting = asyncio.ensure_future(load_second())
        await asyncio.sleep(0.5)
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
