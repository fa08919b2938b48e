"""Lead imports: the import record, the per-chunk ledger and the chunk load itself.

A chunk is loaded in one tenant transaction: its ledger row first (the unique key makes a
second attempt at the same chunk wait for the first and then find it done), then
`copy_records_to_table` into a temporary staging table (COPY cannot write into a table
under row-level security), then set-based statements into `leads` and
`lead_list_members`, the rejected rows into the content store, and the counts into the
ledger row. Nothing of a chunk exists until that transaction commits.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.leads.emails import ROLE_LOCAL_PARTS
from penguinmails.leads.rows import FIELD_SEPARATOR, STAGING_COLUMNS, ParsedChunk, StagingRow
from penguinmails.models.base import utcnow
from penguinmails.models.leads import LeadImport, LeadImportChunk
from penguinmails.repositories.content_parts import ContentPartsRepository
from penguinmails.repositories.plan_limits import PlanLimitRepository

COUNTS = ("rows_total", "accepted", "rejected", "duplicates", "suppressed", "existing")
SUPPRESSED_STATUSES = ("bounced", "unsubscribed", "complained", "erased")
STAGING = "pm_lead_import_staging"
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _split(table: str) -> str:
    """The staged rows with their CSV fields as an array `f` (sent joined: see
    FIELD_SEPARATOR)."""
    return f"(SELECT *, string_to_array(fields, E'\\x1f') AS f FROM {table})"  # noqa: S608 — the table name passed _staging_name (a plain identifier)


def _staging_name(table: str) -> str:
    # Inlined into statements: only a plain lower-case identifier is accepted.
    if not _IDENTIFIER.fullmatch(table):
        raise ValueError(f"not a staging table name: {table!r}")
    return table


def _lead_id_sql(line: str, prefix: int, counter: int) -> str:
    """A new lead's id, a version-7 UUID (RFC 9562, method 1: a counter in the random
    bits): the chunk's 8-byte prefix (milliseconds since the epoch, version, 12 random
    bits; query parameter `prefix`) then the variant and the chunk's random 62-bit start
    (parameter `counter`) plus the row's line. Time-ordered, so a bulk load appends to the
    right edge of the key indexes; a fraction of the cost of a random UUID per row."""
    return (
        f"encode(${prefix}::bytea || int8send(((${counter}::bigint + {line}) "
        "& 4611686018427387903) | -9223372036854775808), 'hex')::uuid"
    )


def _id_parameters() -> tuple[bytes, int]:
    millis = time.time_ns() // 1_000_000
    prefix = (millis << 16 | 0x7000 | secrets.randbits(12)).to_bytes(8, "big")
    return prefix, secrets.randbits(61)  # room left for the lines of any file


class ConcurrentChange(Exception):
    """A lead that stopped one of this chunk's inserts was deleted or changed before the
    chunk could list it: the chunk rolls back and its retry starts again."""


@dataclass(frozen=True)
class ChunkCounts:
    rows_total: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    suppressed: int = 0
    existing: int = 0

    def __add__(self, other: ChunkCounts) -> ChunkCounts:
        return ChunkCounts(*(getattr(self, c) + getattr(other, c) for c in COUNTS))


@dataclass(frozen=True)
class LoadPlan:
    """Where the database finds the standard fields in a staged row (1-based array indexes
    into `fields`; None: no such column) and the custom columns."""

    tenant_id: UUID
    import_id: UUID
    lead_list_id: UUID
    on_duplicate: str
    first_name: int | None
    last_name: int | None
    company: int | None
    position: int | None
    custom_names: list[str]
    custom_indexes: list[int]


def rejected_key(import_key: str) -> str:
    return f"{import_key}.rejected"


class LeadImportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, **fields: Any) -> LeadImport:
        record = LeadImport(**fields)
        self.session.add(record)
        await self.session.flush()
        return record

    async def get(self, import_id: UUID) -> LeadImport | None:
        return await self.session.get(LeadImport, import_id)

    async def resume_point(self, import_id: UUID) -> LeadImportChunk | None:
        """The last chunk of the unbroken run of committed chunks from 0 (chunks load
        concurrently, so a later one may be committed past a gap): an import resumes after
        it, and chunks committed beyond the gap are found in the ledger and skipped."""
        result = await self.session.exec(
            select(LeadImportChunk)
            .where(LeadImportChunk.import_id == import_id)
            .order_by(LeadImportChunk.chunk_no)  # type: ignore[arg-type]
        )
        last = None
        for expected, chunk in enumerate(result.all()):
            if chunk.chunk_no != expected:
                break
            last = chunk
        return last

    async def chunk(self, import_id: UUID, chunk_no: int) -> LeadImportChunk | None:
        result = await self.session.exec(
            select(LeadImportChunk).where(
                LeadImportChunk.import_id == import_id, LeadImportChunk.chunk_no == chunk_no
            )
        )
        return result.first()

    async def sums(self, import_id: UUID, first_chunk: int = 0) -> tuple[ChunkCounts, int]:
        """Counts of the committed chunks from `first_chunk` on, and how many there are."""
        counts, chunks, _ = await self.progress(import_id, first_chunk)
        return counts, chunks

    async def progress(self, import_id: UUID, first_chunk: int = 0) -> tuple[ChunkCounts, int, int]:
        """`sums`, and the furthest byte a committed chunk from `first_chunk` on reached
        (0 when there is none)."""
        cols = ", ".join(f"COALESCE(SUM({c}), 0)" for c in COUNTS)
        row = (
            await self.session.execute(
                text(
                    f"SELECT {cols}, count(*), COALESCE(max(end_offset), 0) "  # noqa: S608 — COUNTS is a module constant
                    "FROM lead_import_chunks WHERE import_id = :import_id AND chunk_no >= :first"
                ),
                {"import_id": import_id, "first": first_chunk},
            )
        ).one()
        return ChunkCounts(*(int(v) for v in row[:6])), int(row[6]), int(row[7])

    async def finish(
        self, record: LeadImport, status: str, counts: ChunkCounts, error: str | None = None
    ) -> LeadImport:
        for c in COUNTS:
            setattr(record, c, getattr(counts, c))
        record.status = status
        record.error = error
        record.updated = record.completed = utcnow()
        self.session.add(record)
        await self.session.execute(
            text(
                "UPDATE lead_lists SET status = 'ready', updated = now(), row_count = "
                "(SELECT count(*) FROM lead_list_members m WHERE m.lead_list_id = :list_id) "
                "WHERE id = :list_id"
            ),
            {"list_id": record.lead_list_id},
        )
        await self.session.flush()
        return record

    async def load_chunk(
        self, plan: LoadPlan, chunk_no: int, chunk: ParsedChunk, import_key: str
    ) -> ChunkCounts | None:
        """Load one parsed chunk; None when this chunk was committed already."""
        conn = await _asyncpg(self.session)
        ledger_id = await conn.fetchval(
            "INSERT INTO lead_import_chunks (tenant_id, import_id, chunk_no, first_line, "
            "end_line, end_offset, eof) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT ON CONSTRAINT uq_lead_import_chunks_import_chunk DO NOTHING "
            "RETURNING id",
            plan.tenant_id,
            plan.import_id,
            chunk_no,
            chunk.first_line,
            chunk.end_line,
            chunk.end_offset,
            chunk.eof,
        )
        if ledger_id is None:
            return None
        chunk = await self._within_plan(plan, chunk)
        suppressed = in_file = existing = 0
        if chunk.rows:
            await self.stage(chunk.rows)
            suppressed, in_file, existing = await self.load_staged(plan, len(chunk.rows))
        if chunk.rejected_csv:
            await ContentPartsRepository(self.session).put(
                plan.tenant_id, rejected_key(import_key), chunk_no, chunk.rejected_csv.encode()
            )
        counts = ChunkCounts(
            rows_total=chunk.rows_total,
            accepted=len(chunk.rows) - suppressed - in_file,
            rejected=chunk.rejected,
            duplicates=chunk.duplicates + in_file,
            suppressed=suppressed,
            existing=existing,
        )
        await conn.execute(
            "UPDATE lead_import_chunks SET rows_total = $2, accepted = $3, rejected = $4, "
            "duplicates = $5, suppressed = $6, existing = $7 WHERE id = $1",
            ledger_id,
            *(getattr(counts, c) for c in COUNTS),
        )
        return counts

    async def stage(
        self, rows: Sequence[StagingRow], table: str = STAGING, until_commit: bool = True
    ) -> None:
        """COPY `rows` into a new temporary staging table (COPY cannot write into a table
        under row-level security). It goes at commit, or with the connection when not
        `until_commit` (rows staged ahead of their loads, as the load benchmark does)."""
        conn = await _asyncpg(self.session)
        table = _staging_name(table)
        await conn.execute(
            f"CREATE TEMP TABLE {table} ("
            "line bigint, email text, email_key text, domain text, timezone text, "
            "disposable boolean, fields text, lead_id uuid, lead_status text, "
            "member_import uuid, suppressed boolean NOT NULL DEFAULT false)"
            + (" ON COMMIT DROP" if until_commit else "")
        )
        await conn.copy_records_to_table(table, records=rows, columns=STAGING_COLUMNS)

    async def _within_plan(self, plan: LoadPlan, chunk: ParsedChunk) -> ParsedChunk:
        """The chunk's rows up to the plan's active-lead limit; the rest rejected with the
        reason in rejected.csv. The limit's lock is held until the chunk commits, so two
        chunks (or imports) never both take the same room. A row whose address the tenant
        has already counts here too: the limit errs on refusing, never on passing."""
        if not chunk.rows:
            return chunk
        room = await PlanLimitRepository(self.session, plan.tenant_id).room("active_leads")
        if room is None or len(chunk.rows) <= room:
            return chunk
        allowed = await PlanLimitRepository(self.session, plan.tenant_id).allowed("active_leads")
        reason = f"plan_limit: the plan allows {allowed} active leads"
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for row in chunk.rows[room:]:
            writer.writerow([*row[6].split(FIELD_SEPARATOR), row[0], reason])
        # A copy: a chunk retried after a conflict starts again from the parsed rows.
        return replace(
            chunk,
            rows=chunk.rows[:room],
            rejected=chunk.rejected + len(chunk.rows) - room,
            rejected_csv=chunk.rejected_csv + out.getvalue(),
        )

    async def load_staged(
        self, plan: LoadPlan, staged: int, table: str = STAGING
    ) -> tuple[int, int, int]:
        """Load the `staged` rows of `table`: insert what is new in one statement; only the
        rows whose address the tenant has already (usually few) take the slower path after
        it. Returns how many were suppressed, repeats of this import and existing leads."""
        conn = await _asyncpg(self.session)
        t, lst, imp = plan.tenant_id, plan.lead_list_id, plan.import_id
        table = _staging_name(table)
        split = _split(table)
        # Suppressed addresses and domains are never (re)activated: marked, not inserted.
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM suppressions WHERE tenant_id = $1)", t
        ):
            await conn.execute(
                f"UPDATE {table} s SET suppressed = true FROM suppressions x "  # noqa: S608 — the staging table's name passed _staging_name (a plain identifier)
                "WHERE x.tenant_id = $1 AND x.kind = 'address' "
                "AND x.value = encode(sha256(convert_to(s.email_key, 'UTF8')), 'hex')",
                t,
            )
            await conn.execute(
                f"UPDATE {table} s SET suppressed = true FROM suppressions x "  # noqa: S608 — the staging table's name passed _staging_name (a plain identifier)
                "WHERE x.tenant_id = $1 AND x.kind = 'domain' AND x.value = s.domain "
                "AND NOT s.suppressed",
                t,
            )
        std = [plan.first_name, plan.last_name, plan.company, plan.position]
        field = [f"NULLIF(btrim(s.f[{i}]), '')" if i else "NULL::text" for i in std]
        custom = _custom_fields_sql(plan.custom_indexes, names_param=4)
        new_id = _lead_id_sql("s.line", 6, 7)
        # New addresses: leads and memberships in one statement. An address the tenant has
        # (or a concurrent import has just committed) is left to the unique index: ON
        # CONFLICT DO NOTHING, and the statement returns the lines it did not insert.
        row = await conn.fetchrow(
            "WITH ins AS (INSERT INTO leads (id, tenant_id, email, first_name, last_name, "  # noqa: S608 — the staging table's name passed _staging_name (a plain identifier)
            "company, position, timezone, custom_fields, role_account, disposable_domain) "
            f"SELECT {new_id}, $1, s.email, {', '.join(field)}, s.timezone, {custom}, "
            "split_part(split_part(s.email_key, '@', 1), '+', 1) = ANY($5::text[]), "
            f's.disposable FROM {split} s WHERE NOT s.suppressed ORDER BY s.email_key COLLATE "C" '
            "ON CONFLICT (tenant_id, email_key) WHERE deleted IS NULL DO NOTHING "
            "RETURNING id), "
            "mem AS (INSERT INTO lead_list_members (tenant_id, lead_list_id, lead_id, import_id) "
            "SELECT $1, $2, id, $3 FROM ins) "
            f"SELECT (SELECT count(*) FROM ins) AS inserted, (SELECT array_agg(s.line) FROM {table} s "
            f"WHERE NOT s.suppressed AND {new_id} NOT IN (SELECT id FROM ins)) AS rest",
            t,
            lst,
            imp,
            plan.custom_names,
            sorted(ROLE_LOCAL_PARTS),
            *_id_parameters(),
        )
        rest: list[int] = row["rest"] or []
        if not rest:  # every staged row was inserted or is suppressed
            return staged - int(row["inserted"]), 0, 0
        await self._load_known(conn, plan, rest, field, custom, table)
        counts = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE suppressed) AS suppressed, "  # noqa: S608 — the staging table's name passed _staging_name (a plain identifier)
            "count(*) FILTER (WHERE NOT suppressed AND member_import = $1) AS in_file, "
            "count(*) FILTER (WHERE NOT suppressed AND member_import IS DISTINCT FROM $1 "
            f"AND lead_id IS NOT NULL) AS existing FROM {table}",
            imp,
        )
        return int(counts["suppressed"]), int(counts["in_file"]), int(counts["existing"])

    async def _load_known(
        self,
        conn: Any,
        plan: LoadPlan,
        lines: list[int],
        field: list[str],
        custom: str,
        table: str,
    ) -> None:
        """The staged `lines` whose address has a live lead already: a duplicate when this
        import put it into the list before, suppressed when its status says so, otherwise
        added to the list (and updated when the import says `update`)."""
        t, lst, imp = plan.tenant_id, plan.lead_list_id, plan.import_id
        # Correlated subqueries: one index probe per line, whatever the planner thinks of
        # the staging table's size.
        await conn.execute(
            f"UPDATE {table} s SET (lead_id, lead_status) = (SELECT l.id, l.status FROM leads l "  # noqa: S608 — the staging table's name passed _staging_name (a plain identifier)
            "WHERE l.tenant_id = $1 AND l.email_key = lower(s.email) AND l.deleted IS NULL) "
            "WHERE s.line = ANY($2::bigint[])",
            t,
            lines,
        )
        found = await conn.execute(
            f"UPDATE {table} s SET suppressed = s.lead_status = ANY($4::text[]), "  # noqa: S608 — the staging table's name passed _staging_name (a plain identifier)
            "member_import = (SELECT m.import_id FROM lead_list_members m WHERE m.tenant_id = $1 "
            "AND m.lead_list_id = $2 AND m.lead_id = s.lead_id) "
            "WHERE s.line = ANY($3::bigint[]) AND s.lead_id IS NOT NULL",
            t,
            lst,
            lines,
            list(SUPPRESSED_STATUSES),
        )
        if int(found.rsplit(" ", 1)[1]) != len(lines):
            raise ConcurrentChange("a lead of this chunk changed while it loaded")
        if plan.on_duplicate == "update":
            sets = ", ".join(
                f"{name} = COALESCE({expr}, l.{name})"
                for name, expr in zip(
                    ("first_name", "last_name", "company", "position"), field, strict=True
                )
            )
            await conn.execute(
                f"UPDATE leads l SET {sets}, timezone = COALESCE(s.timezone, l.timezone), "  # noqa: S608 — column names of the plan and integer array indexes; the table name passed _staging_name
                f"custom_fields = l.custom_fields || {custom}, updated = now() "
                f"FROM {_split(table)} s WHERE s.line = ANY($2::bigint[]) AND l.tenant_id = $1 "
                "AND l.id = s.lead_id AND NOT s.suppressed "
                "AND s.member_import IS DISTINCT FROM $3",
                t,
                lines,
                imp,
                plan.custom_names,
            )
        await conn.execute(
            "INSERT INTO lead_list_members (tenant_id, lead_list_id, lead_id, import_id) "  # noqa: S608 — the staging table's name passed _staging_name (a plain identifier)
            f"SELECT $1, $2, s.lead_id, $3 FROM {table} s WHERE s.line = ANY($4::bigint[]) "
            "AND NOT s.suppressed AND s.member_import IS DISTINCT FROM $3 "
            "ON CONFLICT (tenant_id, lead_list_id, lead_id) "
            "DO UPDATE SET import_id = EXCLUDED.import_id",
            t,
            lst,
            imp,
            lines,
        )


def _custom_fields_sql(indexes: list[int], names_param: int) -> str:
    """`custom_fields` from the staged fields `f`: `jsonb_object` of the names (one text[]
    query parameter) and the trimmed values (NULL when empty, then stripped). Half the cost
    of `jsonb_build_object` per row. The array indexes are integers of the plan, inlined."""
    values = ", ".join(f"NULLIF(btrim(s.f[{int(i)}]), '')" for i in indexes)
    return f"jsonb_strip_nulls(jsonb_object(${names_param}::text[], ARRAY[{values}]::text[]))"


async def _asyncpg(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's transaction (COPY and prepared
    statements with array parameters)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection
